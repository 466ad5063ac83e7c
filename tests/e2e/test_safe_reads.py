"""Reads that agree with the API: capped pages, deletions confirmed by GET, hidden live records,
start_date, 64-bit ids.

Tap and sandbox run as processes. Each test folds what the tap emitted over its runs (a
deletion marker drops the record) and compares it with the sandbox's truth on whole rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from helpers import TRUTH_STREAMS, compare_with_truth, fold_messages, run_tap
from helpers.streams import ACCOUNT_STREAMS

from tap_mindzpay.capture.state import CaptureState

if TYPE_CHECKING:
    from pathlib import Path

    from helpers import SandboxProcess, TapRun

pytestmark = pytest.mark.e2e

DELETED_AT = "_sdc_deleted_at"
INVOICE_GET = "GET /mindzpay/accounts/{account_key}/invoices/{invoice_id}"
INVOICE_REFRESH = "POST /mindzpay/accounts/{account_key}/invoices/{invoice_id}/refresh"
#: A cap well below the tap's page size, and not a divisor of anything the tap asks for.
PAGE_CAP = 37
#: A base past 32 bits, as a platform whose ids come from another range.
ID_BASE = 2**40


def _assert_equals_truth(sandbox: SandboxProcess, messages: list[dict[str, Any]]) -> None:
    folded = fold_messages(messages)
    for stream in TRUTH_STREAMS:
        live = {k: r for k, r in folded.get(stream, {}).items() if not r.get(DELETED_AT)}
        comparison = compare_with_truth(stream, live, sandbox.truth(stream))
        assert comparison.ok, comparison.summary()


def _markers(run: TapRun, stream: str) -> set[int]:
    return {r["id"] for r in run.records(stream) if r.get(DELETED_AT)}


def _deleted_ids(sandbox: SandboxProcess, stream: str) -> set[int]:
    return {d["id"] for d in sandbox.deleted(stream)}


def _requests(sandbox: SandboxProcess, endpoint: str) -> dict[str, int]:
    return dict(sandbox.stats()["requests"].get(endpoint, {}))


def test_a_page_cap_below_the_limit_reads_every_record_and_deletes_only_what_support_deleted(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    sandbox: SandboxProcess = sandbox_factory(seed=31, accounts=2, invoices_per_account=300)
    sandbox.admin("POST", "/_sandbox/faults", body={"page_cap": PAGE_CAP})
    config = sandbox.tap_config(page_size=100, sweep_interval_hours=0)
    first = run_tap(config, workdir=tmp_path / "first").check()
    _assert_equals_truth(sandbox, first.messages)
    assert sandbox.stats()["faults"].get("page_cap", 0) > 0, "the cap never applied"
    sandbox.advance(2 * 24 * 3600)  # new invoices, provider answers, merchant edits, deletions
    sandbox.reset_stats()
    second = run_tap(config, state=first.final_state, workdir=tmp_path / "second").check()
    _assert_equals_truth(sandbox, first.messages + second.messages)
    known = {r["id"] for r in first.records("invoices")}
    deleted = _deleted_ids(sandbox, "invoices") & known
    assert deleted, "the clock moved without deleting a known invoice: nothing to prove"
    assert _markers(second, "invoices") == deleted
    # Each marker was confirmed by a 404: a refresh's (in flight) or a GET's (the sweep), and
    # the sweep asked no GET of a record that exists.
    by_get = _requests(sandbox, INVOICE_GET)
    by_refresh = _requests(sandbox, INVOICE_REFRESH).get("404", 0)
    assert set(by_get) <= {"404"}
    assert by_get.get("404", 0) > 0, "no deletion was left for the sweep to confirm"
    assert by_get.get("404", 0) + by_refresh == len(deleted)


def test_raising_start_date_between_runs_deletes_nothing(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    sandbox: SandboxProcess = sandbox_factory(seed=32, accounts=2, invoices_per_account=300)
    config = sandbox.tap_config(sweep_interval_hours=0)
    first = run_tap(config, workdir=tmp_path / "first").check()
    raised = {**config, "start_date": "2026-06-01T00:00:00-03:00"}
    sandbox.reset_stats()
    second = run_tap(raised, state=first.final_state, workdir=tmp_path / "second").check()
    for stream in ACCOUNT_STREAMS:
        assert _markers(second, stream) == set(), f"{stream}: start_date deleted records"
    assert _requests(sandbox, INVOICE_GET) == {}, "records listed need no confirmation"
    third = run_tap(raised, state=second.final_state, workdir=tmp_path / "third").check()
    assert all(not _markers(third, s) for s in ACCOUNT_STREAMS)
    _assert_equals_truth(sandbox, first.messages + second.messages + third.messages)


def test_ids_past_32_bits_from_a_sparse_range_are_tracked_and_their_state_resumes(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    sandbox: SandboxProcess = sandbox_factory(seed=33, accounts=2, invoices_per_account=200)
    config = sandbox.tap_config(sweep_interval_hours=0)
    first = run_tap(config, workdir=tmp_path / "first").check()
    sandbox.admin("POST", "/_sandbox/faults", body={"id_base": ID_BASE})
    sandbox.advance(2 * 24 * 3600)
    big = {r["id"] for r in sandbox.truth("invoices") if r["id"] >= ID_BASE}
    assert len(big) > 5, "the clock moved without new invoices past the base"
    runs = [first]
    for sync in ("second", "third"):
        run = run_tap(config, state=runs[-1].final_state, workdir=tmp_path / sync).check()
        runs.append(run)
        if sync == "second":
            sandbox.advance(6 * 3600)  # more ids past the base, provider answers, deletions
    messages = [m for run in runs for m in run.messages]
    _assert_equals_truth(sandbox, messages)
    assert big <= {r["id"] for r in runs[1].records("invoices")}
    state = runs[-1].final_state
    assert state is not None
    held: set[int] = set()
    for partition in state["bookmarks"]["invoices"]["partitions"]:
        capture = CaptureState.read(partition, "invoices")
        assert capture.statuses is not None
        held |= set(capture.statuses)
        assert partition["replication_key_value"] >= ID_BASE
    live = {r["id"] for r in sandbox.truth("invoices")}
    assert held == live


def test_invoices_a_list_hides_are_kept_as_they_are_and_only_the_deleted_one_is_marked(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    sandbox: SandboxProcess = sandbox_factory(seed=34, accounts=1, invoices_per_account=120)
    config = sandbox.tap_config(sweep_interval_hours=0)
    first = run_tap(config, workdir=tmp_path / "first").check()
    _assert_equals_truth(sandbox, first.messages)
    ids = sorted(r["id"] for r in sandbox.truth("invoices"))
    hidden = {ids[10], ids[len(ids) // 2]}
    sandbox.admin("POST", "/_sandbox/faults", body={"list_hides": sorted(hidden)})
    # Support deletes exactly one invoice: every len(ids)-th by id order is the newest.
    assert sandbox.admin("POST", "/_sandbox/delete", params={"every": len(ids)}) == {"deleted": 1}
    deleted = _deleted_ids(sandbox, "invoices")
    assert deleted == {ids[-1]}
    sandbox.reset_stats()
    second = run_tap(config, state=first.final_state, workdir=tmp_path / "second").check()
    assert sandbox.stats()["faults"].get("list_hides", 0) > 0, "the list hid nothing"
    assert _markers(second, "invoices") == deleted
    # The deletion was confirmed by a 404 (the sweep's GET, or a refresh's if it was in flight);
    # the hidden ones were found by a GET answering 200.
    by_get = _requests(sandbox, INVOICE_GET)
    assert by_get.get("200", 0) == len(hidden), by_get
    assert by_get.get("404", 0) + _requests(sandbox, INVOICE_REFRESH).get("404", 0) == 1
    folded = fold_messages(second.messages).get("invoices", {})
    emitted = {key: r for key, r in folded.items() if r["id"] in hidden}
    assert {r["id"] for r in emitted.values()} == hidden
    truth = sandbox.truth("invoices")
    # Emitted by this run as they are (whole rows, not only folded in from the first run).
    comparison = compare_with_truth("invoices", emitted, [r for r in truth if r["id"] in hidden])
    assert comparison.ok, comparison.summary()
    _assert_equals_truth(sandbox, first.messages + second.messages)
    state = second.final_state
    assert state is not None
    (partition,) = state["bookmarks"]["invoices"]["partitions"]
    capture = CaptureState.read(partition, "invoices")
    assert capture.statuses is not None
    assert hidden <= set(capture.statuses)
    assert set(capture.statuses) == {r["id"] for r in truth}
