"""Run the project's `meltano` against a test sandbox without touching the demo's state.

Every invocation gets its own system database (`MELTANO_DATABASE_URI` in a temp dir), so state
IDs, runs and job history of a test never mix with `make demo`'s. Plugins are the ones the project
already installed under `.meltano/` (nothing is installed from a test: `--no-install`).

A `Pipeline` is one `meltano run` (a tap/loader pair or a meltano.yml job) with its state ID;
`run_round` starts several at the same time (shards) and reads the truth, the warehouse and each
state after, and what the tap sent the loader in that run (Meltano logs the extractor's stdout
lines to a file when its `meltano.plugin.stdout` logger is at DEBUG: `tap_output_log_config`);
`full_then_incremental` makes the two rounds the loader tests compare, and `LoaderRoundsContract`
holds the checks every loader test makes of them.

One worker at a time: Meltano keeps each plugin's run files (config, catalog, state.json) in one
`.meltano/run/<plugin>/` of the project, so two test workers (`pytest -n 2`, as `make test` runs)
running the same plugin would overwrite and delete each other's. Every test module that runs
`meltano` in this project carries `MELTANO_WORKER` (`pytestmark`); under `--dist loadgroup` all
of them go to one worker, in order, while the other worker runs the rest. `IsolatedMeltano.run`
refuses to start under xdist in a test without it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from .processes import PROJECT_ROOT, child_env, venv_script
from .streams import ACCOUNT_STREAMS, CHANGES_STREAM, TRUTH_STREAMS
from .warehouse import DELETED_AT, Snapshot, TableCheck, Tables

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from .sandbox import SandboxProcess


@dataclass
class MeltanoResult:
    """One finished `meltano` command."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    started: float = 0.0  # time.monotonic() at start: tells runs that overlapped

    @property
    def finished(self) -> float:
        """time.monotonic() at exit."""
        return self.started + self.seconds

    def check(self) -> MeltanoResult:
        """Raise with the output tails unless meltano exited 0."""
        if self.returncode != 0:
            msg = (
                f"{' '.join(self.argv)} exited {self.returncode} after {self.seconds:.1f}s\n"
                f"stdout (tail):\n{self.stdout[-3000:]}\nstderr (tail):\n{self.stderr[-8000:]}"
            )
            raise AssertionError(msg)
        return self


MELTANO_GROUP = "meltano"
MELTANO_WORKER = pytest.mark.xdist_group(MELTANO_GROUP)


