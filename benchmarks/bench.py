"""The benchmark's workbench: sandboxes, the three clients as processes, sandbox stats.

Every client runs as its own process against a sandbox process on 127.0.0.1; the sandbox is the
one the tests use (`tests/helpers/sandbox.py`). Files (configs, catalogs, states, outputs) go
under `.bench/` (removed by `make clean`).
"""

from __future__ import annotations

import compileall
import json
import shutil
import sys
import sysconfig
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from measure import ProcessResult, run_measured

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(PROJECT_ROOT / "tests"))

from helpers import SandboxProcess, child_env, venv_script  # noqa: E402
from helpers.streams import MINDZPAY_STREAMS  # noqa: E402

#: The MindzPay streams (accounts and their lists): what the figures sync and count.
DATA_STREAMS = MINDZPAY_STREAMS
UNLIMITED = 1_000_000_000


@dataclass
class Row:
    """One line of the results table."""

    figure: str
    target: str
    measured: str
    value: float | None = None
    met: bool | None = None
    details: list[str] = field(default_factory=list)


def request_counts(stats: dict[str, Any]) -> Counter[tuple[str, int]]:
    """API request counts by (endpoint template, HTTP status) from `GET /_sandbox/stats`."""
    counts: Counter[tuple[str, int]] = Counter()
    requests = stats.get("requests", {})
    if isinstance(requests, dict):
        for endpoint, by_status in requests.items():
            for status, count in by_status.items():
                counts[endpoint, int(status)] += int(count)
    else:
        for entry in requests:
            counts[entry["endpoint"], int(entry["status"])] += int(entry["count"])
    return counts


def access_token(sandbox: SandboxProcess) -> str:
    """A fresh access token of the sandbox's demo client (client_credentials)."""
    config = sandbox.tap_config()
    answer = requests.post(
        f"{sandbox.api_url}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": config["client_id"],
            "client_secret": config["client_secret"],
        },
        timeout=60,
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def bearer_session(sandbox: SandboxProcess, token: str | None = None) -> requests.Session:
    """A keep-alive session to the sandbox, no proxies, carrying an access token."""
    session = requests.Session()
    session.trust_env = False
    session.headers["Authorization"] = f"Bearer {token or access_token(sandbox)}"
    return session


def total_requests(stats: dict[str, Any], status: int | None = None) -> int:
    """All API requests the sandbox counted (of one status, if given)."""
    return sum(n for (_, code), n in request_counts(stats).items() if status in {None, code})


