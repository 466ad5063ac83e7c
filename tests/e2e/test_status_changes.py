"""`invoice_status_changes` end to end, and SIGKILL in each phase of an incremental sync.

Tap and sandbox run as processes. The sandbox logs every visible status change it applies
(`/_sandbox/transitions`: MindzPay hands an invoice to the provider, the provider's answer made
visible by a refresh, merchants cancelling and reissuing). Between two syncs an invoice may move
more than once (reissued, then handed to the provider); the tap can only see where it went, so
per sync and invoice the tap's transitions, chained, must equal the sandbox's, chained: from the
status the invoice had after the previous sync (none for a new invoice) to the status it has now.
Those syncs are piped into target-jsonl, and what it wrote, folded by primary key, must equal the
truth after every sync.

The kill test SIGKILLs the tap at the first status change it writes in each phase of one
incremental sync (new records, refresh, sweep) and resumes from the last complete STATE line it
wrote, which is what a target that commits at each STATE (Meltano saves it) would have kept.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections import Counter
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from helpers import KilledAndResumed, compare_with_truth, sync_into_jsonl
from helpers.fold import fold
from helpers.streams import ACCOUNT_STREAMS, CHANGES_STREAM

if TYPE_CHECKING:
    from pathlib import Path

    from helpers import SandboxProcess

pytestmark = pytest.mark.e2e
Chain = dict[int, tuple[int | None, int]]


def _records(messages: list[dict[str, Any]], stream: str) -> list[dict[str, Any]]:
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]


def _chain(changes: list[dict[str, Any]]) -> Chain:
    """Per invoice: (first from_status, last to_status) of a run of transitions, if it moved."""
    chained: dict[int, tuple[int | None, int]] = {}
    for change in changes:
        invoice = change["invoice_id"]
        first = chained[invoice][0] if invoice in chained else change["from_status"]
        chained[invoice] = (first, change["to_status"])
    return {k: v for k, v in chained.items() if v[0] != v[1]}


def _expected_chain(
    before: dict[int, int], transitions: list[dict[str, Any]], after: dict[int, int]
) -> Chain:
    """What the sandbox did to each invoice between two snapshots, chained the same way."""
    chained: dict[int, tuple[int | None, int]] = {
        invoice: (None, status) for invoice, status in after.items() if invoice not in before
    }
    for transition in transitions:
        invoice = transition["invoice_id"]
        if invoice in before and invoice not in chained:
            # The sandbox's log and its truth agree on where the invoice started.
            assert transition["from_status"] == before[invoice], transition
            chained[invoice] = (before[invoice], transition["to_status"])
        elif invoice in chained:
            chained[invoice] = (chained[invoice][0], transition["to_status"])
    for invoice, (first, _) in list(chained.items()):
        if invoice not in after:
            del chained[invoice]  # deleted: the invoice stream carries the deletion marker
        else:
            chained[invoice] = (first, after[invoice])
    return {k: v for k, v in chained.items() if v[0] != v[1]}


def _statuses(sandbox: SandboxProcess) -> dict[int, int]:
    return {r["id"]: r["status"] for r in sandbox.truth("invoices")}


def _live(messages: list[dict[str, Any]], stream: str) -> dict[Any, dict[str, Any]]:
    folded = fold(_records(messages, stream), ("id",))
    return {k: v for k, v in folded.items() if not v.get("_sdc_deleted_at")}


def _assert_equals_truth(sandbox: SandboxProcess, messages: list[dict[str, Any]]) -> None:
    for stream in ACCOUNT_STREAMS:
        comparison = compare_with_truth(stream, _live(messages, stream), sandbox.truth(stream))
        assert comparison.ok, comparison.summary()


def test_status_changes_match_the_transitions_the_sandbox_applied(
    sandbox_factory, target_jsonl, tmp_path
):
    sandbox = sandbox_factory(seed=21, accounts=3, invoices_per_account=300)
    config = sandbox.tap_config(sweep_interval_hours=0)
    state, before, logged = None, {}, 0
    keys: Counter[tuple[Any, ...]] = Counter()
    vias: Counter[str] = Counter()
    applied: Counter[str] = Counter()
    landed: dict[str, list[dict[str, Any]]] = {}
    for sync in range(3):
        sandbox.reset_stats()
        synced = sync_into_jsonl(config, target_jsonl, tmp_path / f"sync{sync}", state=state)
        rows, state = synced.rows, synced.state
        refreshes = sandbox.stats()["refreshes"]
        assert refreshes or sync == 0, "a sync after a clock advance refreshes the in-flight"
        assert {r["status_before"] for r in refreshes} <= {0, 1, 4}, "refresh only in flight"
        for stream, stream_rows in rows.items():
            landed.setdefault(stream, []).extend(stream_rows)
        # What target-jsonl holds, folded by primary key, equals the truth after every sync.
        for stream in ("accounts", *ACCOUNT_STREAMS):
            folded = fold(landed[stream], ("id",))
            live = {k: v for k, v in folded.items() if not v.get("_sdc_deleted_at")}
            comparison = compare_with_truth(stream, live, sandbox.truth(stream))
            assert comparison.ok, f"sync {sync + 1}: {comparison.summary()}"
        changes = rows.get(CHANGES_STREAM, [])
        after = _statuses(sandbox)
        transitions = sandbox.transitions()
        expected = _expected_chain(before, transitions[logged:], after)
        assert _chain(changes) == expected, f"sync {sync + 1}"
        for change in changes:
            keys[change["invoice_id"], change["to_status"], change["observed_at"]] += 1
            vias[change["via"]] += 1
            assert change["to_status_label"], change
            assert (change["from_status"] is None) == (change["from_status_label"] is None)
        if sync == 0:
            # The first sync sees every invoice once as new (and refreshes the in-flight).
            assert {c["invoice_id"] for c in changes if c["via"] == "new"} == set(after)
        before, logged = after, len(transitions)
        applied.update(sandbox.advance(8 * 3600)["applied"])
    assert {"new", "refresh", "sweep"} <= set(vias), vias
    assert max(keys.values()) == 1, "a transition is written once (primary key unique)"
    for kind in ("provider_decides", "merchant_cancel", "merchant_reissue", "handed_to_provider"):
        assert applied[kind] > 0, kind


def _run_until_killed(
    argv: list[str], trigger: str, workdir: Path
) -> tuple[list[dict[str, Any]], int]:
    """Run the tap; SIGKILL it at the first status change written via `trigger`."""
    lines: list[bytes] = []
    killed = False
    with (
        (workdir / "stderr.txt").open("w") as stderr,
        subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=stderr, start_new_session=True, cwd=workdir
        ) as process,
    ):
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if b'"invoice_status_changes"' in line and f'"via":"{trigger}"'.encode() in line:
                os.killpg(process.pid, signal.SIGKILL)
                killed = True
                break
        lines.extend(process.stdout.read().splitlines(keepends=True))
        process.wait()
    # A line cut by the kill never reached a target either.
    messages = [json.loads(line, parse_float=Decimal) for line in lines if line.endswith(b"\n")]
    assert killed, f"the run ended before any change via {trigger}"
    return messages, process.returncode


def test_sigkill_in_each_phase_of_an_incremental_sync_then_resume_loses_nothing(
    sandbox_factory, tmp_path
):
    sandbox = sandbox_factory(seed=5, accounts=3, invoices_per_account=300)
    config = sandbox.tap_config(sweep_interval_hours=0, max_concurrency=2)
    # Slow requests keep each phase open long enough to be hit.
    runs = KilledAndResumed.after_first_sync(
        sandbox, config, advance_seconds=8 * 3600, latency_ms=10
    )
    messages = runs.messages
    for phase in ("new", "refresh", "sweep"):
        workdir = tmp_path / phase
        seen, returncode = _run_until_killed(runs.argv(workdir), phase, workdir)
        assert returncode == -signal.SIGKILL
        runs.killed(seen)
    final = runs.finish()
    messages += final.messages
    _assert_equals_truth(sandbox, messages)
    # The history ends where each invoice is now: no transition was lost to a kill.
    last: dict[int, int] = {}
    for change in _records(messages, CHANGES_STREAM):
        last[change["invoice_id"]] = change["to_status"]
    truth = _statuses(sandbox)
    assert {k: v for k, v in last.items() if k in truth} == truth