def _check_meltano_worker() -> None:
    """Fail a test that runs meltano on an xdist worker outside the `MELTANO_WORKER` group.

    Under `--dist loadgroup` xdist ends the node ID of a grouped test with `@<group>`, and pytest
    exposes the running test's node ID as `PYTEST_CURRENT_TEST`.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    current = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
    if not current.endswith(f"@{MELTANO_GROUP}"):
        msg = (
            f"{current or 'this test'} runs meltano on an xdist worker outside the "
            f"{MELTANO_GROUP!r} group: add `helpers.meltano.MELTANO_WORKER` to its module's "
            "pytestmark and run with --dist loadgroup (Meltano's .meltano/run/ is shared)"
        )
        raise AssertionError(msg)


class IsolatedMeltano:
    """The project's meltano.yml with a private system database and extra environment."""

    def __init__(
        self,
        workdir: Path,
        env: dict[str, str] | None = None,
        *,
        project_root: Path = PROJECT_ROOT,
        database_uri: str | None = None,
    ) -> None:
        """Keep the private database in `workdir`; `env` goes to every invocation.

        `project_root` is another copy of the project (`copy_project`); `database_uri` a system
        database several of them share (PostgreSQL) instead of the private SQLite file.
        """
        self.workdir = workdir
        self.project_root = project_root
        workdir.mkdir(parents=True, exist_ok=True)
        self._database_ready = False
        self.env = {
            "MELTANO_DATABASE_URI": database_uri or f"sqlite:///{workdir / 'meltano.db'}",
            "MELTANO_PROJECT_ROOT": str(project_root),
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            **(env or {}),
        }

    def run(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 600.0
    ) -> MeltanoResult:
        """Run `meltano <args>` in the project root (plus `env`); the result is not checked."""
        _check_meltano_worker()
        argv = [venv_script("meltano"), *args]
        started = time.monotonic()
        completed = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            env=child_env({**self.env, **(env or {})}),
            cwd=self.project_root,
            timeout=timeout,
            check=False,
        )
        return MeltanoResult(
            argv,
            completed.returncode,
            completed.stdout,
            completed.stderr,
            time.monotonic() - started,
            started,
        )

    def ensure_database(self) -> None:
        """Create and migrate the system database now (`meltano upgrade database`), once.

        Two `meltano` processes that find no system database both migrate it, and one fails
        (`table plugin_settings already exists`); pipelines started together need it to exist.
        """
        if not self._database_ready:
            self.run("upgrade", "database").check()
            self._database_ready = True

    def state_get(self, state_id: str) -> dict[str, Any]:
        """`meltano state get <state_id>` parsed as JSON."""
        result = self.run("state", "get", state_id).check()
        start = result.stdout.find("{")
        if start < 0:
            msg = f"no JSON in `meltano state get {state_id}` output: {result.stdout[-2000:]!r}"
            raise AssertionError(msg)
        return dict(json.loads(result.stdout[start:]))

    def state_list(self) -> list[str]:
        """`meltano state list`: the state IDs in this private database."""
        result = self.run("state", "list").check()
        return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def copy_project(destination: Path) -> Path:
    """A second copy of the Meltano project at `destination`, as on another machine.

    Its own meltano.yml, plugins/ lock files and `.meltano/` (so its own `.meltano/run/`), with
    the plugin virtualenvs this project installed linked in, not installed again.
    """
    destination.mkdir(parents=True)
    shutil.copy2(PROJECT_ROOT / "meltano.yml", destination / "meltano.yml")
    shutil.copytree(PROJECT_ROOT / "plugins", destination / "plugins")
    (destination / ".meltano").mkdir()
    for kind in ("extractors", "loaders", "utilities"):
        if (installed := PROJECT_ROOT / ".meltano" / kind).is_dir():
            (destination / ".meltano" / kind).symlink_to(installed, target_is_directory=True)
    return destination


STATE_ID_SUFFIX = "e2e"


@dataclass(frozen=True)
class Pipeline:
    """One `meltano run` of an extractor into a loader: the pair, or a meltano.yml job of it.

    `state_id` is the ID Meltano gives it: `{environment}:{extractor}-to-{loader}[:{suffix}]`.
    `env` goes to this invocation only (e.g. one shard's `account_keys` and target schema).
    """

    loader: str
    extractor: str = "tap-mindzpay"
    environment: str = "prod"  # no sandbox settings there: the tap sees only the variables set
    job: str | None = None
    suffix: str | None = STATE_ID_SUFFIX
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def state_id(self) -> str:
        """The state ID `meltano run` saves this pipeline's state under."""
        base = f"{self.environment}:{self.extractor}-to-{self.loader}"
        return f"{base}:{self.suffix}" if self.suffix else base

    def argv(self, *extra_args: str) -> list[str]:
        """The `meltano` arguments that run this pipeline (`extra_args` before the blocks)."""
        suffix = ["--state-id-suffix", self.suffix] if self.suffix else []
        blocks = [self.job] if self.job else [self.extractor, self.loader]
        return [
            f"--environment={self.environment}",
            "run",
            "--no-install",
            *suffix,
            *extra_args,
            *blocks,
        ]


