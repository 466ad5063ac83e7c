"""Child lists' first pages fetched ahead change nothing a target sees.

The tap runs as a process against two sandbox processes of the same world (same seed, a school
of many courses and campaigns, frozen clocks): one with ``max_concurrency`` 1 (every child list
requested by its own sync, one after another), one with the default (the first page of each
child list of a page of parents fetched ahead, ``childpages.ChildPages``). A full sync, then the
same hours of changes in both worlds and an incremental sync from each run's state: the two
outputs must be equal message for message (SCHEMA, RECORD with whole rows, STATE, in order;
only ``time_extracted`` and when a sweep ran, by
the run's clock, differ), and both make the same requests per endpoint (a page fetched
ahead and taken stands in for the child's request; none is wasted).

A SIGTERM while the child lists of a page of parents are in flight (the sandbox adds latency to
every request) stops the tap with a STATE as its last message; the rerun from that STATE lands
every platform stream, nested ones included, equal to the truth on whole rows.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from typing import TYPE_CHECKING, Any

import pytest
from helpers import child_env, compare_with_truth, fold_messages, parse_messages, run_tap
from helpers.singer import tap_argv
from helpers.streams import PLATFORM_STREAMS

if TYPE_CHECKING:
    from pathlib import Path

    from helpers import SandboxProcess

pytestmark = pytest.mark.e2e

#: A school with a few pages of courses and campaigns (as in benchmarks/nested_lists.py).
SCHOOL = ("--courses", "40", "--campaigns", "12")
#: Small pages: several pages of parents, so pages ahead are planned and dropped per page.
PAGE_SIZE = 10


def _without_run_times(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages without what tells the two runs' wall-clock times apart."""
    return [
        _without_sweep_time({k: v for k, v in m.items() if k != "time_extracted"}) for m in messages
    ]


def _without_sweep_time(value: Any) -> Any:
    """``value`` with every ``capture.sweep.at`` (when a sweep ran, by the run's clock) blanked."""
    if isinstance(value, list):
        return [_without_sweep_time(item) for item in value]
    if not isinstance(value, dict):
        return value
    blanked = {key: _without_sweep_time(item) for key, item in value.items()}
    sweep = blanked.get("sweep")
    if isinstance(sweep, dict) and "at" in sweep:
        blanked["sweep"] = {**sweep, "at": "(the run's time)"}
    return blanked


def _requests(sandbox: SandboxProcess) -> dict[str, int]:
    requests = sandbox.stats()["requests"]
    return {template: sum(by_status.values()) for template, by_status in requests.items()}


def _sync(
    sandbox: SandboxProcess,
    state: dict[str, Any] | None,
    concurrency: int | None,
    workdir: Path,
    **settings: Any,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, dict[str, int]]:
    overrides: dict[str, Any] = {"page_size": PAGE_SIZE, **settings}
    if concurrency is not None:
        overrides["max_concurrency"] = concurrency
    sandbox.reset_stats()
    run = run_tap(sandbox.tap_config(**overrides), state=state, workdir=workdir).check()
    ahead = re.findall(r"first pages fetched ahead ([\d,]+) \(unused ([\d,]+)\)", run.stderr)
    if concurrency == 1:
        assert not ahead, "a serial run fetches nothing ahead"
    else:
        # The pages fetched ahead were what the lists asked for first: every one was taken.
        [(taken, unused)] = ahead
        assert int(taken.replace(",", "")) > 0, ahead
        assert unused == "0", ahead
    return _without_run_times(run.messages), run.final_state, _requests(sandbox)


