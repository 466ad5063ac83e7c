"""PartitionCapture built from its explicit parts (a ListReader over an in-memory API, real
PartitionReport and Signals, a fixed clock): the events a stream is handed, and the state left."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest

from tap_mindzpay.capture.partition import (
    OFFSET_HINT_KEY,
    Event,
    PartitionCapture,
    Phase,
    full_table,
)
from tap_mindzpay.capture.rules import CaptureSettings
from tap_mindzpay.capture.schedule import AccountSignals, Signals, minute_of, unchanged_since
from tap_mindzpay.capture.state import CAPTURE_KEY, DELETED_AT, CaptureState, Flight, stamp_of
from tap_mindzpay.errors import MindzPayAPIError
from tap_mindzpay.run.progress import PartitionReport
from tap_mindzpay.streams import InvoicesStream, PaymentsStream
from tap_mindzpay.timestamps import parse_timestamp
from tests.helpers.listapi import CONTEXT, URL, InMemoryApi, list_source

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from tap_mindzpay.capture.rules import RefreshRule
    from tap_mindzpay.read.reader import ListReader

ACCOUNT = "acc_1"
BOOKMARK = "replication_key_value"
#: The API's clock at the first sync; later syncs move it on.
NOW = datetime(2026, 11, 24, 12, tzinfo=timezone.utc)
START = parse_timestamp("2026-06-01T00:00:00-03:00")
CREATED = "2026-10-01T09:00:00-03:00"
OLD = "2025-12-31T09:00:00-03:00"
LOGGER = logging.getLogger("tests.partition_capture")
INVOICES = InvoicesStream.capture_rule
PAYMENTS = PaymentsStream.capture_rule
CHECKPOINT: Event = (None, Phase.CHECKPOINT)


def day(n: int) -> str:
    """An ``updated_at`` on day ``n`` of November 2026."""
    return f"2026-11-{n:02d}T10:00:00-03:00"


def invoice(
    record_id: int, status: int, updated: int = 1, created: str = CREATED, payment: int = 0
) -> dict[str, Any]:
    """An invoice as the API has it."""
    return {
        "id": record_id,
        "status": status,
        "payment_id": payment,
        "updated_at": day(updated),
        "created_at": created,
    }


def payment(record_id: int, status: str, updated: int = 1) -> dict[str, Any]:
    """A payment due four days before ``NOW``, as the API has it."""
    return {
        "id": record_id,
        "status": status,
        "due_date": "2026-11-20",
        "updated_at": day(updated),
        "created_at": CREATED,
    }


class Api(InMemoryApi):
    """One account's list and its records by id, from any thread.

    ``hidden`` ids are answered by id but not listed; ``failing`` ids raise on any request by
    id; every request is logged in ``calls`` as ``(method, url suffix)``.
    """

    def __init__(self, records: Iterable[dict[str, Any]]) -> None:
        super().__init__()
        self.records = {r["id"]: r for r in records}
        self.hidden: set[int] = set()
        self.failing: dict[int, Exception] = {}
        self.calls: list[tuple[str, str]] = []

    def answer(
        self, method: str, url: str, params: dict[str, Any] | None, *, not_found_ok: bool
    ) -> Any:
        """A list page (``hidden`` left out) or a record by id (``None``: 404, ``not_found_ok``)."""
        suffix = url.removeprefix(URL)
        self.calls.append((method, suffix))
        if suffix == "":
            listed = [self.records[i] for i in sorted(self.records) if i not in self.hidden]
            limit, offset = (params or {})["limit"], (params or {})["offset"]
            meta = {"total": len(listed), "limit": limit, "offset": offset}
            return {"data": [dict(r) for r in listed[offset : offset + limit]], "meta": meta}
        record_id = int(suffix.split("/")[1])
        if record_id in self.failing:
            raise self.failing[record_id]
        found = self.records.get(record_id)
        if found is None and not not_found_ok:
            msg = f"404 {url}"
            raise MindzPayAPIError(msg)
        return None if found is None else dict(found)

    def by_id(self, method: str, suffix: str = "") -> list[int]:
        """The ids asked for by ``method`` on ``/{id}`` + ``suffix``, sorted."""
        asked = []
        for sent, path in self.calls:
            _, *parts = path.split("/")
            if sent == method and parts and "".join(f"/{p}" for p in parts[1:]) == suffix:
                asked.append(int(parts[0]))
        return sorted(asked)


def reader(api: Api, report: PartitionReport | None = None) -> ListReader:
    """The partition's reader over ``api`` (4 records a page, pages read one at a time)."""
    source = list_source(api, page_size=4, depth=1, logger=LOGGER)
    return source.reader(URL, CONTEXT, report or PartitionReport("invoices", ACCOUNT))


