"""The MindzPay sandbox as a child process, and a small client for its admin endpoints.

Tests, chaos runs and benchmarks start one with `SandboxProcess.start(...)`, read its ground truth
with `truth(stream)`, move its clock with `advance(seconds)`, and stop it at the end. Every request
goes to the loopback address the sandbox printed; proxies are bypassed on purpose.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from typing_extensions import Self

from .processes import child_env
from .streams import PLATFORM_STREAMS

DEMO_CLIENT_ID = "mindzpay-demo"
DEMO_CLIENT_SECRET = "mindzpay-demo-secret"  # noqa: S105 - the sandbox's documented demo secret
#: Campaign link lists a small world may leave empty (a campaign rarely excludes).
MAY_BE_EMPTY = frozenset({"email_campaign_excluded_courses", "email_campaign_excluded_plans"})

# One opener with no proxy handler: the sandbox is always on 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SandboxError(RuntimeError):
    """The sandbox process failed to start or answered an admin call with an error."""


def sandbox_command() -> list[str]:
    """The argv prefix that starts the sandbox from the venv running the tests."""
    script = Path(sys.executable).parent / "mindzpay-sandbox"
    if script.exists():
        return [str(script)]
    found = shutil.which("mindzpay-sandbox")
    if found:
        return [found]
    return [sys.executable, "-m", "tap_mindzpay.sandbox"]


class SandboxProcess:
    """A running `mindzpay-sandbox` child process and its root URL."""

    def __init__(self, process: subprocess.Popen[str], root: str, stderr_file: IO[str]) -> None:
        """Wrap an already started process; use `SandboxProcess.start` instead."""
        self.process = process
        self.root = root.rstrip("/")
        self._stderr_file = stderr_file
        self.stdout_tail: collections.deque[str] = collections.deque(maxlen=200)
        self._drain = threading.Thread(target=self._drain_stdout, daemon=True)
        self._drain.start()

    @classmethod
    def start(  # noqa: PLR0913 - each knob is a sandbox CLI option
        cls,
        *,
        seed: int = 42,
        accounts: int = 3,
        invoices_per_account: int = 300,
        frozen: bool = True,
        extra_args: tuple[str, ...] = (),
        startup_timeout: float = 60.0,
    ) -> SandboxProcess:
        """Start a sandbox on a free loopback port and wait for its first stdout line (the URL)."""
        argv = [
            *sandbox_command(),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--seed",
            str(seed),
            "--accounts",
            str(accounts),
            "--invoices-per-account",
            str(invoices_per_account),
            *(["--frozen"] if frozen else []),
            *extra_args,
        ]
        stderr_file = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            stdin=subprocess.DEVNULL,
            text=True,
            env=child_env(),
        )
        root = _read_first_line(process, startup_timeout)
        if not root.startswith("http://127.0.0.1:"):
            process.kill()
            process.wait()
            stderr_file.seek(0)
            msg = (
                f"sandbox did not print its root URL as first stdout line; got {root!r}.\n"
                f"argv: {argv}\nstderr:\n{stderr_file.read()[-4000:]}"
            )
            stderr_file.close()
            raise SandboxError(msg)
        sandbox = cls(process, root, stderr_file)
        sandbox.wait_healthy()
        return sandbox

    # -- lifecycle -------------------------------------------------------------------------------

    def _drain_stdout(self) -> None:
        # Keep reading so a chatty sandbox never blocks on a full pipe.
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.stdout_tail.append(line)

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Poll `GET /_sandbox/health` until it answers 200."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                msg = f"sandbox exited with {self.process.returncode}:\n{self.stderr_text()}"
                raise SandboxError(msg)
            try:
                self.admin("GET", "/_sandbox/health")
            except (OSError, SandboxError) as exc:
                last_error = exc
                time.sleep(0.1)
            else:
                return
        msg = f"sandbox at {self.root} not healthy after {timeout}s: {last_error}"
        raise SandboxError(msg)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM the sandbox, wait for it (kill after `timeout`), and return its exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._drain.join(timeout=5)
        if self.process.stdout is not None and not self.process.stdout.closed:
            self.process.stdout.close()
        if not self._stderr_file.closed:
            self._stderr_file.close()
        return self.process.returncode

    def stderr_text(self) -> str:
        """What the sandbox wrote on stderr so far (for failure messages)."""
        if self._stderr_file.closed:
            return ""
        self._stderr_file.flush()
        self._stderr_file.seek(0)
        text = self._stderr_file.read()
        self._stderr_file.seek(0, os.SEEK_END)
        return text

    def __enter__(self) -> Self:
        """Use as a context manager; stops on exit."""
        return self

    def __exit__(self, *_exc: object) -> None:
        """Stop the process."""
        self.stop()

    # -- addresses and configs -------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """The `api_url` setting for a tap talking to this sandbox."""
        return f"{self.root}/api/v2"

    def tap_config(self, **overrides: Any) -> dict[str, Any]:
        """A tap config (dict) for this sandbox with the demo credentials, plus `overrides`."""
        return {
            "api_url": self.api_url,
            "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET,
            **overrides,
        }

    def tap_env(self) -> dict[str, str]:
        """`TAP_MINDZPAY_*` variables pointing a Meltano-run tap at this sandbox."""
        return {
            "TAP_MINDZPAY_SANDBOX": "false",
            "TAP_MINDZPAY_API_URL": self.api_url,
            "TAP_MINDZPAY_CLIENT_ID": DEMO_CLIENT_ID,
            "TAP_MINDZPAY_CLIENT_SECRET": DEMO_CLIENT_SECRET,
            # Sweep every run, so merchant edits and deletions land in the warehouse at once
            # and the tables can be compared with the truth after each run.
            "TAP_MINDZPAY_SWEEP_INTERVAL_HOURS": "0",
        }

    # -- admin endpoints -------------------------------------------------------------------------

    def admin(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        timeout: float = 60.0,
    ) -> Any:
        """Call an admin endpoint and return its JSON body (numbers with a point as Decimal)."""
        url = self.root + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - loopback http only
        try:
            with _OPENER.open(request, timeout=timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:2000]
            msg = f"{method} {url} -> {exc.code}: {detail}"
            raise SandboxError(msg) from exc
        if not raw:
            return None
        return json.loads(raw, parse_float=Decimal)

    def truth(self, stream: str) -> list[dict[str, Any]]:
        """Every live record of `stream` as the API would return it after refreshing now."""
        return list(self.admin("GET", f"/_sandbox/truth/{stream}")["data"])

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move the sandbox clock by `seconds`; returns `{"clock", "applied"}`."""
        return dict(self.admin("POST", "/_sandbox/advance", params={"seconds": seconds}))

    def transitions(self) -> list[dict[str, Any]]:
        """Every invoice status change the sandbox applied."""
        return list(self.admin("GET", "/_sandbox/transitions")["data"])

    def deleted(self, stream: str | None = None) -> list[dict[str, Any]]:
        """Every MindzPay record support deleted (or every deleted record of one `stream`).

        Each is `{"stream", "id", "account_key", "deleted_at"}`; the platform streams (users
        removed on an LGPD request) are logged only per stream, `account_key` null.
        """
        path = "/_sandbox/deleted" + (f"/{stream}" if stream else "")
        return list(self.admin("GET", path)["data"])

    def deleted_everywhere(self) -> list[dict[str, Any]]:
        """Every deleted record: the MindzPay streams' and the platform streams'."""
        return [*self.deleted(), *(d for s in PLATFORM_STREAMS for d in self.deleted(s))]

    def stats(self) -> dict[str, Any]:
        """Request counts by endpoint and status, the refresh log, injected faults."""
        return dict(self.admin("GET", "/_sandbox/stats"))

    def totals(self) -> dict[str, float]:
        """Request and Refresh counts, and first-to-last seconds of each, since the reset."""
        return {k: float(v) for k, v in self.admin("GET", "/_sandbox/stats/totals").items()}

    def reset_stats(self) -> None:
        """Zero the request counters."""
        self.admin("POST", "/_sandbox/stats/reset")


def _read_first_line(process: subprocess.Popen[str], timeout: float) -> str:
    """Read one stdout line from `process` within `timeout` seconds ('' if it never came)."""
    assert process.stdout is not None
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    if not result:
        process.kill()
        process.wait()
        return ""
    return result[0].strip()


# The world most read-only tests share: small, frozen, deterministic.
SHARED_WORLD: dict[str, Any] = {"seed": 42, "accounts": 3, "invoices_per_account": 300}
_shared: list[SandboxProcess] = []


def shared_sandbox() -> SandboxProcess:
    """The one frozen sandbox of this test process, started on first use, stopped at exit.

    Read-only tests share it (reading the truth and syncing do not move a frozen world); a test
    that advances the clock or injects faults must start its own.
    """
    if not _shared or _shared[0].process.poll() is not None:
        import atexit  # noqa: PLC0415

        sandbox = SandboxProcess.start(**SHARED_WORLD)
        atexit.register(sandbox.stop)
        _shared[:] = [sandbox]
    return _shared[0]