def test_first_pages_fetched_ahead_emit_what_serial_reads_emit_full_and_incremental(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    serial_world = sandbox_factory(seed=11, accounts=1, invoices_per_account=50, extra_args=SCHOOL)
    ahead_world = sandbox_factory(seed=11, accounts=1, invoices_per_account=50, extra_args=SCHOOL)
    assert len(serial_world.truth("courses")) > 2 * PAGE_SIZE, "one page of parents proves little"

    serial, serial_state, serial_requests = _sync(serial_world, None, 1, tmp_path / "s-full")
    ahead, ahead_state, ahead_requests = _sync(ahead_world, None, None, tmp_path / "a-full")
    records = [m for m in serial if m["type"] == "RECORD"]
    assert {m["stream"] for m in records} >= {"course_grades", "course_grade_details"}
    assert ahead == serial
    assert ahead_requests == serial_requests

    assert serial_world.advance(6 * 3600) == ahead_world.advance(6 * 3600)
    serial, _, serial_requests = _sync(serial_world, serial_state, 1, tmp_path / "s-incr")
    ahead, _, ahead_requests = _sync(ahead_world, ahead_state, None, tmp_path / "a-incr")
    assert any(m["type"] == "RECORD" for m in serial), "nothing changed: nothing compared"
    assert ahead == serial
    assert ahead_requests == serial_requests


def test_accounts_children_and_top_level_lists_fetched_ahead_emit_what_serial_reads_emit(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    # Several accounts, account_keys naming some: the accounts' read plans the first page of
    # each selected account's lists (after each partition's bookmark, at its offset hint), the
    # run's first list every top-level list's; none for an account the run leaves out.
    serial_world = sandbox_factory(seed=13, accounts=4, invoices_per_account=60)
    ahead_world = sandbox_factory(seed=13, accounts=4, invoices_per_account=60)
    keys = [account["key"] for account in serial_world.truth("accounts")][1:3]
    serial, serial_state, serial_requests = _sync(
        serial_world, None, 1, tmp_path / "s-full", account_keys=keys
    )
    ahead, ahead_state, ahead_requests = _sync(
        ahead_world, None, None, tmp_path / "a-full", account_keys=keys
    )
    invoices = [m["record"] for m in serial if m["type"] == "RECORD" and m["stream"] == "invoices"]
    accounts = {invoice["account_key"] for invoice in invoices}
    assert accounts == set(keys)
    assert ahead == serial
    assert ahead_requests == serial_requests

    assert serial_world.advance(6 * 3600) == ahead_world.advance(6 * 3600)
    serial, _, serial_requests = _sync(
        serial_world, serial_state, 1, tmp_path / "s-incr", account_keys=keys
    )
    ahead, _, ahead_requests = _sync(
        ahead_world, ahead_state, None, tmp_path / "a-incr", account_keys=keys
    )
    assert any(m["type"] == "RECORD" and m["stream"] == "invoices" for m in serial), "no change"
    assert ahead == serial
    assert ahead_requests == serial_requests


#: Added to every API request: child pages are still in flight when the signal comes.
LATENCY_MS = 50
#: A RECORD of a grade's lessons: the tap is inside the nested reads (courses, grades, lessons).
LESSON_LINE = b'"stream":"course_grade_details"'


def _stopped_in_nested_reads(sandbox: SandboxProcess, workdir: Path) -> tuple[int, str, str]:
    """Run the tap, SIGTERM it once a lesson landed; its exit code, stdout and stderr."""
    sandbox.admin("POST", "/_sandbox/faults", body={"latency_ms": LATENCY_MS})
    argv, _ = tap_argv(sandbox.tap_config(page_size=PAGE_SIZE), workdir)
    out_path, err_path = workdir / "stdout.jsonl", workdir / "stderr.txt"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        tap = subprocess.Popen(
            argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=child_env(), cwd=workdir
        )
        while tap.poll() is None and LESSON_LINE not in out_path.read_bytes():
            time.sleep(0.02)
        tap.send_signal(signal.SIGTERM)
        code = tap.wait(timeout=120)
    sandbox.admin("POST", "/_sandbox/faults", body={"latency_ms": 0})
    return code, out_path.read_text(encoding="utf-8"), err_path.read_text(encoding="utf-8")


def test_sigterm_while_child_pages_are_fetched_ahead_stops_with_a_state_the_rerun_resumes(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    world = sandbox_factory(seed=12, accounts=1, invoices_per_account=50, extra_args=SCHOOL)
    code, stdout, stderr = _stopped_in_nested_reads(world, tmp_path)
    assert code == 128 + signal.SIGTERM, stderr[-3000:]
    assert "Stopped by signal 15" in stderr, stderr[-3000:]
    stopped = parse_messages(stdout)
    assert stopped[-1]["type"] == "STATE", "the last message of a stopped run"
    rerun = run_tap(
        world.tap_config(page_size=PAGE_SIZE),
        state=stopped[-1]["value"],
        workdir=tmp_path / "rerun",
    ).check()
    folded = fold_messages([*stopped, *rerun.messages])
    for stream in PLATFORM_STREAMS:
        comparison = compare_with_truth(stream, folded.get(stream, {}), world.truth(stream))
        assert comparison.ok, comparison.summary()