def tap_output_log_config(config_path: Path, output_path: Path) -> Path:
    """Write a Meltano logging config that also saves every extractor stdout line as JSON.

    Meltano forwards the extractor's stdout to its `meltano.plugin.stdout.extractors.<name>`
    logger only when that logger is enabled for DEBUG; this config sends those lines (one JSON
    object each, the Singer line in `event`) to `output_path` alone, and everything else to
    stderr as usual. The loader reads the same lines from the same pipe.
    """
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "console": {"()": "meltano.core.logging.console_log_formatter", "colors": False},
            "json": {"()": "meltano.core.logging.json_formatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "level": "INFO",
                "formatter": "console",
                "stream": "ext://sys.stderr",
            },
            "tap_output": {
                "class": "logging.FileHandler",
                "level": "DEBUG",
                "formatter": "json",
                "filename": str(output_path),
                "encoding": "utf-8",
            },
        },
        "root": {"level": "INFO", "handlers": ["console"]},
        "loggers": {
            "meltano.plugin.stdout.extractors": {
                "level": "DEBUG",
                "handlers": ["tap_output"],
                "propagate": False,
            }
        },
    }
    config_path.write_text(json.dumps(config), encoding="utf-8")
    return config_path


def read_tap_output(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The RECORD messages of a `tap_output_log_config` file, by stream, in order."""
    records: dict[str, list[dict[str, Any]]] = {}
    if not path.exists():
        return records
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        event = json.loads(line).get("event")
        if not isinstance(event, str) or not event.startswith("{"):
            continue
        message = json.loads(event, parse_float=Decimal)
        if message.get("type") == "RECORD":
            records.setdefault(message["stream"], []).append(message["record"])
    return records


def run_pipelines(
    meltano: IsolatedMeltano,
    pipelines: Sequence[Pipeline],
    *extra_args: str,
    tap_outputs: Sequence[Path] = (),
) -> list[MeltanoResult]:
    """Start every pipeline at the same time, each its own `meltano run` process; wait for all.

    With `tap_outputs` (one path per pipeline) each run also saves what its tap sent there.
    """
    if len(pipelines) > 1:
        meltano.ensure_database()
    log_args: list[list[str]] = [[] for _ in pipelines]
    for index, output in enumerate(tap_outputs):
        config = tap_output_log_config(output.with_suffix(".logging.json"), output)
        log_args[index] = [f"--log-config={config}"]
    with ThreadPoolExecutor(max_workers=len(pipelines)) as pool:
        futures = [
            pool.submit(
                meltano.run, *log_args[i], *pipeline.argv(*extra_args), env=dict(pipeline.env)
            )
            for i, pipeline in enumerate(pipelines)
        ]
        return [future.result() for future in futures]


@dataclass
class Round:
    """One run of some pipelines, and what the sandbox, the warehouse and Meltano held after."""

    results: list[MeltanoResult]
    snapshot: Snapshot
    states: dict[str, dict[str, Any]]  # state ID -> `meltano state get` of it
    stats: dict[str, Any]  # `GET /_sandbox/stats` for the run (zeroed before it)
    sent: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # this run's records

    @property
    def sandbox_requests(self) -> int:
        """API requests the sandbox answered during the run (admin calls not counted)."""
        return _count_api_requests(self.stats)

    @property
    def truth(self) -> dict[str, list[dict[str, Any]]]:
        """The sandbox truth after the run."""
        return self.snapshot.truth

    def check(self, stream: str) -> TableCheck:
        """The warehouse table(s) of `stream` against the truth (see `Snapshot.check`)."""
        return self.snapshot.check(stream)

    def partitions(self, state_id: str, stream: str) -> list[dict[str, Any]]:
        """The bookmark partitions of `stream` in the state saved under `state_id`."""
        bookmarks = self.states[state_id].get("singer_state", {}).get("bookmarks", {})
        return list(bookmarks.get(stream, {}).get("partitions", []))


def run_round(
    meltano: IsolatedMeltano,
    sandbox: SandboxProcess,
    pipelines: Sequence[Pipeline],
    read_tables: Callable[[], Tables],
    *extra_args: str,
    earlier: Sequence[Round] = (),
) -> Round:
    """Run `pipelines` at the same time, then read the truth, the tables and each state.

    The snapshot's `emitted` is what the taps sent in `earlier` rounds and this one (what the
    warehouse received so far), so derived streams can be compared with it.
    """
    sandbox.reset_stats()
    number = len(list(meltano.workdir.glob("tap-output-*.jsonl")))
    outputs = [meltano.workdir / f"tap-output-{number + i}.jsonl" for i in range(len(pipelines))]
    runs = run_pipelines(meltano, pipelines, *extra_args, tap_outputs=outputs)
    results = [result.check() for result in runs]
    stats = sandbox.stats()
    sent: dict[str, list[dict[str, Any]]] = {}
    for output in outputs:
        for stream, records in read_tap_output(output).items():
            sent.setdefault(stream, []).extend(records)
    emitted: dict[str, list[dict[str, Any]]] = {}
    for run in [*earlier, None]:
        for stream, records in (sent if run is None else run.sent).items():
            emitted.setdefault(stream, []).extend(records)
    snapshot = Snapshot(
        {stream: sandbox.truth(stream) for stream in TRUTH_STREAMS},
        sandbox.deleted_everywhere(),
        read_tables(),
        emitted,
    )
    with ThreadPoolExecutor(max_workers=len(pipelines)) as pool:
        ids = [p.state_id for p in pipelines]
        states = dict(zip(ids, pool.map(meltano.state_get, ids), strict=True))
    return Round(results, snapshot, states, stats, sent)


@dataclass
class Rounds:
    """A full run, the clock moved by `advanced`, then an incremental run with the saved state."""

    full: Round
    advanced: dict[str, Any]
    incremental: Round

    def named(self, name: str) -> Round:
        """The round called `name` in ROUND_NAMES."""
        return {"full": self.full, "incremental": self.incremental}[name]


ROUND_NAMES = ("full", "incremental")


def full_then_incremental(
    meltano: IsolatedMeltano,
    sandbox: SandboxProcess,
    pipelines: Sequence[Pipeline],
    read_tables: Callable[[], Tables],
    *,
    advance_seconds: float = 3600,
) -> Rounds:
    """A full round, `POST /_sandbox/advance`, and an incremental round of the same pipelines."""
    full = run_round(meltano, sandbox, pipelines, read_tables)
    advanced = sandbox.advance(advance_seconds)
    incremental = run_round(meltano, sandbox, pipelines, read_tables, earlier=[full])
    return Rounds(full, advanced, incremental)


def _count_api_requests(stats: dict[str, Any]) -> int:
    # Requests by endpoint template and status; only the API's, not the admin endpoints'.
    total = 0
    requests = stats.get("requests", {})
    if isinstance(requests, dict):
        for endpoint, by_status in requests.items():
            if "/_sandbox" in endpoint:
                continue
            if isinstance(by_status, dict):
                total += sum(int(n) for n in by_status.values())
            elif isinstance(by_status, int):
                total += by_status
    return total


class LoaderRoundsContract:
    """What every loader test proves of its `rounds` fixture (full; clock advance; incremental).

    A test module subclasses it as `Test<Loader>` and defines a `rounds` fixture returning
    `Rounds`; the tables read are the union of the pipelines' schemas.
    """

    @pytest.mark.parametrize("stream", TRUTH_STREAMS)
    def test_table_holds_every_truth_row_once_after_full_run(
        self, stream: str, rounds: Rounds
    ) -> None:
        """Every truth id has exactly one row, and nothing else is there."""
        full = rounds.full
        assert full.truth[stream], f"truth of {stream} is empty: nothing proven"
        check = full.check(stream)
        assert not check.missing, check.summary()
        assert not check.unexpected, check.summary()
        assert not check.duplicated, check.summary()
        assert check.rows == len(full.truth[stream]), check.summary()

    @pytest.mark.parametrize("stream", TRUTH_STREAMS)
    def test_table_holds_every_truth_row_once_after_clock_advance_and_incremental_run(
        self, stream: str, rounds: Rounds
    ) -> None:
        """Same after the world moved (rows of records deleted meanwhile are tolerated, marked
        `_sdc_deleted_at`: support's invoice deletions, users removed on an LGPD request)."""
        check = rounds.incremental.check(stream)
        assert not check.missing, check.summary()
        assert not check.unexpected, check.summary()
        assert not check.duplicated, check.summary()
        assert not check.deleted_unmarked, check.summary()

    def test_clock_advance_created_new_invoices_that_the_incremental_run_loaded(
        self, rounds: Rounds
    ) -> None:
        """The incremental round had something new to load, and loaded it."""
        before = {r["id"] for r in rounds.full.truth["invoices"]}
        new_ids = {r["id"] for r in rounds.incremental.truth["invoices"]} - before
        assert new_ids, f"an hour of simulated time created no invoice; applied: {rounds.advanced}"
        assert new_ids <= set(rounds.incremental.snapshot.tables.rows["invoices"])

    @pytest.mark.parametrize("moment", ROUND_NAMES)
    @pytest.mark.parametrize("stream", TRUTH_STREAMS)
    def test_every_column_of_every_row_equals_truth_after_each_run(
        self, stream: str, moment: str, rounds: Rounds
    ) -> None:
        """Whole rows: the schema's columns, every cell equal to the truth's value.

        Money exact, timestamps the same instant, dates, booleans, nulls, the account key and id
        added from the parent account, `status_label`, `_sdc_deleted_at` null on live records.
        """
        run = rounds.named(moment)
        check = run.check(stream)
        assert check.compared == len(run.truth[stream]) > 0, check.summary()
        assert check.ok, check.summary()

    def test_rows_of_invoices_support_deleted_carry_sdc_deleted_at(self, rounds: Rounds) -> None:
        """An invoice support deleted after the full run keeps its row, marked `_sdc_deleted_at`.

        (Support deletes only invoices in the sandbox; live rows of every stream have the column
        null, which the whole-row test checks.)
        """
        loaded = {r["id"] for r in rounds.full.truth["invoices"]}
        incremental = rounds.incremental
        deleted = {d["id"] for d in incremental.snapshot.deleted if d["stream"] == "invoices"}
        assert deleted & loaded, f"no loaded invoice was deleted: {rounds.advanced}"
        check = incremental.check("invoices")
        assert DELETED_AT in incremental.snapshot.tables.columns["invoices"]
        assert set(check.deleted_kept) == deleted & loaded, check.summary()
        assert not check.deleted_unmarked, check.summary()

    @pytest.mark.parametrize("moment", ROUND_NAMES)
    def test_invoice_status_changes_equal_what_the_tap_sent_after_each_run(
        self, moment: str, rounds: Rounds
    ) -> None:
        """The history table holds every status change the tap sent, once, every cell equal.

        The sandbox has no truth for this derived stream; the reference is the RECORD lines of
        `invoice_status_changes` the tap wrote in these runs (what the loader read), folded by
        its primary key (invoice_id, to_status, observed_at).
        """
        run = rounds.named(moment)
        assert run.sent.get(CHANGES_STREAM), f"the tap sent no {CHANGES_STREAM} in this run"
        check = run.snapshot.check_emitted(CHANGES_STREAM)
        assert check.compared == check.truth_count > 0, check.summary()
        assert check.ok, check.summary()

    def test_meltano_state_holds_a_bookmark_per_account_for_each_child_stream(
        self, rounds: Rounds
    ) -> None:
        """`meltano state get` of the pipeline(s) has an id bookmark for every account."""
        incremental = rounds.incremental
        account_keys = {a["key"] for a in incremental.truth["accounts"]}
        for stream in ACCOUNT_STREAMS:
            partitions = [p for s in incremental.states for p in incremental.partitions(s, stream)]
            keys = [p["context"]["account_key"] for p in partitions]
            assert sorted(keys) == sorted(account_keys), (stream, keys)
            assert all(p.get("replication_key_value") for p in partitions), partitions
