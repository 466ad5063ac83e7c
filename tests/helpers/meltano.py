"""Run the project's `meltano` against a test sandbox without touching the demo's state.

Every invocation gets its own system database (`MELTANO_DATABASE_URI` in a temp dir), so state
IDs, runs and job history of a test never mix with `make demo`'s. Plugins are the ones the project
already installed under `.meltano/` (nothing is installed from a test: `--no-install`).
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .processes import PROJECT_ROOT, child_env, meltano_plugin_executable, venv_script
from .sandbox import TRUTH_STREAMS

if TYPE_CHECKING:
    from pathlib import Path


@dataclass
class MeltanoResult:
    """One finished `meltano` command."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def check(self) -> MeltanoResult:
        """Raise with the output tails unless meltano exited 0."""
        if self.returncode != 0:
            msg = (
                f"{' '.join(self.argv)} exited {self.returncode} after {self.seconds:.1f}s\n"
                f"stdout (tail):\n{self.stdout[-3000:]}\nstderr (tail):\n{self.stderr[-8000:]}"
            )
            raise AssertionError(msg)
        return self


class IsolatedMeltano:
    """The project's meltano.yml with a private system database and extra environment."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None) -> None:
        """Keep the private database in `workdir`; `env` goes to every invocation."""
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.env = {
            "MELTANO_DATABASE_URI": f"sqlite:///{workdir / 'meltano.db'}",
            "MELTANO_PROJECT_ROOT": str(PROJECT_ROOT),
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            **(env or {}),
        }

    def run(self, *args: str, timeout: float = 600.0) -> MeltanoResult:
        """Run `meltano <args>` in the project root and return its result (not checked)."""
        argv = [venv_script("meltano"), *args]
        started = time.monotonic()
        completed = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            env=child_env(self.env),
            cwd=PROJECT_ROOT,
            timeout=timeout,
            check=False,
        )
        return MeltanoResult(
            argv,
            completed.returncode,
            completed.stdout,
            completed.stderr,
            time.monotonic() - started,
        )

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


def missing_plugins(*plugins: tuple[str, str]) -> list[str]:
    """The (kind, name) plugins of this project that Meltano has not installed yet."""
    return [name for kind, name in plugins if meltano_plugin_executable(kind, name) is None]


@dataclass
class Round:
    """One `meltano run` of the tap into a loader, and what the world and warehouse held after."""

    result: MeltanoResult
    truth: dict[str, list[dict[str, Any]]]
    deleted: list[dict[str, Any]]
    tables: dict[str, dict[Any, Any]]  # stream -> {id: status or None}
    table_rows: dict[str, list[Any]]  # stream -> every id, one per row (duplicates kept)
    state: dict[str, Any]
    sandbox_requests: int


STATE_ID_SUFFIX = "e2e"


def pipeline_state_id(loader: str, environment: str) -> str:
    """The state ID `meltano run` gives tap-mindzpay -> `loader` with the tests' suffix."""
    return f"{environment}:tap-mindzpay-to-{loader}:{STATE_ID_SUFFIX}"


def run_round(  # noqa: PLR0913 - a round needs all of these
    meltano: IsolatedMeltano,
    sandbox: Any,
    loader: str,
    read_tables: Any,
    *,
    environment: str,
    extra_args: tuple[str, ...] = (),
) -> Round:
    """`meltano run tap-mindzpay <loader>` once, then read the truth, the tables and the state."""
    sandbox.reset_stats()
    result = meltano.run(
        f"--environment={environment}",
        "run",
        "--no-install",
        "--state-id-suffix",
        STATE_ID_SUFFIX,
        *extra_args,
        "tap-mindzpay",
        loader,
    ).check()
    stats = sandbox.stats()
    truth = {stream: sandbox.truth(stream) for stream in TRUTH_STREAMS}
    table_rows, tables = read_tables()
    state = meltano.state_get(pipeline_state_id(loader, environment))
    return Round(
        result,
        truth,
        sandbox.deleted(),
        tables,
        table_rows,
        state,
        _count_api_requests(stats),
    )


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