def settings(
    rule: RefreshRule | None = INVOICES,
    now: datetime = NOW,
    hours: float = 24,
    signals: Signals | None = None,
) -> CaptureSettings:
    """The stream's capture settings on a fixed API clock; ``start_date`` is ``START``."""
    return CaptureSettings(
        rule=rule,
        signals=Signals() if signals is None else signals,
        clock=lambda: now,
        predates_start=lambda r: parse_timestamp(r["created_at"]) < START,
        sweep_interval_hours=hours,
        max_concurrency=2,
        logger=LOGGER,
    )


def capture_of(
    api: Api,
    partition: dict[str, Any],
    how: CaptureSettings,
    report: PartitionReport | None = None,
    **parts: Any,
) -> PartitionCapture:
    """The partition's capture as the stream builds it: its bookmark from the partition."""
    return PartitionCapture(reader(api, report), partition, partition.get(BOOKMARK), how, **parts)


def consume(capture: PartitionCapture) -> list[Event]:
    """Every event, taken as the stream takes it: a new id moves the bookmark, a CHECKPOINT
    writes the live capture state into the partition (the STATE)."""
    events: list[Event] = []
    for record, phase in capture.events():
        events.append((record, phase))
        if record is not None and phase in {Phase.NEW, Phase.BEFORE_START}:
            capture.partition[BOOKMARK] = record["id"]
        elif phase is Phase.CHECKPOINT and capture.live is not None:
            capture.live[0].write(capture.live[1])
    return events


def sync(api: Api, partition: dict[str, Any], how: CaptureSettings, **parts: Any) -> list[Event]:
    """One sync of the partition: its events, the partition updated."""
    return consume(capture_of(api, partition, how, **parts))


def statuses(partition: dict[str, Any]) -> dict[int, object]:
    """Every id in the partition's capture section with its last seen status."""
    held = CaptureState.read(partition, "test").statuses
    assert held is not None
    return {record_id: held.get(record_id)[1] for record_id in held}


def in_flight(partition: dict[str, Any]) -> list[int]:
    """The ids in flight in the partition's capture section."""
    return sorted(CaptureState.read(partition, "test").in_flight)


def test_a_first_sync_yields_every_record_as_new_then_checkpoints_and_writes_capture_and_hint():
    records = [
        invoice(10, 1, updated=3),
        invoice(20, 2, updated=5),
        invoice(30, 4, updated=2),
        invoice(40, 2, updated=6),
        invoice(50, 0, updated=4),  # at 0 without a payment: refreshed every sync
        invoice(60, 3, updated=1),
    ]
    api = Api(records)
    report = PartitionReport("invoices", ACCOUNT, clock=lambda: 0.0)
    partition: dict[str, Any] = {}
    events = sync(api, partition, settings(), report=report)
    assert events == [(r, Phase.NEW) for r in records] + [CHECKPOINT, CHECKPOINT]
    # Pages at offsets 0 and 3 (one record of overlap): the last one with new records.
    assert partition[OFFSET_HINT_KEY] == 3
    assert partition[BOOKMARK] == 60
    assert set(partition[CAPTURE_KEY]) == {"version", "sweep", "statuses", "in_flight"}
    assert statuses(partition) == {10: 1, 20: 2, 30: 4, 40: 2, 50: 0, 60: 3}
    state = CaptureState.read(partition, "test")
    minute = minute_of(NOW)
    assert state.in_flight == {
        i: Flight(stamp_of(day(d)), unchanged_since(day(d), minute), minute, 0)
        for i, d in ((10, 3), (30, 2), (50, 4))
    }
    assert state.sweep_hwm == day(6)
    assert state.sweep_at is not None  # the first full read counts as the first sweep
    # Invoices at 1, 4 (and 0 without a payment) are refreshed on every sync, this one too.
    assert api.by_id("POST", "/refresh") == [10, 30, 50]
    assert (report.refresh_count, report.changed, report.deleted) == (3, 0, 0)


