"""Refreshes are spent where a status can have moved, and every in-flight status stays fresh.

The sandbox (a frozen clock the test moves an hour at a time) has invoices waiting at 0 on
boletos that are never paid (``POST /_sandbox/waiting``), next to the world's own sales. The tap
syncs every simulated hour from its own state. "Fresh" (README, "Refresh scheduling"):

* after every sync, every invoice the tap last emitted in flight (0, 1, 4) that is not waiting
  on a pending, refused or canceled payment, and every payment it last emitted pending, equals
  the truth on the whole row: a status lands in the sync after the event that makes it
  learnable;
* an invoice waiting on a pending, refused or canceled payment has the truth's status (an edit
  of its other fields lands within the cap), and an invoice at 0 is refreshed in the sync in
  which its payment is first emitted paid;
* every record in flight was read (listed or refreshed) within ``sweep_interval_hours`` of
  simulated time.

The same story runs on a platform where unpaid boletos never expire (sandbox switch
``boletos_never_expire``) and the waiting ones are months past due: the same freshness holds,
and in every sync the tap Gets no payment it has just listed, and a payment long past due only
when the cap comes round.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest
from helpers import SandboxProcess, compare_with_truth, run_tap
from helpers.fold import fold
from helpers.streams import CAPTURE_STREAMS

from tap_mindzpay.capture.state import CaptureState

pytestmark = pytest.mark.e2e
HOURS = 18
SWEEP_HOURS = 8
WAITING = 40
OVERDUE_DAYS = 90
IN_FLIGHT = {0, 1, 4}
GAVE_UP = {"refused", "canceled"}


def _live(messages: list[dict[str, Any]], stream: str) -> dict:
    records = [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]
    return {k: v for k, v in fold(records, ("id",)).items() if not v.get("_sdc_deleted_at")}


def _flights(state: dict[str, Any], stream: str) -> CaptureState:
    return CaptureState.read(state["bookmarks"][stream]["partitions"][0], stream)


def _waits(invoice: dict[str, Any], payments: dict[int, dict[str, Any]]) -> bool:
    """An invoice at 0 whose payment is pending (nothing to ask the provider yet)."""
    payment = payments.get(invoice["payment_id"] or 0)
    return invoice["status"] == 0 and payment is not None and payment["status"] == "pending"


def _backs_off(invoice: dict[str, Any], payments: dict[int, dict[str, Any]]) -> bool:
    """An invoice at 0 whose payment was refused or canceled: it stays at 0 (until an edit)."""
    payment = payments.get(invoice["payment_id"] or 0)
    return invoice["status"] == 0 and payment is not None and payment["status"] in GAVE_UP


def _minute(sandbox: SandboxProcess) -> int:
    from datetime import datetime  # noqa: PLC0415

    clock = datetime.fromisoformat(sandbox.admin("GET", "/_sandbox/health")["clock"])
    return int(clock.timestamp() // 60)


def _payment_gets(stats: dict[str, Any]) -> int:
    """Gets of one payment the sandbox answered."""
    return sum(
        sum(by_status.values())
        for key, by_status in stats["requests"].items()
        if key.startswith("GET ") and "/payments/" in key
    )


def _long_past_due(payment: dict[str, Any], today: date) -> bool:
    """Pending more than a week past due, by any day boundary (the tap's grace is 7 days)."""
    return date.fromisoformat(payment["due_date"]) < today - timedelta(days=9)


def _check_cap(sandbox: SandboxProcess, state: dict[str, Any], hour: int) -> None:
    """Every record in flight was read within ``sweep_interval_hours`` of the platform's time."""
    now = _minute(sandbox)
    for stream in CAPTURE_STREAMS:
        for record_id, flight in _flights(state, stream).in_flight.items():
            last = flight.checked or flight.since
            assert now - last <= SWEEP_HOURS * 60, (hour, stream, record_id, flight)


def _check_payment_gets(
    sandbox: SandboxProcess, before: dict[Any, dict[str, Any]], hour: int
) -> int:
    """This sync's payment Gets: none for a payment it has just listed, and for one long past
    due only when the cap comes round. Returns how many it had emitted pending long past due.
    """
    today = date.fromisoformat(sandbox.admin("GET", "/_sandbox/health")["clock"][:10])
    asked = [p for p in before.values() if p["status"] == "pending"]
    overdue = sum(_long_past_due(p, today) for p in asked)
    allowed = len(asked) - (0 if hour % SWEEP_HOURS == 0 else overdue)
    assert _payment_gets(sandbox.stats()) <= allowed, (hour, len(asked), overdue)
    return overdue


@pytest.mark.parametrize(
    "never_expire", [False, True], ids=["boletos expire", "boletos never expire"]
)
def test_hourly_syncs_keep_in_flight_statuses_fresh_and_skip_invoices_waiting_on_boletos(
    tmp_path, never_expire
):
    scenario = {"count": WAITING, "overdue_days": OVERDUE_DAYS if never_expire else 0}
    with SandboxProcess.start(
        seed=13,
        accounts=1,
        invoices_per_account=400,
        extra_args=("--faults", json.dumps({"boletos_never_expire": int(never_expire)})),
    ) as sandbox:
        made = sandbox.admin("POST", "/_sandbox/waiting", params=scenario)["waiting"]
        assert made == WAITING
        pay_truth = {r["id"]: r for r in sandbox.truth("payments")}
        waiting_at_start = {r["id"] for r in sandbox.truth("invoices") if _waits(r, pay_truth)}
        # sweep_interval_hours is wall time for sweeps (none after the first in this test) and
        # the platform's time for the refresh cap: the cap is what is exercised here.
        config = sandbox.tap_config(sweep_interval_hours=SWEEP_HOURS)
        messages: list[dict[str, Any]] = []
        state = None
        refreshes: Counter[int] = Counter()
        overdue_seen = 0
        paid_then_refreshed = 0
        for hour in range(HOURS):
            if hour:
                sandbox.advance(3600)
            before = _live(messages, "payments")
            previous_invoices = _live(messages, "invoices")
            sandbox.reset_stats()
            run = run_tap(config, state=state, workdir=tmp_path / f"h{hour}").check()
            messages += run.messages
            state = run.final_state
            assert state is not None
            overdue_seen += _check_payment_gets(sandbox, before, hour)
            refreshed = {r["invoice_id"] for r in sandbox.stats()["refreshes"]}
            refreshes.update(refreshed)
            invoices, payments = _live(messages, "invoices"), _live(messages, "payments")
            truth = {r["id"]: r for r in sandbox.truth("invoices")}
            pay_truth = {r["id"]: r for r in sandbox.truth("payments")}

            moving = [
                truth[k[0]]
                for k, r in invoices.items()
                if r["status"] in IN_FLIGHT
                and k[0] in truth
                and not _waits(truth[k[0]], pay_truth)
                and not _backs_off(truth[k[0]], pay_truth)
            ]
            folded = {k: r for k, r in invoices.items() if k[0] in {m["id"] for m in moving}}
            check = compare_with_truth("invoices", folded, moving)
            assert check.ok, f"hour {hour}: {check.summary()}"
            pending = [
                pay_truth[k[0]]
                for k, r in payments.items()
                if r["status"] == "pending" and k[0] in pay_truth
            ]
            folded_pay = {k: r for k, r in payments.items() if k[0] in {p["id"] for p in pending}}
            check = compare_with_truth("payments", folded_pay, pending)
            assert check.ok, f"hour {hour}: {check.summary()}"
            for key, record in invoices.items():
                if key[0] in truth and _waits(truth[key[0]], pay_truth):
                    assert record["status"] == truth[key[0]]["status"], (hour, key)
            # A payment first emitted paid in this sync: its invoice at 0 was refreshed now.
            for key, record in payments.items():
                was = before.get(key)
                if record["status"] == "paid" and was is not None and was["status"] == "pending":
                    invoice = previous_invoices.get(key)  # each sale takes both ids at once
                    if invoice and invoice["status"] == 0 and invoice["payment_id"] == key[0]:
                        assert key[0] in refreshed, f"hour {hour}: invoice {key[0]} not refreshed"
                        paid_then_refreshed += 1
            _check_cap(sandbox, state, hour)
    assert paid_then_refreshed > 0, "no boleto was paid in the story: the test proves nothing"
    if never_expire:
        assert overdue_seen >= WAITING * (HOURS - 1), "the boletos long past due stayed pending"
    # Invoices that waited all along (their payment still pending at the end).
    waiting_refreshes = sorted(
        refreshes[i] for i in waiting_at_start if i in truth and _waits(truth[i], pay_truth)
    )
    assert len(waiting_refreshes) >= WAITING, "the scenario's invoices waited all along"
    # Skipped while their boleto is pending: refreshed only by the cap (every 8 of 18 hours).
    assert max(waiting_refreshes) <= HOURS // SWEEP_HOURS + 1, waiting_refreshes
