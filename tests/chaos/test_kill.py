"""kill -9 at seeded random points of full and incremental syncs; the reruns lose nothing.

Two scenarios run side by side, each with its own sandbox process (2 accounts x 400 invoices,
frozen clock). A scenario kills a full sync three times, then lets it finish, moves the clock a
day (new records, provider decisions, merchant edits, deletions) and kills the incremental sync
three times before letting it finish. Every kill is a SIGKILL of the tap process once it has
written a seeded random number of lines, drawn from what is left of the sync (estimated from
what has not landed yet); the target (target-jsonl) reads what the tap wrote up to the kill, and
the next run resumes from the last STATE the target saw (or the previous run's state if it saw
none). At the end, everything that landed, folded by id, equals the sandbox truth.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from chaos.pipeline import STREAMS, compare_landed, sync_into_target
from helpers import (
    SandboxProcess,
    child_env,
    compare_with_truth,
    fold_messages,
    parse_messages,
    run_tap,
)
from helpers.singer import tap_argv

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KILLS_PER_PHASE = 3
TAP_SETTINGS = {"page_size": 50, "max_concurrency": 4, "sweep_interval_hours": 0}


@dataclass
class Scenario:
    seed: int
    kills: list[tuple[str, int, int]] = field(default_factory=list)  # (phase, line, of about)
    problems: list[str] = field(default_factory=list)


def _left_to_land(sandbox: SandboxProcess, output: Path) -> int:
    """Records not yet landed or landed stale: about the lines a sync still has to write."""
    return sum(
        len(c.missing) + len(c.stale_keys) + len(c.extra) for c in compare_landed(sandbox, output)
    )


def run_phase(  # noqa: PLR0913 - one phase of one scenario
    scenario: Scenario,
    phase: str,
    *,
    config: dict[str, Any],
    state: dict[str, Any] | None,
    sandbox: SandboxProcess,
    workdir: Path,
    target: str,
) -> dict[str, Any] | None:
    """Kill the phase's sync KILLS_PER_PHASE times, then let it finish; return its final state."""
    rng = random.Random(f"{scenario.seed}-{phase}")  # noqa: S311 - seeded kill points
    output = workdir / "output"
    attempt = 0
    while True:
        attempt += 1
        left = _left_to_land(sandbox, output)
        # SCHEMA lines come first; a kill anywhere from there to near the end of what is left.
        kill_at = None
        if _phase_kills(scenario, phase) < KILLS_PER_PHASE:
            kill_at = rng.randint(3, max(4, int(left * 0.9)))
        sync = sync_into_target(
            config, state, workdir / f"{phase}-{attempt}", output, target, kill_after_lines=kill_at
        )
        if sync.killed:
            scenario.kills.append((phase, sync.lines, left))
            if sync.tap_returncode != -signal.SIGKILL:
                scenario.problems.append(f"{phase} #{attempt}: exit {sync.tap_returncode}")
            state = sync.last_state_seen or state
            continue
        try:
            sync.check()
        except AssertionError as exc:
            scenario.problems.append(f"{phase} #{attempt}: {exc}")
            return None
        return sync.target_state


def _phase_kills(scenario: Scenario, phase: str) -> int:
    return sum(1 for kill in scenario.kills if kill[0] == phase)


def kill_scenario(seed: int, workdir: Path, target: str) -> Scenario:
    scenario = Scenario(seed)
    with SandboxProcess.start(seed=seed, accounts=2, invoices_per_account=400) as sandbox:
        config = sandbox.tap_config(**TAP_SETTINGS)
        where = {"config": config, "sandbox": sandbox, "workdir": workdir, "target": target}
        state = run_phase(scenario, "full", state=None, **where)
        if state is not None:
            sandbox.advance(24 * 3600)
            run_phase(scenario, "incremental", state=state, **where)
        scenario.problems += [
            c.summary() for c in compare_landed(sandbox, workdir / "output") if not c.ok
        ]
    return scenario


def test_ten_kill_9_at_seeded_points_then_rerun_from_target_state_lose_nothing(
    target_jsonl, tmp_path
):
    with ThreadPoolExecutor(2) as pool:
        scenarios = list(
            pool.map(
                lambda seed: kill_scenario(seed, tmp_path / f"seed-{seed}", target_jsonl),
                (101, 202),
            )
        )
    print({s.seed: s.kills for s in scenarios})  # noqa: T201 - the kill points, for the record
    failures = [f"seed {s.seed}: " + "\n".join(s.problems) for s in scenarios if s.problems]
    assert not failures, "\n\n".join(failures)[:20000]
    kills = [kill for s in scenarios for kill in s.kills]
    assert len(kills) >= 10, kills
    assert {phase for phase, _, _ in kills} == {"full", "incremental"}, kills