def test_records_created_before_start_date_come_as_before_start_and_are_never_tracked():
    records = [
        invoice(10, 1, created=OLD),
        invoice(20, 2, created=OLD),
        invoice(30, 1),
        invoice(40, 2),
    ]
    api = Api(records)
    partition: dict[str, Any] = {}
    events = sync(api, partition, settings())
    assert events == [
        (records[0], Phase.BEFORE_START),
        (records[1], Phase.BEFORE_START),
        (records[2], Phase.NEW),
        (records[3], Phase.NEW),
        CHECKPOINT,
        CHECKPOINT,
    ]
    assert partition[BOOKMARK] == 40
    assert statuses(partition) == {30: 1, 40: 2}
    assert in_flight(partition) == [30]
    assert api.by_id("POST", "/refresh") == [30]  # 10 is at 1 too, but not the tap's


def test_a_second_sync_yields_an_in_flight_invoice_whose_status_moved_as_changed_after_new():
    api = Api([invoice(10, 1), invoice(20, 2), invoice(30, 4), invoice(40, 2)])
    partition: dict[str, Any] = {}
    sync(api, partition, settings())
    api.records[10] = invoice(10, 2, updated=9)  # the provider authorised it
    api.records[50] = invoice(50, 1, updated=9)
    api.calls.clear()
    events = sync(api, partition, settings(now=NOW + timedelta(hours=1)))
    assert events == [
        (invoice(50, 1, updated=9), Phase.NEW),
        CHECKPOINT,
        (invoice(10, 2, updated=9), Phase.CHANGED),
        CHECKPOINT,
    ]
    assert partition[BOOKMARK] == 50
    assert partition[OFFSET_HINT_KEY] == 3
    assert statuses(partition) == {10: 2, 20: 2, 30: 4, 40: 2, 50: 1}
    assert in_flight(partition) == [30, 50]  # 10 settled
    # From the first sync's offset hint (0): the page at 3 had the new record, the next hint.
    assert [call for call in api.calls if call[1] == ""] == [("GET", "")] * 2
    assert api.by_id("POST", "/refresh") == [10, 30, 50]


def _sweep_due(partition: dict[str, Any], how: str) -> float:
    """Make the next sync's sweep due (``how``); the sweep interval to sync with."""
    if how == "interval-0":
        return 0
    state = CaptureState.read(partition, "test")
    state.sweep_at = "2000-01-01T00:00:00+00:00"
    state.write(partition)
    return 24


