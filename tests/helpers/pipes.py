"""Run `tap-mindzpay | <target>` as two processes, optionally through a tee that can stop the tap.

`pipe_tap_into_target` is the one tap | target runner. Without a `Tee` the tap's stdout is the
target's stdin. With one, a thread between the two keeps a copy of every byte the tap wrote (so a
test can scan it for secrets), remembers the last STATE it forwarded, and can signal the tap after
a given number of lines. It forwards whole lines only: a line cut by a kill would make
target-jsonl fail (it parses each line), which is the target's problem and not what those tests
are about.

`jsonl_target` writes target-jsonl's config; `sync_into_jsonl` is a checked sync into a fresh
target-jsonl output directory and `read_jsonl_dir` reads what target-jsonl appended.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any

from .processes import child_env
from .singer import DEFAULT_TIMEOUT, tap_argv

if TYPE_CHECKING:
    from pathlib import Path

STATE_LINE = b'{"type":"STATE"'


@dataclass
class Tee:
    """Between tap and target: a copy of what the tap wrote; optionally signal it at a line."""

    kill_after_lines: int | None = None
    kill_signal: signal.Signals = signal.SIGKILL
    copied: list[bytes] = field(default_factory=list)
    last_state: dict[str, Any] | None = None  # the last STATE forwarded to the target
    last_state_line: int = 0
    killed: bool = False

    def run(self, tap: subprocess.Popen[bytes], target_stdin: IO[bytes]) -> None:
        """Forward the tap's whole lines to the target until the tap's stdout ends."""
        assert tap.stdout is not None
        try:
            for line in tap.stdout:
                self.copied.append(line)
                if not line.endswith(b"\n"):
                    break  # cut by the kill: never forwarded
                target_stdin.write(line)
                if line.startswith(STATE_LINE):
                    self.last_state = json.loads(line)["value"]
                    self.last_state_line = len(self.copied)
                if self.kill_after_lines is not None and len(self.copied) == self.kill_after_lines:
                    os.kill(tap.pid, self.kill_signal)
                    self.killed = True
        finally:
            target_stdin.close()
            tap.stdout.close()


@dataclass
class PipeRun:
    """A tap piped into a target: both exit codes, both stderrs, the target's stdout."""

    tap_returncode: int
    target_returncode: int
    tap_stderr: str
    target_stderr: str
    target_stdout: str
    tee: Tee | None = None

    def check(self) -> PipeRun:
        """Raise with both stderr tails unless both processes exited 0."""
        if self.tap_returncode != 0 or self.target_returncode != 0:
            msg = (
                f"tap exited {self.tap_returncode}, target exited {self.target_returncode}\n"
                f"tap stderr (tail):\n{self.tap_stderr[-5000:]}\n"
                f"target stderr (tail):\n{self.target_stderr[-4000:]}"
            )
            raise AssertionError(msg)
        return self

    @property
    def target_state(self) -> dict[str, Any] | None:
        """The last state the target emitted (what a runner saves), or None."""
        states = [line for line in self.target_stdout.splitlines() if line.strip()]
        return json.loads(states[-1]) if states else None

    def _tee(self) -> Tee:
        if self.tee is None:
            msg = "this run had no tee"
            raise AssertionError(msg)
        return self.tee

    @property
    def killed(self) -> bool:
        """Whether the tee signalled the tap."""
        return self._tee().killed

    @property
    def lines(self) -> int:
        """How many lines (the last maybe cut) the tap wrote."""
        return len(self._tee().copied)

    @property
    def last_state_seen(self) -> dict[str, Any] | None:
        """The last STATE the tee forwarded to the target."""
        return self._tee().last_state

    @property
    def last_state_line(self) -> int:
        """The line number of that STATE (0: none)."""
        return self._tee().last_state_line

    @property
    def tap_stdout(self) -> bytes:
        """Every byte the tap wrote on stdout."""
        return b"".join(self._tee().copied)


