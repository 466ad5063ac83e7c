"""Unit tests of the change-capture state (codec, validation, upgrade), its schedule, the sweep."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tap_mindzpay.capture.codec import StatusMap, encode_ids
from tap_mindzpay.capture.deferral import DEFERRALS_IN_A_ROW, Deferrals, call
from tap_mindzpay.capture.engine import Engine, later
from tap_mindzpay.capture.schedule import (
    AccountSignals,
    Schedule,
    day_link,
    minute_of,
    unchanged_since,
)
from tap_mindzpay.capture.state import CaptureState, CaptureStateError, Flight, stamp_of
from tap_mindzpay.errors import RetriesExhaustedError

NOW = datetime(2026, 11, 24, 12, tzinfo=timezone.utc)
STAMP = "2026-11-01T09:00:00-03:00"


def test_status_map_holds_a_status_per_id_and_round_trips():
    statuses = StatusMap()
    for record_id, status in [(5, 2), (3, 0), (9, 2), (1_000, 5)]:
        statuses.set(record_id, status)
    statuses.discard(9)
    again = StatusMap.decode(statuses.encode())
    assert list(again) == [3, 5, 1_000]
    assert [again.get(i) for i in (3, 5, 9, 1_000)] == [
        (True, 0),
        (True, 2),
        (False, None),
        (True, 5),
    ]
    assert len(again) == 3


def test_status_map_of_a_million_ids_encodes_in_under_400_kb():
    statuses = StatusMap()
    for record_id in range(1, 1_000_001):
        statuses.set(record_id, (2, 8, 5, 0, 3)[record_id * 7919 % 5])
    assert len(statuses.encode()["codes"]) < 400_000  # type: ignore[arg-type]


def test_state_without_capture_is_upgraded_to_empty():
    state = CaptureState.read({"replication_key_value": 10}, "stream invoices, account a")
    assert state.statuses is None
    assert state.sweep_due(24, NOW)


def test_written_state_reads_back_equal():
    statuses = StatusMap()
    statuses.set(1, 2)
    statuses.set(7, 1)
    statuses.set(8, 0)
    flights = {7: Flight(stamp_of(STAMP), 100, 160, 0), 8: Flight(stamp_of(STAMP), 100, 0, 8)}
    state = CaptureState(flights, "2026-11-01T10:00:00-03:00", NOW.isoformat(), statuses)
    partition: dict = {}
    size = state.write(partition)
    assert partition["capture"]["version"] == 2
    assert 0 < size < 200
    again = CaptureState.read(partition, "x")
    assert again.in_flight == flights
    assert list(again.statuses or []) == [1, 7, 8]
    assert not again.sweep_due(24, NOW + timedelta(hours=23))
    assert again.sweep_due(24, NOW + timedelta(hours=24))
    assert again.sweep_due(0, NOW)


def test_version_1_state_is_upgraded_on_read():
    v1 = {
        "version": 1,
        "in_flight": {"7": [1, STAMP], "8": [0, None]},
        "sweep": {"hwm": STAMP, "at": NOW.isoformat()},
        "known": encode_ids([1, 2, 7, 8]),
        "statuses": [[2, encode_ids([1])], [1, encode_ids([7])], [0, encode_ids([8])]],
    }
    state = CaptureState.read({"capture": v1}, "x", now_minute=500)
    assert state.in_flight == {7: Flight(stamp_of(STAMP), 500, 0, 0), 8: Flight(0, 500, 0, 0)}
    assert state.statuses is not None
    # Id 2 was known without a status (version 1 tracked only some): held, status None.
    assert [state.statuses.get(i) for i in (1, 2, 7, 8, 9)] == [
        (True, 2),
        (True, None),
        (True, 1),
        (True, 0),
        (False, None),
    ]


@pytest.mark.parametrize(
    "capture",
    [
        {"version": 3},
        "not a dict",
        {"version": 1, "in_flight": {"x": [1, None]}},
        {"version": 1, "in_flight": {}, "sweep": {"hwm": "yesterday"}},
        {"version": 1, "in_flight": {}, "known": "%%%"},
        {"version": 2, "statuses": {"base": 1, "labels": [], "codes": "%%%"}},
        {"version": 2, "statuses": None, "in_flight": {"count": 1, "columns": "eJwDAAAAAAE="}},
    ],
)
def test_bad_capture_state_fails_with_the_stream_and_account_named(capture):
    with pytest.raises(CaptureStateError, match="stream invoices, account acc_1"):
        CaptureState.read({"capture": capture}, "stream invoices, account acc_1")


HOUR = 60
CAP = 24 * HOUR


def test_provider_deciding_invoices_are_refreshed_every_sync():
    schedule = Schedule(now=10 * HOUR, cap_minutes=CAP, waits="invoice")
    assert schedule.due(1, since=9 * HOUR, checked=9 * HOUR, link=5) == "every"
    assert schedule.due(0, since=9 * HOUR, checked=9 * HOUR, link=0) == "every"


def test_invoice_waiting_on_a_pending_payment_is_skipped_until_paid_or_the_cap():
    statuses = {5: "pending", 6: "paid", 7: "paid", 8: "canceled"}
    seen = AccountSignals(status=statuses.get, paid=frozenset({6}))
    at = Schedule(now=10 * HOUR, cap_minutes=CAP, payments=seen, waits="invoice")
    assert at.due(0, since=0, checked=9 * HOUR, link=5) is None
    assert at.due(0, since=0, checked=9 * HOUR, link=6) == "paid"
    assert at.due(0, since=0, checked=9 * HOUR, link=7) == "every"  # paid before: may move
    assert at.due(0, since=0, checked=9 * HOUR, link=8) is None  # canceled: backs off
    late = Schedule(now=40 * HOUR, cap_minutes=CAP, payments=seen, waits="invoice")
    assert late.due(0, since=0, checked=15 * HOUR, link=5) == "cap"


def test_waiting_without_signals_backs_off_doubling_up_to_the_cap():
    refreshed_at, checked, since = [], 0, 0
    for hour in range(48):
        schedule = Schedule(now=hour * HOUR, cap_minutes=CAP, waits="invoice")
        if schedule.due(0, since, checked, link=5):
            refreshed_at.append(hour)
            checked = hour * HOUR
    assert refreshed_at == [0, 1, 2, 4, 8, 16, 32]


def test_pending_payment_is_asked_every_sync_until_a_week_past_due():
    day = 20_000
    fresh = Schedule(now=(day + 7) * 24 * HOUR, cap_minutes=CAP, waits="payment")
    assert fresh.due("pending", since=0, checked=(day + 7) * 24 * HOUR - HOUR, link=day) == "every"
    old = Schedule(now=(day + 9) * 24 * HOUR, cap_minutes=CAP, waits="payment")
    assert old.due("pending", since=0, checked=(day + 9) * 24 * HOUR - HOUR, link=day) is None


def test_later_compares_instants_across_offsets():
    assert later("2026-11-01T10:00:00-03:00", "2026-11-01T12:00:00+00:00") == (
        "2026-11-01T10:00:00-03:00"
    )
    assert later(None, "2026-11-01T10:00:00-03:00") == "2026-11-01T10:00:00-03:00"


def _engine(listed: list[dict], *, sweep_follows: bool) -> Engine:
    state = CaptureState(
        sweep_hwm="2026-11-01T00:00:00-03:00",
        sweep_at="2026-11-01T03:00:00+00:00",
        statuses=StatusMap(),
    )
    return Engine(
        state=state,
        in_flight_rule=None,
        fetch=lambda _id: None,
        page_all=lambda: iter(listed),
        checkpoint=lambda **_: None,
        sweep_follows=sweep_follows,
    )


def test_sweep_skips_exactly_the_records_this_run_handed_out_unchanged():
    stamp = "2026-11-01T10:00:00-03:00"  # past the sweep's mark: every record is swept
    sent = [{"id": i, "status": 2, "amount": "10.00", "updated_at": stamp} for i in (1, 2, 3)]
    listed = [
        dict(reversed(list(sent[0].items()))),  # same content, other key order: unchanged
        {**sent[1], "amount": "10.01"},  # an edit not seen by status or updated_at: changed
        {"id": 4, "status": 2, "amount": "5.00", "updated_at": stamp},  # never handed out
        sent[2],
    ]
    engine = _engine(listed, sweep_follows=True)
    for record in sent:
        engine.observe_new(dict(record))
    swept = [r["id"] for r in engine.sweep(emit_all=False)]
    assert swept == [2, 4]
    assert engine.counts == {"already_sent": 2, "swept": 2}
    # Without a sweep to follow, nothing is remembered and nothing skipped.
    engine = _engine(listed, sweep_follows=False)
    for record in sent:
        engine.observe_new(dict(record))
    assert engine.sent == {}
    assert [r["id"] for r in engine.sweep(emit_all=False)] == [1, 2, 4, 3]


T0 = 29_000_000  # a minute of 2025 (the schedule's clock)
OLD = "2025-01-01T00:00:00-03:00"  # an updated_at months before T0


def test_unchanged_since_is_updated_at_at_most_now():
    assert unchanged_since(OLD, T0) == minute_of(datetime.fromisoformat(OLD))
    assert unchanged_since("2099-01-01T00:00:00Z", T0) == T0  # a clock ahead: now
    assert unchanged_since(None, T0) == T0
    assert unchanged_since("not a time", T0) == T0


def _hourly_fetches(
    listed: dict, rule: dict, hours: int, *, bump: bool = False, signals: object = None
) -> list[int]:
    """The hours (one sync each, from one state) in which the engine fetched ``listed``."""
    state = CaptureState(statuses=StatusMap())
    fetched: list[int] = []
    for hour in range(hours):
        now = T0 + hour * HOUR

        def fetch(_id: int, hour: int = hour) -> dict:
            fetched.append(hour)
            # A platform that stamps updated_at on every read: the status did not move.
            return {**listed, "updated_at": f"2026-01-01T00:{hour:02d}:00Z"} if bump else listed

        engine = Engine(
            state=state,
            in_flight_rule=lambda r: r["status"] in {0, "pending"},
            fetch=fetch,
            page_all=iter,
            checkpoint=lambda **_: None,
            schedule=Schedule(now=now, cap_minutes=CAP, waits=rule["waits"], payments=signals),
            link=rule["link"],
        )
        if hour == 0:
            engine.observe_new(dict(listed))
        list(engine.refresh(only=set(engine.due_ids())))
    return fetched


PAYMENT = {"waits": "payment", "link": lambda r: day_link(r["due_date"])}
INVOICE = {"waits": "invoice", "link": lambda r: r["payment_id"]}


@pytest.mark.parametrize("bump", [False, True], ids=["plain", "refresh stamps updated_at"])
def test_payment_pending_months_past_due_is_read_once_per_cap(bump):
    overdue = {"id": 7, "status": "pending", "due_date": "2025-01-02", "updated_at": OLD}
    assert _hourly_fetches(overdue, PAYMENT, 49, bump=bump) == [24, 48]


def test_payment_within_its_grace_is_asked_every_sync_but_not_right_after_its_listing():
    due = (datetime.fromtimestamp(T0 * 60, timezone.utc) + timedelta(days=3)).date()
    fresh = {"id": 7, "status": "pending", "due_date": due.isoformat(), "updated_at": OLD}
    assert _hourly_fetches(fresh, PAYMENT, 5) == [1, 2, 3, 4]


def test_invoice_whose_boleto_expired_long_ago_backs_off_to_the_cap_at_once():
    invoice = {"id": 9, "status": 0, "payment_id": 8, "updated_at": OLD}
    expired = AccountSignals(status={8: "canceled"}.get)
    assert _hourly_fetches(invoice, INVOICE, 49, signals=expired) == [24, 48]
    # A new invoice (its updated_at now): the intervals double from its listing.
    new = {**invoice, "updated_at": "2099-01-01T00:00:00Z"}
    assert _hourly_fetches(new, INVOICE, 17, signals=expired) == [1, 2, 4, 8, 16]


def _exhausted(record_id: int) -> RetriesExhaustedError:
    return RetriesExhaustedError(f"POST .../{record_id}/refresh failed 3 times", "HTTP 500")


def test_a_refresh_that_keeps_failing_is_deferred_and_stays_in_flight():
    in_flight = lambda record: record["status"] == 0  # noqa: E731
    state = CaptureState(statuses=StatusMap())
    warned: list[str] = []

    def fetch(record_id: int) -> dict | None:
        if record_id == 2:
            raise _exhausted(record_id)
        return {"id": record_id, "status": 2, "updated_at": "2026-11-01T10:00:00-03:00"}

    engine = Engine(
        state=state,
        in_flight_rule=in_flight,
        fetch=fetch,
        page_all=lambda: iter(()),
        checkpoint=lambda **_: None,
        warn=warned.append,
        where="stream invoices, account acc_1",
    )
    for record_id in (1, 2, 3):
        engine.observe_new(
            {"id": record_id, "status": 0, "updated_at": "2026-11-01T09:00:00-03:00"}
        )
    before = state.in_flight[2]
    refreshed = [r["id"] for r in engine.refresh()]
    assert refreshed == [1, 3]
    assert dict(state.in_flight) == {2: before}
    assert engine.counts == {"deferred": 1, "refreshed": 2, "changed": 2, "settled": 2}
    expected = (
        "stream invoices, account acc_1: id 2 still fails after its retries (last: HTTP 500); "
        "deferred: it stays in the state and is tried again next run"
    )
    assert warned == [expected]


def test_deferrals_in_a_row_are_an_api_that_is_down_and_stop():
    counted: list[int] = []
    deferrals = Deferrals("here", lambda _: None, lambda: counted.append(1))

    def failing(record_id: int) -> dict:
        raise _exhausted(record_id)

    outcomes = [call(failing, i) for i in range(10)]
    for record_id, outcome in enumerate(outcomes[: DEFERRALS_IN_A_ROW - 1]):
        assert deferrals.deferred(outcome, record_id)
    assert not deferrals.deferred({"id": 99}, 99)  # one answer resets the run of failures
    for record_id, outcome in enumerate(outcomes[: DEFERRALS_IN_A_ROW - 1]):
        assert deferrals.deferred(outcome, record_id)
    with pytest.raises(RetriesExhaustedError):
        deferrals.deferred(outcomes[-1], 9)
    assert len(counted) == 2 * (DEFERRALS_IN_A_ROW - 1)
