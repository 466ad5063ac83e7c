"""Run a child process and measure it: wall time, exit code, peak RSS of that process alone.

Peak RSS comes from `os.wait4` on the child's pid: the kernel's `ru_maxrss` for exactly that
process (the sandbox and other children of the benchmark are not mixed in). A child that
outlives its time limit is killed, so every benchmark step is bounded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from typing_extensions import Self

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence


class StepFailedError(RuntimeError):
    """A measured child process failed or timed out; the message carries its stderr tail."""


@dataclass(frozen=True)
class ProcessResult:
    """One finished child process."""

    argv: list[str]
    returncode: int
    seconds: float
    peak_rss_bytes: int
    stderr: str

    def check(self) -> ProcessResult:
        """Raise with the tail of stderr unless the process exited 0."""
        if self.returncode != 0:
            msg = f"{' '.join(self.argv)} exited {self.returncode}:\n{self.stderr[-4000:]}"
            raise StepFailedError(msg)
        return self


def run_measured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    stdout_path: Path | None = None,
    timeout: float = 600.0,
) -> ProcessResult:
    """Run `argv` to completion with stdout to `stdout_path` (default /dev/null).

    Returns wall seconds from spawn to exit and the child's own peak RSS. The child is spawned
    by a small launcher process (this file run as a script), because a forked child's
    `ru_maxrss` starts from its parent's resident size: forking from the benchmark, which may
    hold a large ground truth in memory, would inflate the figure.
    """
    target = stdout_path or Path(os.devnull)
    with (
        target.open("wb") as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile(suffix=".json") as report,
    ):
        launcher = [sys.executable, __file__, report.name, "--", *argv]
        process = subprocess.Popen(
            launcher,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,  # a timeout kills the launcher and the child together
        )
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            err.seek(0)
            msg = f"{' '.join(argv)} killed after {timeout:.0f}s:\n{_tail(err.read())}"
            raise StepFailedError(msg) from None
        err.seek(0)
        stderr = err.read().decode(errors="replace")
        outcome = json.loads(Path(report.name).read_text(encoding="utf-8") or "{}")
    if process.returncode != 0 or not outcome:
        msg = f"launcher for {' '.join(argv)} failed ({process.returncode}):\n{stderr[-4000:]}"
        raise StepFailedError(msg)
    return ProcessResult(
        list(argv),
        outcome["returncode"],
        outcome["seconds"],
        outcome["maxrss_kib"] * 1024,
        stderr,
    )


def _tail(data: bytes) -> str:
    return data.decode(errors="replace")[-4000:]


def _launch(report: str, argv: list[str]) -> int:
    """Launcher mode: spawn `argv` (inheriting stdio), wait4 it, write what it measured."""
    started = time.perf_counter()
    child = subprocess.Popen(argv)
    # wait4, not Popen.wait: it returns this child's own rusage (ru_maxrss in KiB on Linux).
    _pid, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    outcome = {
        "returncode": os.waitstatus_to_exitcode(status),
        "seconds": seconds,
        "maxrss_kib": usage.ru_maxrss,
    }
    Path(report).write_text(json.dumps(outcome), encoding="utf-8")
    return 0


class CounterSampler:
    """Poll a counter (e.g. the sandbox's request total) in a thread and keep (time, value).

    Used to find when a run's requests started and stopped as the server saw them, so a rate is
    requests over the span they were served in, not over the client's interpreter startup.
    """

    def __init__(self, read: Callable[[], int], interval: float = 0.05) -> None:
        """Sample `read()` every `interval` seconds once started."""
        self._read = read
        self._interval = interval
        self._stop = threading.Event()
        self.samples: list[tuple[float, int]] = []
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            value = self._read()
            self.samples.append((time.perf_counter(), value))
            self._stop.wait(self._interval)

    def __enter__(self) -> Self:
        """Start sampling."""
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        """Stop sampling (one last sample is taken)."""
        self._stop.set()
        self._thread.join(timeout=10)
        self.samples.append((time.perf_counter(), self._read()))

    def active_span(self) -> float:
        """Seconds from the first sample above the initial value to the first at the final one.

        The error is at most two sampling intervals.
        """
        if not self.samples:
            return 0.0
        initial, final = self.samples[0][1], self.samples[-1][1]
        first = next((t for t, v in self.samples if v > initial), None)
        last = next((t for t, v in self.samples if v >= final), None)
        if first is None or last is None:
            return 0.0
        return max(last - first, self._interval)

    def timeline(self, bucket: float = 0.25, buckets: int = 16) -> list[int]:
        """Increments per `bucket` seconds from the first increase on (where the time goes)."""
        if not self.samples:
            return []
        initial = self.samples[0][1]
        start = next((t for t, v in self.samples if v > initial), None)
        if start is None:
            return []
        counts = [0] * buckets
        previous = initial
        for moment, value in self.samples:
            index = int((moment - start) // bucket)
            if 0 <= index < buckets:
                counts[index] += value - previous
            previous = value
        return counts


if __name__ == "__main__":
    # python measure.py REPORT.json -- ARGV...
    sys.exit(_launch(sys.argv[1], sys.argv[3:]))
