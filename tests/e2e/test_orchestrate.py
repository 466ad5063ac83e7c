"""The shard jobs under Dagster, from two copies of the project sharing one system database.

Two copies of the Meltano project (`copy_project`: their own meltano.yml and `.meltano/run/`, as
on two machines), one sandbox process (3 accounts), one PostgreSQL warehouse, and Meltano's
system database on that PostgreSQL server (`MELTANO_DATABASE_URI`, its own database). Each copy
loads the definitions of orchestrate/definitions.py; Dagster's own API
(`JobDefinition.execute_in_process`) runs the jobs, whose op runs `meltano run mindzpay-shard-X`
as a process.

Round 1: machine 1 runs shard A (two accounts) while machine 2 runs shard B (the third), both
full syncs. Then an hour of simulated time, and round 2 swaps them: machine 1 runs shard B and
machine 2 shard A, with no state in their own `.meltano/`: each must resume from the state the
other machine saved in the shared database. After each round the union of the shard schemas
must equal the truth, whole rows, and the two states must be disjoint.
"""

from __future__ import annotations

import json
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dagster as dg
import pytest
from helpers import SandboxProcess
from helpers.meltano import (
    MELTANO_WORKER,
    IsolatedMeltano,
    copy_project,
    read_tap_output,
    tap_output_log_config,
)
from helpers.services import (
    connect_postgres,
    postgres_target_env,
    require_loader,
    sqlalchemy_url,
)
from helpers.streams import ACCOUNT_STREAMS, CHANGES_STREAM, TRUTH_STREAMS
from helpers.warehouse import Snapshot, drop_postgres_schemas, read_postgres

from orchestrate.definitions import MeltanoProject, build_definitions

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = [pytest.mark.e2e, MELTANO_WORKER]

SHARDS = ("a", "b")
NO_STATE = "No state was found, complete import."  # Meltano's warning when a run starts fresh


def state_id(shard: str) -> str:
    return f"prod:tap-mindzpay--shard-{shard}-to-target-postgres--shard-{shard}"


@dataclass
class ShardRun:
    """One shard job run by Dagster on one machine: its result and what meltano logged."""

    machine: int
    shard: str
    success: bool
    log: str  # Meltano's log lines of the run
    sent: dict[str, list[dict[str, Any]]]  # the tap's records, by stream


@dataclass
class Round:
    runs: dict[str, ShardRun]  # shard -> its run
    snapshot: Snapshot
    states: dict[str, dict[str, Any]]  # state ID -> completed state, read from the system database
    schedules: dict[str, dg.DefaultScheduleStatus] = field(default_factory=dict)

    def partitions(self, shard: str, stream: str) -> list[dict[str, Any]]:
        bookmarks = self.states[state_id(shard)].get("singer_state", {}).get("bookmarks", {})
        return list(bookmarks.get(stream, {}).get("partitions", []))


@dataclass
class Orchestrated:
    account_keys: dict[str, list[str]]
    rounds: list[Round]
    state_list: list[str]  # `meltano state list` from machine 1 after round 2
    unset_keys: list[str] | None  # account_keys Meltano reports for a shard left unset


def _database(dsn: str, name: str) -> str:
    """`dsn` with another database name (same server, user and socket)."""
    parts = urllib.parse.urlsplit(dsn)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def _logging_config(workdir: Path, label: str) -> tuple[Path, Path, Path]:
    """A Meltano logging config saving the tap's output and Meltano's own log lines to files."""
    tap_output = workdir / f"{label}.tap.jsonl"
    log_file = workdir / f"{label}.log"
    config_path = tap_output_log_config(workdir / f"{label}.logging.json", tap_output)
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["handlers"]["file"] = {
        "class": "logging.FileHandler",
        "level": "INFO",
        "formatter": "console",
        "filename": str(log_file),
    }
    config["root"]["handlers"].append("file")
    config_path.write_text(json.dumps(config), encoding="utf-8")
    return config_path, tap_output, log_file