class Bench:
    """Shared state of one benchmark run: its work directory and the catalog of the tap."""

    def __init__(self, workdir: Path) -> None:
        """Start from an empty `workdir`, with the project's bytecode up to date."""
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        self.workdir = workdir
        self._catalog: dict[str, Any] | None = None
        # Every client is timed from interpreter start-up. With PYTHONDONTWRITEBYTECODE set (or
        # a source edited since its .pyc), a client would recompile its modules on every run;
        # compile the tap's, the baseline's and the raw client's sources once, for all alike,
        # and the installed packages (the SDK, requests) as pip does at install (`make install`
        # does too; then this finds them up to date).
        packages = Path(sysconfig.get_paths()["purelib"])
        for folder in (PROJECT_ROOT / "tap_mindzpay", BENCH_DIR, packages):
            compileall.compile_dir(folder, quiet=1, workers=0)

    # -- sandboxes -------------------------------------------------------------------------------

    @staticmethod
    def sandbox(
        *,
        accounts: int,
        invoices: int,
        rate_limit: int = UNLIMITED,
        extra: tuple[str, ...] = (),
    ) -> SandboxProcess:
        """A frozen sandbox process (seed 42) with `accounts` x `invoices`.

        Its rate limit is `rate_limit` requests per 1-second window: unlimited unless a figure
        measures the limit itself (the default 1,200/minute would make every figure a rate-limit
        figure).
        """
        window = ("--rate-limit", str(rate_limit), "--rate-window", "1")
        return SandboxProcess.start(
            seed=42,
            accounts=accounts,
            invoices_per_account=invoices,
            frozen=True,
            extra_args=(*window, *extra),
            startup_timeout=600,
        )

    @staticmethod
    def record_count(sandbox: SandboxProcess) -> int:
        """Records of the four data streams in the sandbox's truth (what a full sync emits)."""
        return sum(len(sandbox.truth(stream)) for stream in DATA_STREAMS)

    # -- files -----------------------------------------------------------------------------------

    def _write(self, name: str, value: object) -> Path:
        path = self.workdir / name
        path.write_text(json.dumps(value, indent=1), encoding="utf-8")
        return path

    def catalog(self, streams: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The tap's discovered catalog with only `streams` selected (all if None)."""
        if self._catalog is None:
            result = run_measured(
                [venv_script("tap-mindzpay"), "--discover"],
                env=child_env(),
                cwd=self.workdir,
                stdout_path=self.workdir / "catalog.json",
                timeout=120,
            ).check()
            del result
            self._catalog = json.loads((self.workdir / "catalog.json").read_text())
        catalog = json.loads(json.dumps(self._catalog))
        for entry in catalog["streams"]:
            chosen = streams is None or entry["tap_stream_id"] in streams
            for meta in entry.get("metadata", []):
                if not meta.get("breadcrumb"):
                    meta["metadata"]["selected"] = chosen
        return catalog

    # -- clients ---------------------------------------------------------------------------------

    def run_tap(  # noqa: PLR0913 - the tap's CLI inputs
        self,
        label: str,
        sandbox: SandboxProcess,
        *,
        streams: tuple[str, ...] | None = DATA_STREAMS,
        config: dict[str, Any] | None = None,
        state: dict[str, Any] | None = None,
        keep_output: bool = False,
        timeout: float = 600,
        launcher: str | None = None,
    ) -> ProcessResult:
        """Run `tap-mindzpay` as a process; stdout to /dev/null unless `keep_output`.

        ``launcher``: Python code run with ``-c`` instead of the installed script (it must end in
        the tap's CLI), for a figure that sets a switch before the run.
        """
        argv = [
            *([sys.executable, "-c", launcher] if launcher else [venv_script("tap-mindzpay")]),
            "--config",
            str(self._write(f"{label}.config.json", sandbox.tap_config(**(config or {})))),
            "--catalog",
            str(self._write(f"{label}.catalog.json", self.catalog(streams))),
        ]
        if state is not None:
            argv += ["--state", str(self._write(f"{label}.state.json", state))]
        output = self.workdir / f"{label}.out.jsonl" if keep_output else None
        return run_measured(
            argv, env=child_env(), cwd=self.workdir, stdout_path=output, timeout=timeout
        ).check()

    def output_messages(self, label: str) -> list[dict[str, Any]]:
        """The Singer messages of a `keep_output` run."""
        text = (self.workdir / f"{label}.out.jsonl").read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def last_state(self, label: str) -> dict[str, Any]:
        """The value of the last STATE message of a `keep_output` run."""
        states = [m for m in self.output_messages(label) if m["type"] == "STATE"]
        if not states:
            msg = f"run {label!r} emitted no STATE message"
            raise RuntimeError(msg)
        return dict(states[-1]["value"])

    def run_baseline(self, label: str, sandbox: SandboxProcess) -> ProcessResult:
        """Run the template-style baseline tap as a process, stdout to /dev/null."""
        config = {k: v for k, v in sandbox.tap_config().items() if k != "sandbox"}
        argv = [
            sys.executable,
            "-m",
            "baseline_tap",
            "--config",
            str(self._write(f"{label}.config.json", config)),
        ]
        env = child_env({"PYTHONPATH": str(BENCH_DIR)})
        return run_measured(argv, env=env, cwd=self.workdir, timeout=600).check()

    def run_raw(self, sandbox: SandboxProcess, *, pages_only: bool = False) -> ProcessResult:
        """Run the raw client (or, `pages_only`, the trivial page fetcher) as a process."""
        argv = [sys.executable, str(BENCH_DIR / "raw_client.py"), "--api-url", sandbox.api_url]
        if pages_only:
            argv.append("--pages-only")
        return run_measured(argv, env=child_env(), cwd=self.workdir, timeout=600).check()
