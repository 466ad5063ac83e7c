"""Start and stop the embedded MindzPay sandbox as a child process (setting ``sandbox: true``).

The sandbox is a separate wing of the package: this module imports nothing from it and talks to
it only through its command line (``python -m tap_mindzpay.sandbox``): the first stdout line is
the root URL. The process is stopped when the tap exits, also on errors: the caller's
``try/finally``, an ``atexit`` hook, and on Linux a parent-death signal if the tap is killed.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import subprocess
import sys
import threading
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

logger = logging.getLogger(__name__)

#: Seconds to wait for the sandbox's first stdout line, and for it to stop on SIGTERM.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
_PR_SET_PDEATHSIG = 1


class SandboxLaunchError(RuntimeError):
    """The embedded sandbox did not start."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask Linux to SIGTERM the sandbox if the tap dies without cleaning up (SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, 15)


def _read_first_line(stream: IO[str], timeout: float) -> str | None:
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return line[0].strip() if line else None


class EmbeddedSandbox:
    """One sandbox process: ``start()`` returns its root URL, ``stop()`` ends it.

    Args:
        db: SQLite file of a persistent world (setting ``sandbox_db``); in-memory if ``None``.
        extra_args: More command-line options for the sandbox.
    """

    def __init__(self, *, db: Path | str | None = None, extra_args: tuple[str, ...] = ()) -> None:
        """Prepare; nothing starts until ``start()``."""
        self._db = db
        self._extra_args = extra_args
        self._process: subprocess.Popen[str] | None = None
        self._drain: threading.Thread | None = None
        self.root_url: str | None = None

    @property
    def command(self) -> list[str]:
        """The sandbox command line."""
        args = [sys.executable, "-m", "tap_mindzpay.sandbox", "--port", "0", "--catch-up"]
        if self._db:
            args += ["--db", str(self._db)]
        return [*args, *self._extra_args]

    def start(self) -> str:
        """Start the process (once) and return its root URL, e.g. ``http://127.0.0.1:41235``.

        Raises:
            SandboxLaunchError: The process exited or printed no URL in time.
        """
        if self.root_url is not None:
            return self.root_url
        in_main_thread = threading.current_thread() is threading.main_thread()
        self._process = subprocess.Popen(  # noqa: S603 - fixed argv, our own module
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=None,  # the sandbox's own log lines go to the tap's stderr
            text=True,
            preexec_fn=_die_with_parent if in_main_thread and sys.platform == "linux" else None,  # noqa: PLW1509 - only a prctl call
        )
        atexit.register(self.stop)
        assert self._process.stdout is not None  # noqa: S101 - stdout=PIPE above
        line = _read_first_line(self._process.stdout, START_TIMEOUT)
        if not line or not line.startswith("http"):
            self.stop()
            msg = (
                "the embedded MindzPay sandbox did not start (setting sandbox: true); "
                f"its output was {line!r} - see its error above, or check sandbox_db"
            )
            raise SandboxLaunchError(msg)
        self.root_url = line.rstrip("/")
        # Keep reading stdout so that a chatty sandbox never blocks on a full pipe.
        stdout = self._process.stdout
        self._drain = threading.Thread(target=lambda: all(stdout), daemon=True)
        self._drain.start()
        logger.info("Started the embedded MindzPay sandbox at %s", self.root_url)
        return self.root_url

    def stop(self) -> None:
        """Stop the process: SIGTERM (it saves its world), then SIGKILL if it hangs."""
        process, self._process = self._process, None
        self.root_url = None
        if process is None:
            return
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)
        drain, self._drain = self._drain, None
        if drain is not None:
            drain.join(STOP_TIMEOUT)
        if process.stdout is not None:
            process.stdout.close()
        logger.info("Stopped the embedded MindzPay sandbox.")
