"""``start_date`` and ``account_keys`` end to end: the tap as a process against the sandbox.

``start_date`` filters the records of the per-account streams by ``created_at`` (never the
accounts, the parents of every partition): nothing created before it lands, in the first run or
in a later run that sweeps; everything created at or after it lands, equal to the truth; the
status history holds exactly the invoices that landed. ``account_keys`` matching no visible
account fails the run with the connection check's line.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest
from helpers import compare_with_truth, fold_messages, run_tap
from helpers.streams import ACCOUNT_STREAMS

if TYPE_CHECKING:
    from pathlib import Path

    from helpers import SandboxProcess, TapRun

pytestmark = pytest.mark.e2e

#: Mid-way through the sandbox world (November 2025 to October 2026), in Brazil time.
START_DATE = "2026-06-01T00:00:00-03:00"
START = datetime.fromisoformat(START_DATE)


def created(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["created_at"])


def live_records(run: TapRun, stream: str) -> list[dict[str, Any]]:
    """Emitted records of ``stream`` that are not deletion markers."""
    return [r for r in run.records(stream) if r.get("_sdc_deleted_at") is None]


def assert_nothing_before_start(run: TapRun) -> None:
    for stream in ACCOUNT_STREAMS:
        early = [r["id"] for r in live_records(run, stream) if created(r) < START]
        assert early == [], f"{stream}: ids created before start_date landed: {early[:10]}"


def test_start_date_filters_child_records_by_created_at_and_keeps_every_account(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    sandbox: SandboxProcess = sandbox_factory(seed=21, accounts=3, invoices_per_account=300)
    # Every settled invoice back in flight (status 1), early ones too: the refresh phase has
    # work on both sides of start_date.
    sandbox.admin("POST", "/_sandbox/in_flight", params={"count": 10_000})
    truth = {stream: sandbox.truth(stream) for stream in ("accounts", *ACCOUNT_STREAMS)}
    # The case that used to sync nothing: every account was created before start_date.
    assert all(created(account) < START for account in truth["accounts"])
    for stream in ACCOUNT_STREAMS:
        kept = [r for r in truth[stream] if created(r) >= START]
        assert 0 < len(kept) < len(truth[stream]), f"{stream}: start_date splits nothing"

    config = sandbox.tap_config(start_date=START_DATE)
    run = run_tap(config, workdir=tmp_path / "first").check()

    folded = fold_messages(run.messages)
    accounts = compare_with_truth("accounts", folded.get("accounts", {}), truth["accounts"])
    assert accounts.ok, accounts.summary()
    assert_nothing_before_start(run)
    for stream in ACCOUNT_STREAMS:
        expected = [r for r in truth[stream] if created(r) >= START]
        comparison = compare_with_truth(stream, folded.get(stream, {}), expected)
        assert comparison.ok, comparison.summary()
    # Change capture never saw the early invoices: none of them was refreshed ...
    early_ids = {r["id"] for r in truth["invoices"] if created(r) < START}
    refreshed = {entry["invoice_id"] for entry in sandbox.stats()["refreshes"]}
    assert refreshed, "no invoice was refreshed: the in-flight path was not exercised"
    assert not refreshed & early_ids
    # ... and the status history holds exactly the invoices that landed.
    landed = {r["id"] for r in run.records("invoices")}
    changes = run.records("invoice_status_changes")
    assert {c["invoice_id"] for c in changes} == landed
    assert {c["invoice_id"] for c in changes if c["via"] == "new"} == landed
    assert {c["invoice_id"] for c in changes if c["via"] != "new"} <= refreshed

    # A day later, with a sweep: merchant edits of early records stay out, new ones land.
    sandbox.advance(24 * 3600)
    later = run_tap(
        {**config, "sweep_interval_hours": 0},
        state=run.final_state,
        workdir=tmp_path / "second",
    ).check()
    assert live_records(later, "invoices"), "the second run emitted no invoice"
    assert_nothing_before_start(later)
    markers = {r["id"] for r in later.records("invoices") if r.get("_sdc_deleted_at")}
    assert markers <= landed, "a deletion marker for an invoice that never landed"
    later_landed = landed | {r["id"] for r in live_records(later, "invoices")}
    assert {c["invoice_id"] for c in later.records("invoice_status_changes")} <= later_landed
    folded = fold_messages(run.messages + later.messages)
    for stream in ACCOUNT_STREAMS:
        expected = [r for r in sandbox.truth(stream) if created(r) >= START]
        live = {k: r for k, r in folded.get(stream, {}).items() if not r.get("_sdc_deleted_at")}
        comparison = compare_with_truth(stream, live, expected)
        assert comparison.ok, comparison.summary()


def test_start_date_after_every_record_lands_the_accounts_and_moves_the_bookmarks(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    config = sandbox.tap_config(start_date="2027-01-01T00:00:00-03:00")
    run = run_tap(config, workdir=tmp_path / "first").check()
    accounts = sandbox.truth("accounts")
    folded = fold_messages(run.messages)
    comparison = compare_with_truth("accounts", folded.get("accounts", {}), accounts)
    assert comparison.ok, comparison.summary()
    for stream in ACCOUNT_STREAMS:
        assert run.records(stream) == [], f"{stream}: records created before start_date"
    assert run.records("invoice_status_changes") == []
    # What was read moves the id bookmark: the next run lists nothing it listed already.
    assert run.final_state is not None
    for stream in ACCOUNT_STREAMS:
        owner = "account_id" if stream == "subscriptions" else "account_key"
        newest: dict[Any, int] = {}
        for record in sandbox.truth(stream):
            key = record[owner]
            newest[key] = max(newest.get(key, 0), record["id"])
        partitions = run.final_state["bookmarks"][stream]["partitions"]
        bookmarks = {p["context"][owner]: p["replication_key_value"] for p in partitions}
        assert bookmarks == newest, stream


def test_account_keys_matching_no_visible_account_fail_with_the_check_line(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    config = sandbox.tap_config(account_keys=["acc_nope", "acc_typo"])
    run = run_tap(config, workdir=tmp_path)
    assert run.returncode != 0
    assert run.records() == []
    last = run.stderr.strip().splitlines()[-1]
    assert "ERROR" in last
    assert "credential accepted, 3 MindzPay accounts visible: " in last
    assert (
        "but setting account_keys names accounts this credential cannot see: acc_nope, acc_typo"
    ) in last
    assert "Traceback" not in run.stderr


def test_account_keys_partly_visible_sync_those_with_a_warning(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    key = sandbox.truth("accounts")[0]["key"]
    run = run_tap(sandbox.tap_config(account_keys=[key, "acc_nope"]), workdir=tmp_path).check()
    assert {r["key"] for r in run.records("accounts")} == {key}
    assert {r["account_key"] for r in run.records("invoices")} == {key}
    assert "WARNING" in run.stderr
    assert "Setting account_keys names accounts this credential cannot see: ['acc_nope']" in (
        run.stderr
    )