def test_sigterm_writes_a_state_to_resume_from_and_the_rerun_loses_nothing(target_jsonl, tmp_path):
    rng = random.Random(303)  # noqa: S311 - seeded stop points
    with SandboxProcess.start(seed=303, accounts=2, invoices_per_account=400) as sandbox:
        config = sandbox.tap_config(**TAP_SETTINGS)
        output = tmp_path / "output"
        state = None
        stops = []
        for attempt in range(3):
            left = _left_to_land(sandbox, output)
            stop_at = rng.randint(50, max(51, int(left * 0.8)))
            sync = sync_into_target(
                config, state, tmp_path / f"term-{attempt}", output, target_jsonl,
                kill_after_lines=stop_at, kill_signal=signal.SIGTERM,
            )  # fmt: skip
            assert sync.killed, f"the sync ended before line {stop_at}"
            assert sync.tap_returncode == 128 + signal.SIGTERM, sync.tap_stderr[-3000:]
            if "Stopped by signal 15 before the next request; the STATE just" in sync.tap_stderr:
                last = sync.tap_stdout.decode().splitlines()[-1]
                assert last.startswith('{"type":"STATE"'), "the last message of a stopped run"
                stops.append((sync.lines, left, "STATE written"))
            else:  # stopped in a refresh worker: the last checkpoint's STATE stands
                assert "Stopped by signal 15 while refreshing; the last STATE written" in (
                    sync.tap_stderr
                )
                stops.append((sync.lines, left, "refreshing"))
            state = sync.last_state_seen
        sync_into_target(config, state, tmp_path / "final", output, target_jsonl).check()
        comparisons = compare_landed(sandbox, output)
    assert all(c.ok for c in comparisons), "\n".join(c.summary() for c in comparisons)
    print("SIGTERM stops (line, of about):", stops)  # noqa: T201


#: The sandbox's Retry-After once faults begin (the longest the tap honours): a tap that waited
#: it out would stop five minutes late. The test tells the two apart, not how fast a stop is.
RETRY_AFTER_SECONDS = 300


def test_sigterm_during_a_retry_wait_stops_at_once_with_a_state_to_resume_from(tmp_path):
    """SIGTERM while the tap waits a long Retry-After: it stops at once, resumably.

    Faults begin a little into the sync (after 300 lines); where the tap is then depends on
    the machine's load: listing in the main thread (it writes a STATE and stops) or refreshing
    in worker threads (they stop; the last checkpoint's STATE stands). Both must stop at once.
    """
    with SandboxProcess.start(seed=404, accounts=2, invoices_per_account=300) as sandbox:
        config = sandbox.tap_config(max_retries=20, page_size=50)
        argv, _ = tap_argv(config, tmp_path)
        out_path, err_path = tmp_path / "stdout.jsonl", tmp_path / "stderr.txt"
        announced = f"retry 1/20 in {RETRY_AFTER_SECONDS:.1f} s"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            tap = subprocess.Popen(
                argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=child_env(),
                cwd=tmp_path,
            )  # fmt: skip
            deadline = time.monotonic() + 120
            faulted = False
            while time.monotonic() < deadline and tap.poll() is None:
                if not faulted and out_path.read_bytes().count(b"\n") > 300:
                    # From here every API request is throttled with a two-minute Retry-After.
                    faults = {"http_429": 1, "retry_after": RETRY_AFTER_SECONDS}
                    sandbox.admin("POST", "/_sandbox/faults", body=faults)
                    faulted = True
                if announced in err_path.read_text(encoding="utf-8", errors="replace"):
                    break  # now waiting RETRY_AFTER_SECONDS before its retry
                time.sleep(0.05)
            signalled = time.monotonic()
            tap.send_signal(signal.SIGTERM)
            code = tap.wait(timeout=RETRY_AFTER_SECONDS + 60)
            stopped_after = time.monotonic() - signalled
        stderr = err_path.read_text(encoding="utf-8")
        assert faulted
        assert announced in stderr
        assert code == 128 + signal.SIGTERM, stderr[-3000:]
        assert stopped_after < RETRY_AFTER_SECONDS, (
            f"the stop waited for the retry: {stopped_after:.1f} s"
        )
        assert "retry 2/20" not in stderr, "a request was retried after the signal"
        first = parse_messages(out_path.read_text(encoding="utf-8"))
        if "Stopped by signal 15 before the next request; the STATE just written" in stderr:
            assert first[-1]["type"] == "STATE", "the last message of a stopped run"
        else:  # stopped in a refresh worker: the last checkpoint's STATE stands
            assert "Stopped by signal 15 while refreshing; the last STATE written" in stderr
        states = [m["value"] for m in first if m["type"] == "STATE"]
        assert states, "a STATE to resume from"
        sandbox.admin("POST", "/_sandbox/faults", body={})
        rerun = run_tap(config, state=states[-1], workdir=tmp_path / "rerun").check()
        folded = fold_messages(first + rerun.messages)
        for stream in STREAMS:
            comparison = compare_with_truth(stream, folded.get(stream, {}), sandbox.truth(stream))
            assert comparison.ok, comparison.summary()