@pytest.mark.parametrize("how", ["interval-0", "old-sweep-at"])
def test_a_due_sweep_yields_changes_and_deletes_only_an_id_whose_get_answers_404(how):
    api = Api(
        [
            invoice(10, 1, updated=1),
            invoice(20, 2, updated=6),  # the newest: the sweep's mark
            invoice(30, 2, updated=2),
            invoice(40, 4, updated=3),
            invoice(50, 2, updated=4),
            invoice(60, 3, updated=5),
        ]
    )
    partition: dict[str, Any] = {}
    sync(api, partition, settings())
    hours = _sweep_due(partition, how)
    api.records[20] = invoice(20, 5, updated=8)  # canceled by the merchant: not in flight
    del api.records[30]  # deleted by support: a GET answers 404
    api.hidden.add(50)  # missing from the list, but a GET still answers it
    api.calls.clear()
    report = PartitionReport("invoices", ACCOUNT, clock=lambda: 0.0)
    how_now = settings(now=NOW + timedelta(hours=1), hours=hours)
    events = sync(api, partition, how_now, report=report)
    state = CaptureState.read(partition, "test")
    assert events == [
        CHECKPOINT,
        (invoice(20, 5, updated=8), Phase.CHANGED),
        ({"id": 30, DELETED_AT: state.sweep_at}, Phase.CHANGED),
        (invoice(50, 2, updated=4), Phase.CHANGED),
        CHECKPOINT,  # the one the sweep asks for
        CHECKPOINT,
    ]
    assert state.sweep_at != "2000-01-01T00:00:00+00:00"
    assert state.sweep_hwm == day(8)
    assert statuses(partition) == {10: 1, 20: 5, 40: 4, 50: 2, 60: 3}
    assert in_flight(partition) == [10, 40]
    assert api.by_id("GET") == [30, 50]  # only the unlisted ids are asked for by id
    assert api.by_id("POST", "/refresh") == [10, 40]
    assert (report.refresh_count, report.changed, report.deleted) == (2, 2, 1)


class ListedWhole:
    """A newest-first read (``read.newest``) whose one page listed the whole list."""

    def __init__(self, read: list[tuple[dict[str, Any], bool]], listing: list[dict[str, Any]]):
        self.read = read
        self.listing: list[dict[str, Any]] | None = None
        self._listed = listing

    def __iter__(self) -> Iterator[tuple[dict[str, Any], bool]]:
        self.listing = self._listed  # known once the read is done, as the real read's
        yield from self.read


@pytest.mark.parametrize("rule", [None, INVOICES], ids=["no-rule", "refresh-rule"])
def test_a_sweep_after_a_read_that_listed_the_whole_list_pages_nothing_again(rule):
    records = [invoice(10, 2, updated=1), invoice(20, 2, updated=2), invoice(30, 2, updated=3)]
    api = Api(records)
    partition: dict[str, Any] = {}
    sync(api, partition, settings(rule=rule))
    api.records[20] = invoice(20, 4, updated=5)  # changed by hand
    del api.records[30]  # removed: a GET answers 404
    listed = [api.records[10], api.records[20]]
    api.calls.clear()
    later = settings(rule=rule, now=NOW + timedelta(hours=1), hours=0)
    read = ListedWhole([(api.records[20], True), (api.records[10], False)], listed)
    events = sync(api, partition, later, new=read)
    state = CaptureState.read(partition, "test")
    assert events[:2] == [(invoice(20, 4, updated=5), Phase.NEW), (invoice(10, 2), Phase.UNCHANGED)]
    changed = [record for record, phase in events if phase is Phase.CHANGED]
    assert {"id": 30, DELETED_AT: state.sweep_at} in changed
    assert state.sweep_hwm == day(5)
    assert statuses(partition) == {10: 2, 20: 4}
    assert api.by_id("GET") == [30]  # the unlisted id, confirmed gone
    # Without a rule nothing was refreshed since the read, so its page is the sweep's list;
    # with one, a refresh may have moved a record past what the read listed: paged again.
    pages = [call for call in api.calls if call[1] == ""]
    assert pages == ([] if rule is None else [("GET", "")])


def test_a_partition_with_a_bookmark_and_no_capture_section_is_swept_once_in_full():
    records = [invoice(10, 1), invoice(20, 2), invoice(30, 4)]
    api = Api(records)
    partition: dict[str, Any] = {BOOKMARK: 30, OFFSET_HINT_KEY: 0}
    events = sync(api, partition, settings())
    assert events == [
        CHECKPOINT,
        *[(r, Phase.CHANGED) for r in records],
        CHECKPOINT,
        CHECKPOINT,
    ]
    assert statuses(partition) == {10: 1, 20: 2, 30: 4}
    assert in_flight(partition) == [10, 30]
    assert api.by_id("POST", "/refresh") == [10, 30]  # back in flight: asked at once


