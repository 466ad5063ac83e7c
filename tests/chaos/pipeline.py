"""tap-mindzpay piped into target-jsonl through a tee, for the chaos and kill tests.

The tee (`helpers.Tee`, a thread between the two processes) keeps a copy of every byte the tap
wrote on stdout, so the tests can scan it for secrets, and can signal the tap after a given number
of lines; it forwards whole lines only.

What a runner saves as state after a run is the last STATE the target saw: target-jsonl writes
each RECORD to disk before it reads the next line, so every record before that STATE has landed.
(target-jsonl itself re-emits a state only when no RECORD followed it; after a clean run that is
the tap's final STATE, and the chaos runs use exactly that.)
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any

from helpers import (
    TRUTH_STREAMS,
    Tee,
    compare_with_truth,
    fold,
    jsonl_target,
    pipe_tap_into_target,
    read_jsonl_dir,
)

if TYPE_CHECKING:
    from pathlib import Path

    from helpers import Comparison, PipeRun, SandboxProcess

#: Every stream compared with the truth: the MindzPay ones and the platform ones.
STREAMS = TRUTH_STREAMS


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
) -> PipeRun:
    """Run ``tap-mindzpay | target-jsonl`` through a tee (records appended under ``output``).

    With ``kill_after_lines``, send ``kill_signal`` to the tap once it has written that many
    lines (the lines already in the pipe still reach the target).
    """
    return pipe_tap_into_target(
        config,
        jsonl_target(target, workdir, output),
        workdir,
        state=state,
        timeout=timeout,
        tee=Tee(kill_after_lines, kill_signal),
    )


def compare_landed(sandbox: SandboxProcess, output: Path) -> list[Comparison]:
    """What landed, folded by id (deletion markers drop a record), against the truth."""
    landed = read_jsonl_dir(output)
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
