"""Kill the tap mid-sync and resume it: what a target would have kept, and where to resume.

A target that commits at each STATE (Meltano saves it) keeps, after a kill, every whole line the
tap wrote; the next run resumes from the last STATE among them, or from the state the killed run
started with when it wrote none. `KilledAndResumed` runs the usual prologue (a checked full sync,
the clock moved, every request slowed so that a kill lands inside a phase), hands out the command
line of each run to kill, keeps what each killed run wrote, and ends with a checked clean run.
"""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING, Any

from .processes import child_env
from .singer import parse_messages, run_tap, tap_argv

if TYPE_CHECKING:
    from pathlib import Path

    from .sandbox import SandboxProcess
    from .singer import TapRun

Message = dict[str, Any]


def last_state(messages: list[Message], previous: dict[str, Any] | None) -> dict[str, Any] | None:
    """The value of the last STATE among `messages`, or `previous` when there is none."""
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    return states[-1] if states else previous


class KilledAndResumed:
    """Runs of one tap config against one sandbox, killed and resumed from the last STATE."""

    def __init__(self, sandbox: SandboxProcess, config: dict[str, Any]) -> None:
        """No run yet: no messages, no state."""
        self.sandbox, self.config = sandbox, config
        #: Every message the runs so far wrote (a killed run's whole lines only), in order.
        self.messages: list[Message] = []
        self.state: dict[str, Any] | None = None

    @classmethod
    def after_first_sync(
        cls,
        sandbox: SandboxProcess,
        config: dict[str, Any],
        *,
        advance_seconds: float,
        latency_ms: float,
    ) -> KilledAndResumed:
        """A checked full sync; then the clock moves and every API request is slowed."""
        runs = cls(sandbox, config)
        first = run_tap(config).check()
        runs.messages += first.messages
        runs.state = first.final_state
        sandbox.advance(advance_seconds)
        sandbox.admin("POST", "/_sandbox/faults", body={"latency_ms": latency_ms})
        return runs

    def argv(self, workdir: Path) -> list[str]:
        """The next run's command line, from the current state (its files in a new `workdir`)."""
        workdir.mkdir()
        argv, _ = tap_argv(self.config, workdir, state=self.state)
        return argv

    def killed(self, seen: list[Message]) -> None:
        """A killed run wrote `seen`: keep it, and resume from its last STATE."""
        self.messages += seen
        self.state = last_state(seen, self.state)

    def killed_after_state(self, workdir: Path, states: int) -> bool:
        """Run from the current state and SIGKILL the tap as it writes its `states`-th STATE.

        What it wrote up to that STATE is kept and the next run resumes from it (``killed``).
        Returns False, keeping nothing, when the run ended before writing that many.
        """
        argv = self.argv(workdir)
        lines: list[bytes] = []
        written = 0
        with (workdir / "tap.stderr").open("wb") as stderr:
            tap = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
                env=child_env(), cwd=workdir,
            )  # fmt: skip
            assert tap.stdout is not None
            for line in tap.stdout:
                lines.append(line)
                if json.loads(line).get("type") == "STATE":
                    written += 1
                    if written == states:
                        tap.kill()
                        break
            tap.stdout.close()
            tap.wait()
        if written < states:
            return False
        self.killed(parse_messages(b"".join(lines).decode()))
        return True

    def finish(self) -> TapRun:
        """Faults off, then one clean run from the current state (checked; not in `messages`)."""
        self.sandbox.admin("POST", "/_sandbox/faults", body={})
        return run_tap(self.config, state=self.state).check()