def test_live_holds_the_capture_state_and_partition_during_events_and_none_after():
    api = Api([invoice(10, 1, updated=3), invoice(20, 2, updated=2)])
    partition: dict[str, Any] = {}
    sync(api, partition, settings())
    api.records[10] = invoice(10, 2, updated=9)
    api.records[30] = invoice(30, 1)
    capture = capture_of(api, partition, settings(now=NOW + timedelta(hours=1), hours=0))
    assert capture.live is None
    lives = []
    for event in capture.events():
        assert capture.live is not None
        lives.append((event, capture.live[0], capture.live[1] is partition))
    assert capture.live is None
    first_state = lives[0][1]
    assert [(event, state is first_state, same) for event, state, same in lives] == [
        ((invoice(30, 1), Phase.NEW), True, True),
        (CHECKPOINT, True, True),
        ((invoice(10, 2, updated=9), Phase.CHANGED), True, True),
        (CHECKPOINT, True, True),
        (CHECKPOINT, True, True),
    ]


def test_an_error_mid_refresh_leaves_the_capture_state_of_what_was_yielded_in_the_partition():
    api = Api([invoice(10, 1), invoice(20, 1), invoice(30, 2)])
    partition: dict[str, Any] = {}
    sync(api, partition, settings())
    api.records[10] = invoice(10, 2, updated=9)
    api.failing[20] = MindzPayAPIError("POST /v1/accounts/1/invoices/20/refresh: 400 refused")
    capture = capture_of(api, partition, settings(now=NOW + timedelta(hours=1)))
    events: list[Event] = []
    written: list[tuple[dict[int, object], list[int]]] = []

    def take_and_note_each_state() -> None:
        for record, phase in capture.events():
            events.append((record, phase))
            if phase is Phase.CHECKPOINT and capture.live is not None:
                capture.live[0].write(capture.live[1])
                written.append((statuses(partition), in_flight(partition)))

    with pytest.raises(MindzPayAPIError, match="400 refused"):
        take_and_note_each_state()
    assert events == [CHECKPOINT, (invoice(10, 2, updated=9), Phase.CHANGED)]
    assert capture.live is None
    # The STATE before the refreshes: 10 and 20 in flight at 1.
    assert written == [({10: 1, 20: 1, 30: 2}, [10, 20])]
    # Written on the way out: 10 (handed out, settled) at 2; 20 (not answered) as it was.
    assert statuses(partition) == {10: 2, 20: 1, 30: 2}
    assert in_flight(partition) == [20]


def test_transitions_receive_each_observed_status_move_with_its_previous_status_and_how():
    api = Api([invoice(10, 1, updated=2), invoice(20, 2, updated=3)])
    partition: dict[str, Any] = {}
    seen: list[tuple[dict[str, Any], object, str]] = []

    def transitions(record: Any, previous: object, via: str) -> None:
        seen.append((dict(record), previous, via))

    sync(api, partition, settings(), transitions=transitions)
    assert seen == [
        (invoice(10, 1, updated=2), None, "new"),
        (invoice(20, 2, updated=3), None, "new"),
    ]
    seen.clear()
    api.records[10] = invoice(10, 2, updated=9)  # seen by its refresh
    api.records[20] = invoice(20, 5, updated=9)  # seen by the sweep
    api.records[30] = invoice(30, 4, updated=9)
    sync(api, partition, settings(now=NOW + timedelta(hours=1), hours=0), transitions=transitions)
    assert seen == [
        (invoice(30, 4, updated=9), None, "new"),
        (invoice(10, 2, updated=9), 1, "refresh"),
        (invoice(20, 5, updated=9), 2, "sweep"),
    ]