def _read_states(system_dsn: str) -> dict[str, dict[str, Any]]:
    with connect_postgres(system_dsn) as connection:
        rows = connection.execute("SELECT state_id, completed_state FROM state").fetchall()
    return {
        state: json.loads(completed) if isinstance(completed, str) else dict(completed or {})
        for state, completed in rows
    }


@pytest.fixture(scope="module")
def orchestrated(
    postgres_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Orchestrated]:
    require_loader("target-postgres")
    workdir = tmp_path_factory.mktemp("orchestrate")
    tag = uuid.uuid4().hex[:8]
    system_name = f"meltano_system_{tag}"
    system_dsn = _database(postgres_dsn, system_name)
    schemas = {shard: f"mindzpay_dagster_{shard}_{tag}" for shard in SHARDS}
    with connect_postgres(postgres_dsn) as connection:
        connection.execute(f'CREATE DATABASE "{system_name}"')
    try:
        with SandboxProcess.start(seed=32, accounts=3, invoices_per_account=150) as sandbox:
            keys = sorted(account["key"] for account in sandbox.truth("accounts"))
            account_keys = {"a": keys[:2], "b": keys[2:]}
            deployment = {**sandbox.tap_env(), **postgres_target_env(postgres_dsn)}
            for shard in SHARDS:
                variable = shard.upper()
                deployment[f"TAP_MINDZPAY__SHARD_{variable}_ACCOUNT_KEYS"] = json.dumps(
                    account_keys[shard]
                )
                deployment[f"TARGET_POSTGRES__SHARD_{variable}_DEFAULT_TARGET_SCHEMA"] = schemas[
                    shard
                ]
            machines = [
                IsolatedMeltano(
                    workdir / f"machine-{number}",
                    deployment,
                    project_root=copy_project(workdir / f"project-{number}"),
                    database_uri=sqlalchemy_url(system_dsn),
                )
                for number in (1, 2)
            ]
            machines[0].ensure_database()  # migrated once, before two first runs at once

            def run_shard(machine: int, shard: str, label: str) -> ShardRun:
                meltano = machines[machine - 1]
                config, tap_output, log_file = _logging_config(workdir, label)
                project = MeltanoProject(
                    project_dir=str(meltano.project_root),
                    environment="prod",
                    env={**meltano.env, "MELTANO_CLI_LOG_CONFIG": str(config)},
                )
                job = build_definitions(project, configured=()).resolve_job_def(
                    f"mindzpay_shard_{shard}"
                )
                result = job.execute_in_process(raise_on_error=False)
                log = log_file.read_text(encoding="utf-8") if log_file.exists() else ""
                return ShardRun(machine, shard, result.success, log, read_tap_output(tap_output))

            rounds: list[Round] = []
            emitted: dict[str, list[dict[str, Any]]] = {}
            for number, placement in enumerate(({"a": 1, "b": 2}, {"a": 2, "b": 1}), start=1):
                if number == 2:
                    sandbox.advance(3600)
                with ThreadPoolExecutor(max_workers=len(SHARDS)) as pool:
                    futures = {
                        shard: pool.submit(run_shard, placement[shard], shard, f"r{number}-{shard}")
                        for shard in SHARDS
                    }
                    runs = {shard: future.result() for shard, future in futures.items()}
                for run in runs.values():
                    for stream, records in run.sent.items():
                        emitted.setdefault(stream, []).extend(records)
                snapshot = Snapshot(
                    {stream: sandbox.truth(stream) for stream in TRUTH_STREAMS},
                    sandbox.deleted_everywhere(),
                    read_postgres(postgres_dsn, list(schemas.values())),
                    {stream: list(records) for stream, records in emitted.items()},
                )
                rounds.append(Round(runs, snapshot, _read_states(system_dsn)))

            # The schedules as `dagster dev` would load them on machine 1: Meltano says both
            # shards have account_keys, so both run by default.
            loaded = build_definitions(
                MeltanoProject(project_dir=str(machines[0].project_root), env=machines[0].env)
            )
            rounds[0].schedules = {s.name: s.default_status for s in loaded.schedules or []}
            unset = {k: v for k, v in machines[0].env.items() if "SHARD_B_ACCOUNT" not in k}
            unset_keys = MeltanoProject(
                project_dir=str(machines[0].project_root), env=unset
            ).account_keys("tap-mindzpay--shard-b")
            state_list = machines[0].state_list()
            yield Orchestrated(account_keys, rounds, state_list, unset_keys)
    finally:
        drop_postgres_schemas(postgres_dsn, schemas.values())
        with connect_postgres(postgres_dsn) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{system_name}" WITH (FORCE)')


