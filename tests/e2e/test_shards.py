"""Scaling out: two shards of `account_keys` run as two Meltano jobs at once into one PostgreSQL.

One sandbox process (3 accounts; seed 32, whose first simulated hour has support delete invoices)
and the jobs `mindzpay-shard-a` and `mindzpay-shard-b` of meltano.yml, started at the same time as
two `meltano run` processes sharing one system database: shard A syncs two accounts, shard B the
third. Each job is an inherited tap and loader (`tap-mindzpay--shard-X` ->
`target-postgres--shard-X`), so each has its own `.meltano/run/<name>/` files, its own state ID and
its own target schema; the warehouse is the union of the two schemas (docs/scaling.md says why).
Each shard's accounts and schema come from its plugin's own variables
(`TAP_MINDZPAY__SHARD_A_ACCOUNT_KEYS`, `TARGET_POSTGRES__SHARD_A_DEFAULT_TARGET_SCHEMA`), as an
orchestrator would set them.

Two rounds, both shards in parallel each time: a full run; then an hour of simulated time and an
incremental run. After each, the union must equal the truth (`LoaderRoundsContract`: one row per
whole rows, exact NUMERIC amounts, `invoice_status_changes` as the two taps sent it, a bookmark per
account), the two states must be disjoint
(each holds only its own accounts' partitions), and each schema only its own accounts' records.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from helpers import SandboxProcess
from helpers.meltano import (
    MELTANO_WORKER,
    IsolatedMeltano,
    LoaderRoundsContract,
    Pipeline,
    Round,
    Rounds,
    full_then_incremental,
)
from helpers.services import postgres_target_env, require_loader
from helpers.streams import ACCOUNT_STREAMS
from helpers.warehouse import Tables, drop_postgres_schemas, read_postgres

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.e2e, MELTANO_WORKER]


@dataclass
class Shard:
    """One shard: its meltano.yml job, account keys and (test-unique) target schema."""

    name: str  # "a" or "b"
    account_keys: list[str]
    schema: str

    def pipeline(self) -> Pipeline:
        """The shard's job; its plugin-specific variables pick its accounts and its schema."""
        variable = self.name.upper()
        return Pipeline(
            extractor=f"tap-mindzpay--shard-{self.name}",
            loader=f"target-postgres--shard-{self.name}",
            job=f"mindzpay-shard-{self.name}",
            suffix=None,  # the job's own state ID, as an orchestrator would run it
            env={
                f"TAP_MINDZPAY__SHARD_{variable}_ACCOUNT_KEYS": json.dumps(self.account_keys),
                f"TARGET_POSTGRES__SHARD_{variable}_DEFAULT_TARGET_SCHEMA": self.schema,
            },
        )


@dataclass
class ShardedRun:
    """Both rounds of both shards, and each shard's schema read on its own after each round."""

    shards: list[Shard]
    rounds: Rounds
    by_schema: dict[str, list[Tables]]  # shard name -> [after full, after incremental]


@pytest.fixture(scope="module")
def sharded(postgres_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShardedRun]:
    require_loader("target-postgres")
    dsn = postgres_dsn
    workdir = tmp_path_factory.mktemp("shards")
    tag = uuid.uuid4().hex[:8]
    with SandboxProcess.start(seed=32, accounts=3, invoices_per_account=150) as sandbox:
        keys = sorted(account["key"] for account in sandbox.truth("accounts"))
        shards = [
            Shard("a", keys[:2], f"mindzpay_shard_a_{tag}"),
            Shard("b", keys[2:], f"mindzpay_shard_b_{tag}"),
        ]
        by_schema: dict[str, list[Tables]] = {shard.name: [] for shard in shards}

        def read() -> Tables:
            for shard in shards:
                by_schema[shard.name].append(read_postgres(dsn, [shard.schema]))
            return read_postgres(dsn, [shard.schema for shard in shards])

        meltano = IsolatedMeltano(
            workdir / "meltano", env={**sandbox.tap_env(), **postgres_target_env(dsn)}
        )
        try:
            rounds = full_then_incremental(
                meltano, sandbox, [shard.pipeline() for shard in shards], read
            )
            yield ShardedRun(shards, rounds, by_schema)
        finally:
            drop_postgres_schemas(dsn, [shard.schema for shard in shards])


@pytest.fixture(scope="module")
def rounds(sharded: ShardedRun) -> Rounds:
    return sharded.rounds


class TestShardedPostgres(LoaderRoundsContract):
    """The union of the two shards' schemas against the truth of the whole sandbox."""


def _both_rounds(sharded: ShardedRun) -> list[tuple[str, Round]]:
    return [("full", sharded.rounds.full), ("incremental", sharded.rounds.incremental)]


def test_the_two_shard_jobs_ran_at_the_same_time(sharded: ShardedRun) -> None:
    for label, run in _both_rounds(sharded):
        first, second = run.results
        overlap = min(first.finished, second.finished) - max(first.started, second.started)
        assert overlap > 0, f"{label}: the shard jobs did not overlap ({overlap:.1f}s)"


def test_each_shard_took_its_own_access_token(sharded: ShardedRun) -> None:
    # The rate limit is per access token: one token per shard means one rate window per shard.
    for label, run in _both_rounds(sharded):
        tokens = sum(run.stats["requests"].get("POST /oauth/token", {}).values())
        assert tokens == len(sharded.shards), f"{label}: {tokens} token requests"


def test_shard_states_are_disjoint_and_hold_only_their_own_accounts(sharded: ShardedRun) -> None:
    for label, run in _both_rounds(sharded):
        assert len(run.states) == len(sharded.shards)
        seen: dict[str, set[str]] = {}
        for shard in sharded.shards:
            state_id = shard.pipeline().state_id
            assert state_id in run.states, (label, state_id, list(run.states))
            for stream in ACCOUNT_STREAMS:
                keys = [p["context"]["account_key"] for p in run.partitions(state_id, stream)]
                assert sorted(keys) == sorted(shard.account_keys), (label, state_id, stream)
            seen[shard.name] = set(shard.account_keys)
        assert not seen["a"] & seen["b"], seen


def test_each_shard_schema_holds_only_its_own_accounts_records(sharded: ShardedRun) -> None:
    for index, (label, run) in enumerate(_both_rounds(sharded)):
        account_of: dict[str, dict[Any, str]] = {
            stream: {row["id"]: row["account_key"] for row in run.truth[stream]}
            for stream in ("invoices", "payments")
        }
        account_of["accounts"] = {row["id"]: row["key"] for row in run.truth["accounts"]}
        for shard in sharded.shards:
            tables = sharded.by_schema[shard.name][index]
            for stream, owners in account_of.items():
                ids = [i for i in tables.rows[stream] if i in owners]
                assert ids, f"{label}: shard {shard.name} loaded no {stream}"
                foreign = [i for i in ids if owners[i] not in shard.account_keys]
                assert not foreign, f"{label}: shard {shard.name} {stream} of other accounts"
