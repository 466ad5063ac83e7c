"""Incremental runs of `tap-mindzpay` as a process: resume from a saved or mid-run state.

No target here: the tap's own messages are folded by primary key, as an upserting target would,
and compared with the sandbox truth. Each test uses a private frozen sandbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from helpers import TRUTH_STREAMS, compare_with_truth, fold_messages, run_tap
from helpers.streams import ACCOUNT_STREAMS

if TYPE_CHECKING:
    from pathlib import Path

    from helpers import SandboxProcess

pytestmark = pytest.mark.e2e


def _ids(messages: list[dict[str, Any]], stream: str) -> list[int]:
    return [m["record"]["id"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]


def _bookmarks(state: dict[str, Any], stream: str) -> dict[str, Any]:
    """Account key -> replication_key_value of each partition of `stream` in `state`."""
    partitions = state.get("bookmarks", {}).get(stream, {}).get("partitions", [])
    return {
        p["context"]["account_key"]: p["replication_key_value"]
        for p in partitions
        if p.get("replication_key_value") is not None
    }


def test_run_with_saved_state_after_clock_advance_emits_the_new_records_and_folds_to_truth(
    fresh_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    config = fresh_sandbox.tap_config()
    first = run_tap(config, workdir=tmp_path / "first").check()
    assert first.final_state, "the full run emitted no STATE"
    before = {stream: {r["id"] for r in fresh_sandbox.truth(stream)} for stream in ACCOUNT_STREAMS}

    applied = fresh_sandbox.advance(3600)
    second = run_tap(config, state=first.final_state, workdir=tmp_path / "second").check()

    truth = {stream: fresh_sandbox.truth(stream) for stream in TRUTH_STREAMS}
    new_ids = {s: {r["id"] for r in truth[s]} - before[s] for s in ACCOUNT_STREAMS}
    assert new_ids["invoices"], f"an hour of simulated time created no invoice: {applied}"
    folded_second = fold_messages(second.messages)
    for stream in ACCOUNT_STREAMS:
        emitted = set(_ids(second.messages, stream))
        assert new_ids[stream] <= emitted, (
            f"{stream}: new ids not emitted by the incremental run: "
            f"{sorted(new_ids[stream] - emitted)[:10]}"
        )
        # The incremental run does not start over: it re-reads far less than the full run did.
        assert len(_ids(second.messages, stream)) < len(_ids(first.messages, stream)) / 2, (
            f"{stream}: incremental run emitted {len(emitted)} records, full run "
            f"{len(_ids(first.messages, stream))}"
        )
        new_records = [r for r in truth[stream] if r["id"] in new_ids[stream]]
        comparison = compare_with_truth(
            stream,
            {k: v for k, v in folded_second.get(stream, {}).items() if k[0] in new_ids[stream]},
            new_records,
        )
        assert comparison.ok, comparison.summary()


def test_run_resumed_from_a_mid_run_state_skips_finished_partitions_and_folds_to_truth(
    fresh_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    config = fresh_sandbox.tap_config()
    full = run_tap(config, workdir=tmp_path / "full").check()
    # The first STATE that bookmarks one account's invoices while records of others still follow:
    # where a killed run would have left its last saved state.
    cut: int | None = None
    for index, message in enumerate(full.messages):
        if message["type"] == "STATE" and _bookmarks(message["value"], "invoices"):
            later_invoices = _ids(full.messages[index:], "invoices")
            if later_invoices:
                cut = index
                break
    assert cut is not None, "no mid-run STATE with an invoices bookmark: cannot test resuming"
    state = full.messages[cut]["value"]
    done = _bookmarks(state, "invoices")

    resumed = run_tap(config, state=state, workdir=tmp_path / "resumed").check()

    invoice_ids_before_cut = _ids(full.messages[:cut], "invoices")
    reread = [
        m["record"]["id"]
        for m in resumed.messages
        if m["type"] == "RECORD"
        and m["stream"] == "invoices"
        and m["record"]["account_key"] in done
        and m["record"]["id"] <= done[m["record"]["account_key"]]
    ]
    assert len(reread) < len(invoice_ids_before_cut) / 2, (
        f"resumed run re-emitted {len(reread)} of the {len(invoice_ids_before_cut)} invoices "
        "already bookmarked: it restarted instead of resuming"
    )
    folded = fold_messages([*full.messages[:cut], *resumed.messages])
    for stream in TRUTH_STREAMS:
        comparison = compare_with_truth(stream, folded.get(stream, {}), fresh_sandbox.truth(stream))
        assert comparison.ok, comparison.summary()