def pipe_tap_into_target(  # noqa: PLR0913 - tap options plus the target's
    config: dict[str, Any],
    target_argv: list[str],
    workdir: Path,
    *,
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    tee: Tee | None = None,
) -> PipeRun:
    """Run `tap-mindzpay ... | <target_argv>` as two processes (through `tee`, if given)."""
    workdir.mkdir(parents=True, exist_ok=True)
    argv, _files = tap_argv(config, workdir, state=state, catalog=catalog)
    paths = {name: workdir / name for name in ("tap.stderr", "target.stderr", "target.stdout")}
    with (
        paths["tap.stderr"].open("wb") as tap_err,
        paths["target.stderr"].open("wb") as target_err,
        paths["target.stdout"].open("wb") as target_out,
    ):
        tap = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=tap_err,
            stdin=subprocess.DEVNULL,
            env=child_env(env),
            cwd=workdir,
        )
        assert tap.stdout is not None
        try:
            target = subprocess.Popen(
                target_argv,
                stdin=tap.stdout if tee is None else subprocess.PIPE,
                stdout=target_out,
                stderr=target_err,
                env=child_env(env),
                cwd=workdir,
            )
        except BaseException:
            tap.kill()
            tap.wait()
            raise
        thread = None
        if tee is None:
            tap.stdout.close()  # the target owns the read end now; the tap sees EPIPE if it dies
        else:
            assert target.stdin is not None
            thread = threading.Thread(target=tee.run, args=(tap, target.stdin))
            thread.start()
        try:
            tap_code = tap.wait(timeout=timeout)
            if thread is not None:
                thread.join(timeout=timeout)
            target_code = target.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            for process in (tap, target):
                process.kill()
                process.wait()
            raise
        finally:
            if thread is not None:
                thread.join(timeout=30)
    text = {name: p.read_text(encoding="utf-8", errors="replace") for name, p in paths.items()}
    return PipeRun(
        tap_code,
        target_code,
        text["tap.stderr"],
        text["target.stderr"],
        text["target.stdout"],
        tee,
    )


def jsonl_target(target: str, workdir: Path, output: Path) -> list[str]:
    """target-jsonl's command line, its config (write into `output`, no timestamp) in `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "target-config.json"
    config.write_text(
        json.dumps({"destination_path": str(output), "do_timestamp_file": False}),
        encoding="utf-8",
    )
    return [target, "--config", str(config)]


def read_jsonl_dir(output: Path) -> dict[str, list[dict[str, Any]]]:
    """Every record target-jsonl appended, per stream file, in order (numbers as Decimal)."""
    landed: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(output.glob("*.jsonl")):
        lines = path.read_text(encoding="utf-8").splitlines()
        landed[path.stem] = [json.loads(line, parse_float=Decimal) for line in lines if line]
    return landed


@dataclass
class JsonlSync:
    """One sync piped into target-jsonl: what it wrote per stream, its last STATE, both runs."""

    rows: dict[str, list[dict[str, Any]]]
    state: dict[str, Any] | None
    piped: PipeRun


def sync_into_jsonl(  # noqa: PLR0913 - the tap's inputs and the target
    config: dict[str, Any],
    target: str,
    workdir: Path,
    *,
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> JsonlSync:
    """``tap-mindzpay | target-jsonl`` into ``workdir/output`` (fresh), checked to exit 0.

    ``rows`` holds every line target-jsonl appended to each stream's file (an append-only
    loader: a record sent twice is two rows); ``state`` is the last STATE it emitted.
    """
    output = workdir / "output"
    output.mkdir(parents=True)
    piped = pipe_tap_into_target(
        config,
        jsonl_target(target, workdir, output),
        workdir,
        state=state,
        catalog=catalog,
        env=env,
    ).check()
    return JsonlSync(read_jsonl_dir(output), piped.target_state, piped)
