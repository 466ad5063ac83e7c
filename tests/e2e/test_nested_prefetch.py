"""Child lists' first pages fetched ahead change nothing a target sees.

The tap runs as a process against two sandbox processes of the same world (same seed, a school
of many courses and campaigns, frozen clocks): one with ``max_concurrency`` 1 (every child list
requested by its own sync, one after another), one with the default (the first page of each
child list of a page of parents fetched ahead, ``prefetch.ChildPages``). A full sync, then the
same hours of changes in both worlds and an incremental sync from each run's state: the two
outputs must be equal message for message (SCHEMA, RECORD with whole rows, STATE, in order;
only ``time_extracted`` and when a sweep ran, by
the run's clock, differ), and both make the same requests per endpoint (a page fetched
ahead and taken stands in for the child's request; none is wasted).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from helpers import run_tap

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
    sandbox: SandboxProcess, state: dict[str, Any] | None, concurrency: int | None, workdir: Path
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, dict[str, int]]:
    overrides: dict[str, Any] = {"page_size": PAGE_SIZE}
    if concurrency is not None:
        overrides["max_concurrency"] = concurrency
    sandbox.reset_stats()
    run = run_tap(sandbox.tap_config(**overrides), state=state, workdir=workdir).check()
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