def test_both_shard_jobs_succeeded_under_dagster_in_both_rounds(orchestrated: Orchestrated) -> None:
    for number, run in enumerate(orchestrated.rounds, start=1):
        for shard, shard_run in run.runs.items():
            assert shard_run.success, (number, shard, shard_run.log[-4000:])
            assert shard_run.sent.get("accounts"), (number, shard, "the tap sent no accounts")


@pytest.mark.parametrize("stream", TRUTH_STREAMS)
@pytest.mark.parametrize("number", [1, 2])
def test_union_of_the_shard_schemas_equals_the_truth_whole_rows(
    orchestrated: Orchestrated, number: int, stream: str
) -> None:
    run = orchestrated.rounds[number - 1]
    check = run.snapshot.check(stream)
    assert run.snapshot.truth[stream], f"truth of {stream} is empty: nothing proven"
    assert check.compared == len(run.snapshot.truth[stream]), check.summary()
    assert check.ok, check.summary()


@pytest.mark.parametrize("number", [1, 2])
def test_status_changes_equal_what_the_two_taps_sent(
    orchestrated: Orchestrated, number: int
) -> None:
    snapshot = orchestrated.rounds[number - 1].snapshot
    check = snapshot.check_emitted(CHANGES_STREAM)
    assert check.compared == check.truth_count > 0, check.summary()
    assert check.ok, check.summary()


@pytest.mark.parametrize("number", [1, 2])
def test_shard_states_in_the_shared_database_are_disjoint(
    orchestrated: Orchestrated, number: int
) -> None:
    run = orchestrated.rounds[number - 1]
    assert {state_id(shard) for shard in SHARDS} <= set(run.states), list(run.states)
    owned: dict[str, set[str]] = {}
    for shard in SHARDS:
        for stream in ACCOUNT_STREAMS:
            partitions = run.partitions(shard, stream)
            keys = [p["context"]["account_key"] for p in partitions]
            assert sorted(keys) == orchestrated.account_keys[shard], (number, shard, stream)
            assert all(p.get("replication_key_value") for p in partitions), partitions
        owned[shard] = set(orchestrated.account_keys[shard])
    assert not owned["a"] & owned["b"], owned


def test_a_machine_resumes_a_shard_from_the_state_another_machine_saved(
    orchestrated: Orchestrated,
) -> None:
    first, second = orchestrated.rounds
    for shard in SHARDS:
        assert first.runs[shard].machine != second.runs[shard].machine
        assert NO_STATE in first.runs[shard].log, (shard, first.runs[shard].log[-3000:])
        assert NO_STATE not in second.runs[shard].log, (shard, second.runs[shard].log[-3000:])
        # Resumed: the second round's tap sent fewer invoices than the full sync did.
        assert len(second.runs[shard].sent["invoices"]) < len(first.runs[shard].sent["invoices"])


def test_meltano_state_list_on_one_machine_shows_both_shards_states(
    orchestrated: Orchestrated,
) -> None:
    assert {state_id(shard) for shard in SHARDS} <= set(orchestrated.state_list)


def test_schedules_run_by_default_when_meltano_reports_the_shards_account_keys(
    orchestrated: Orchestrated,
) -> None:
    assert orchestrated.rounds[0].schedules == {
        "mindzpay_shard_a_hourly": dg.DefaultScheduleStatus.RUNNING,
        "mindzpay_shard_b_hourly": dg.DefaultScheduleStatus.RUNNING,
    }
    assert orchestrated.unset_keys is None
