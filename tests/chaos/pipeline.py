"""tap-mindzpay piped into target-jsonl through a tee, for the chaos and kill tests.

The tee (a thread between the two processes) keeps a copy of every byte the tap wrote on stdout,
so the tests can scan it for secrets, and can SIGKILL the tap after a given number of lines.
It forwards whole lines only: a line cut by a kill would make target-jsonl fail (it parses each
line), which is the target's problem and not what these tests are about.

What a runner saves as state after a run is the last STATE the target saw: target-jsonl writes
each RECORD to disk before it reads the next line, so every record before that STATE has landed.
(target-jsonl itself re-emits a state only when no RECORD followed it; after a clean run that is
the tap's final STATE, and the chaos runs use exactly that.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from helpers import child_env, compare_with_truth, fold
from helpers.singer import tap_argv

if TYPE_CHECKING:
    from pathlib import Path

    from helpers import Comparison, SandboxProcess

CHANGING = ("invoices", "payments", "subscriptions")
STREAMS = ("accounts", *CHANGING)


@dataclass
class Sync:
    """One tap process piped into target-jsonl."""

    tap_returncode: int
    target_returncode: int
    killed: bool
    lines: int
    last_state_seen: dict[str, Any] | None
    last_state_line: int
    target_state: dict[str, Any] | None
    tap_stdout: bytes
    tap_stderr: str
    target_stderr: str

    def check(self) -> Sync:
        """Raise with both stderr tails unless both processes exited 0."""
        if self.tap_returncode != 0 or self.target_returncode != 0:
            msg = (
                f"tap exited {self.tap_returncode}, target exited {self.target_returncode}\n"
                f"tap stderr (tail):\n{self.tap_stderr[-5000:]}\n"
                f"target stderr (tail):\n{self.target_stderr[-2000:]}"
            )
            raise AssertionError(msg)
        return self


def sync_into_target(  # noqa: PLR0913 - the tap's inputs, the target's, and the kill point
    config: dict[str, Any],
    state: dict[str, Any] | None,
    workdir: Path,
    output: Path,
    target: str,
    *,
    kill_after_lines: int | None = None,
    kill_signal: signal.Signals = signal.SIGKILL,
    timeout: float = 300.0,
) -> Sync:
    """Run ``tap-mindzpay | target-jsonl`` (records appended under ``output``).

    With ``kill_after_lines``, send ``kill_signal`` to the tap once it has written that many
    lines (the lines already in the pipe still reach the target).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    argv, _ = tap_argv(config, workdir, state=state)
    target_config = workdir / "target-config.json"
    target_config.write_text(
        json.dumps({"destination_path": str(output), "do_timestamp_file": False}),
        encoding="utf-8",
    )
    tap_err_path, target_err_path = workdir / "tap.stderr", workdir / "target.stderr"
    target_out_path = workdir / "target.stdout"
    with (
        tap_err_path.open("wb") as tap_err,
        target_err_path.open("wb") as target_err,
        target_out_path.open("wb") as target_out,
    ):
        tap = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=tap_err, stdin=subprocess.DEVNULL,
            env=child_env(), cwd=workdir,
        )  # fmt: skip
        target_proc = subprocess.Popen(
            [target, "--config", str(target_config)],
            stdin=subprocess.PIPE, stdout=target_out, stderr=target_err,
            env=child_env(), cwd=workdir,
        )  # fmt: skip
        copied: list[bytes] = []
        seen: list[Any] = [None, 0]
        killed = threading.Event()
        tee = threading.Thread(
            target=_tee,
            args=(tap,),
            kwargs={
                "target": target_proc,
                "copied": copied,
                "seen": seen,
                "killed": killed,
                "kill_after_lines": kill_after_lines,
                "kill_signal": kill_signal,
            },
        )
        tee.start()
        try:
            tap_code = tap.wait(timeout=timeout)
            tee.join(timeout=timeout)
            target_proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            for process in (tap, target_proc):
                process.kill()
                process.wait()
            raise
        finally:
            tee.join(timeout=30)
    states = [line for line in target_out_path.read_text().splitlines() if line.strip()]
    return Sync(
        tap_returncode=tap_code,
        target_returncode=target_proc.returncode,
        killed=killed.is_set(),
        lines=len(copied),
        last_state_seen=seen[0],
        last_state_line=seen[1],
        target_state=json.loads(states[-1]) if states else None,
        tap_stdout=b"".join(copied),
        tap_stderr=tap_err_path.read_text(encoding="utf-8", errors="replace"),
        target_stderr=target_err_path.read_text(encoding="utf-8", errors="replace"),
    )


def _tee(  # noqa: PLR0913 - the two processes and what the thread reports back
    tap: subprocess.Popen[bytes],
    *,
    target: subprocess.Popen[bytes],
    copied: list[bytes],
    seen: list[Any],
    killed: threading.Event,
    kill_after_lines: int | None,
    kill_signal: signal.Signals,
) -> None:
    assert tap.stdout is not None
    assert target.stdin is not None
    try:
        for line in tap.stdout:
            copied.append(line)
            if not line.endswith(b"\n"):
                break  # cut by the kill: never forwarded
            target.stdin.write(line)
            if line.startswith(b'{"type":"STATE"'):
                seen[0], seen[1] = json.loads(line)["value"], len(copied)
            if kill_after_lines is not None and len(copied) == kill_after_lines:
                os.kill(tap.pid, kill_signal)
                killed.set()
    finally:
        target.stdin.close()
        tap.stdout.close()


def read_landed(output: Path) -> dict[str, list[dict[str, Any]]]:
    """Every record target-jsonl appended, per stream file, in order."""
    landed: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(output.glob("*.jsonl")):
        lines = path.read_text(encoding="utf-8").splitlines()
        landed[path.stem] = [json.loads(line, parse_float=Decimal) for line in lines if line]
    return landed


def compare_landed(sandbox: SandboxProcess, output: Path) -> list[Comparison]:
    """What landed, folded by id (deletion markers drop a record), against the truth."""
    landed = read_landed(output)
    comparisons = []
    for stream in STREAMS:
        folded = fold(landed.get(stream, []), ("id",))
        live = {k: v for k, v in folded.items() if not v.get("_sdc_deleted_at")}
        comparisons.append(compare_with_truth(stream, live, sandbox.truth(stream)))
    return comparisons


def secret_hits(sandbox: SandboxProcess, texts: dict[str, bytes]) -> dict[str, int]:
    """How often the client_secret or any token the sandbox issued occurs in each text."""
    issued = sandbox.admin("GET", "/_sandbox/tokens")
    secrets = [
        issued["client_secret"],
        *issued["access_tokens"],
        *issued["refresh_tokens"],
    ]
    assert issued["client_secret"], issued
    hits: dict[str, int] = {}
    for name, text in texts.items():
        count = sum(text.count(secret.encode()) for secret in secrets if secret)
        if count:
            hits[name] = count
    return hits