def test_a_publishing_payments_rule_leaves_its_accounts_statuses_and_newly_paid_in_signals():
    api = Api([payment(1, "pending"), payment(2, "paid"), payment(3, "pending")])
    signals = Signals()
    partition: dict[str, Any] = {}
    first = sync(api, partition, settings(PAYMENTS, signals=signals))
    listed = [payment(1, "pending"), payment(2, "paid"), payment(3, "pending")]
    assert first == [(r, Phase.NEW) for r in listed] + [CHECKPOINT, CHECKPOINT]
    assert api.by_id("GET") == []  # pending payments just listed: nothing to ask yet
    published = signals.of(ACCOUNT)
    assert published is not None
    assert published.paid == frozenset()
    assert [published.status(i) for i in (1, 2, 3, 99)] == ["pending", "paid", "pending", None]

    api.records[1] = payment(1, "paid", updated=9)
    second = sync(api, partition, settings(PAYMENTS, NOW + timedelta(hours=1), signals=signals))
    assert second == [CHECKPOINT, (payment(1, "paid", updated=9), Phase.CHANGED), CHECKPOINT]
    assert api.by_id("GET") == [1, 3]  # the rule's method and suffix: GET /{id}
    published = signals.of(ACCOUNT)
    assert published is not None
    assert published.paid == frozenset({1})
    assert [published.status(i) for i in (1, 2, 3, 99)] == ["paid", "paid", "pending", None]
    assert signals.of("acc_2") is None


@pytest.mark.parametrize("paid", [True, False], ids=["payment-paid", "payment-pending"])
def test_an_invoice_waiting_on_its_payment_is_refreshed_once_the_signals_say_it_was_paid(paid):
    api = Api([invoice(10, 0, payment=7)])
    signals = Signals()
    partition: dict[str, Any] = {}
    sync(api, partition, settings(signals=signals))
    assert api.by_id("POST", "/refresh") == []  # waiting on payment 7, not paid yet
    signals.publish(
        ACCOUNT,
        AccountSignals({7: "paid" if paid else "pending"}.get, frozenset({7} if paid else ())),
    )
    api.records[10] = invoice(10, 1, updated=9, payment=7)  # handed to the provider
    api.calls.clear()
    events = sync(api, partition, settings(now=NOW + timedelta(minutes=10), signals=signals))
    if paid:
        assert events == [
            CHECKPOINT,
            (invoice(10, 1, updated=9, payment=7), Phase.CHANGED),
            CHECKPOINT,
        ]
        assert api.by_id("POST", "/refresh") == [10]
    else:
        assert events == [CHECKPOINT, CHECKPOINT]
        assert api.by_id("POST", "/refresh") == []


def test_new_records_read_another_way_come_as_given_the_unchanged_ones_as_unchanged():
    api = Api([invoice(10, 2)])
    partition: dict[str, Any] = {}
    sync(api, partition, settings())
    api.calls.clear()
    newest_first = [invoice(30, 2), invoice(20, 2)]
    unchanged = invoice(10, 2)
    how = settings(now=NOW + timedelta(hours=1))
    read = [(newest_first[0], True), (newest_first[1], True), (unchanged, False)]
    capture = capture_of(api, partition, how, new=iter(read))
    events = consume(capture)
    assert events == [
        (newest_first[0], Phase.NEW),
        (newest_first[1], Phase.NEW),
        (unchanged, Phase.UNCHANGED),
        CHECKPOINT,
        CHECKPOINT,
    ]
    assert api.calls == []
    assert statuses(partition) == {10: 2, 20: 2, 30: 2}


def test_full_table_yields_every_record_of_the_list_as_new():
    records = [invoice(i, 2) for i in range(10, 110, 10)]
    api = Api(records)
    assert list(full_table(reader(api))) == [(r, Phase.NEW) for r in records]
    assert api.calls == [("GET", "")] * 3  # offsets 0, 3 and 6
