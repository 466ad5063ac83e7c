"""`meltano state get` and `meltano run --full-refresh` with tap-mindzpay -> target-duckdb.

Three runs of one pipeline (state ID `prod:tap-mindzpay-to-target-duckdb:state`) on a private
frozen world:

1. a first run (no state yet): `meltano state list` / `state get` then show one id bookmark per
   account (partition context `account_key`) for each child stream;
2. an hour of simulated time, then `meltano run --full-refresh`: the saved state is ignored, so
   every list is paged from the start again (at least ceil(records / page size) list requests
   per account) and every live record's row is rewritten (`_sdc_extracted_at` newer than anything
   the first run wrote), and the tables still equal the truth (ids, statuses, amounts);
3. a plain run right after (the world did not move): it starts from the state the full refresh
   saved, so it rewrites only what it refreshes or sweeps, far from every row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from helpers import TRUTH_STREAMS, SandboxProcess
from helpers.meltano import MELTANO_WORKER, IsolatedMeltano, Pipeline, Round, run_round
from helpers.services import require_loader
from helpers.streams import ACCOUNT_STREAMS
from helpers.warehouse import Tables, duckdb_target_env, read_duckdb

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

pytestmark = [pytest.mark.e2e, MELTANO_WORKER]

SCHEMA = "mindzpay_state"
PIPELINE = Pipeline("target-duckdb", suffix="state")
PAGE_SIZE = 100  # the tap's default page_size (meltano.yml)
LIST_ENDPOINTS = {
    "invoices": "GET /mindzpay/accounts/{account_key}/invoices",
    "payments": "GET /mindzpay/accounts/{account_key}/payments",
}


@dataclass
class Runs:
    """The three rounds, the state IDs listed after the first, and each row's extraction time."""

    first: Round
    full_refresh: Round
    plain: Round
    state_ids: list[str]
    extracted: list[dict[str, dict[Any, datetime]]] = field(default_factory=list)


def _extracted_at(path: Path) -> dict[str, dict[Any, datetime]]:
    import duckdb  # noqa: PLC0415 - only this test reads the metadata column

    with duckdb.connect(str(path), read_only=True) as connection:
        return {
            stream: dict(
                connection.execute(
                    f'SELECT id, _sdc_extracted_at FROM {SCHEMA}."{stream}"'  # noqa: S608 - fixed names
                ).fetchall()
            )
            for stream in TRUTH_STREAMS
        }


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    require_loader("target-duckdb")
    workdir = tmp_path_factory.mktemp("state")
    database = workdir / "warehouse.duckdb"
    extracted: list[dict[str, dict[Any, datetime]]] = []

    def read() -> Tables:
        extracted.append(_extracted_at(database))
        return read_duckdb(database, [SCHEMA])

    with SandboxProcess.start(seed=17, accounts=3, invoices_per_account=250) as sandbox:
        meltano = IsolatedMeltano(
            workdir / "meltano",
            env={
                **sandbox.tap_env(),
                **duckdb_target_env(database, SCHEMA),
                # The default: no sweep in the plain run right after, so it reads only from the
                # bookmarks (tap_env() sweeps every run).
                "TAP_MINDZPAY_SWEEP_INTERVAL_HOURS": "24",
            },
        )
        first = run_round(meltano, sandbox, [PIPELINE], read)
        state_ids = meltano.state_list()
        sandbox.advance(3600)
        full_refresh = run_round(meltano, sandbox, [PIPELINE], read, "--full-refresh")
        plain = run_round(meltano, sandbox, [PIPELINE], read)
    return Runs(first, full_refresh, plain, state_ids, extracted)


def _list_requests(run: Round, stream: str) -> int:
    return sum(run.stats["requests"].get(LIST_ENDPOINTS[stream], {}).values())


def test_meltano_state_list_shows_the_pipeline_state_id(runs: Runs) -> None:
    assert PIPELINE.state_id in runs.state_ids, runs.state_ids


@pytest.mark.parametrize("stream", ACCOUNT_STREAMS)
def test_meltano_state_get_shows_an_id_bookmark_per_account_after_a_run(
    stream: str, runs: Runs
) -> None:
    first = runs.first
    partitions = first.partitions(PIPELINE.state_id, stream)
    by_key = {p["context"]["account_key"]: p for p in partitions}
    assert len(by_key) == len(partitions), partitions
    accounts = {a["key"]: a["id"] for a in first.truth["accounts"]}
    assert by_key.keys() == accounts.keys()
    owner = "account_id" if stream == "subscriptions" else "account_key"
    for key, partition in by_key.items():
        assert partition["replication_key"] == "id", partition
        assert partition["context"].get("account_id") == accounts[key], partition
        mine = accounts[key] if owner == "account_id" else key
        highest = max(r["id"] for r in first.truth[stream] if r[owner] == mine)
        assert partition["replication_key_value"] == highest, (key, partition)


@pytest.mark.parametrize("stream", LIST_ENDPOINTS)
def test_full_refresh_pages_every_list_from_the_start_again(stream: str, runs: Runs) -> None:
    refresh = runs.full_refresh
    pages = sum(
        math.ceil(sum(1 for r in refresh.truth[stream] if r["account_key"] == a["key"]) / PAGE_SIZE)
        for a in refresh.truth["accounts"]
    )
    assert _list_requests(refresh, stream) >= pages, refresh.stats["requests"]
    assert _list_requests(runs.plain, stream) < pages, runs.plain.stats["requests"]


@pytest.mark.parametrize("stream", TRUTH_STREAMS)
def test_full_refresh_rewrites_every_row(stream: str, runs: Runs) -> None:
    after_first, after_refresh, _ = runs.extracted
    first_newest = max(after_first[stream].values())
    live = {r["id"] for r in runs.full_refresh.truth[stream]}  # support deleted the others
    assert live <= after_refresh[stream].keys()
    stale = [i for i in live if after_refresh[stream][i] <= first_newest]
    assert not stale, f"{len(stale)} rows not re-read by --full-refresh: {sorted(stale)[:10]}"


@pytest.mark.parametrize("stream", ACCOUNT_STREAMS)
def test_a_plain_run_after_the_full_refresh_rewrites_few_rows(stream: str, runs: Runs) -> None:
    _, after_refresh, after_plain = runs.extracted
    refresh_newest = max(after_refresh[stream].values())
    rewritten = [i for i, at in after_plain[stream].items() if at > refresh_newest]
    assert len(rewritten) < len(after_plain[stream]) / 2, (stream, len(rewritten))


@pytest.mark.parametrize("stream", TRUTH_STREAMS)
def test_tables_equal_truth_after_full_refresh(stream: str, runs: Runs) -> None:
    check = runs.full_refresh.check(stream)
    assert check.ok, check.summary()
