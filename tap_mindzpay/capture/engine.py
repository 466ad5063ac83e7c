"""Refresh-driven change capture: the phases of one account partition (state: ``state``).

MindzPay's lists have no "updated since" filter, and an invoice's fiscal status only moves when
someone calls Refresh. So, per account partition, after the new records (paged by id from the
bookmark), the engine:

1. **refreshes** the records in flight (invoices 0/1/4, pending payments) whose status can have
   moved (``schedule``), concurrently (``max_concurrency``) through the stream's one request
   path (auth, retries, rate budget), emits those that changed, forgets the settled, and emits
   a deletion marker on a 404;
2. **sweeps** every ``sweep_interval_hours`` (0 = every run): pages the whole list, emits records
   whose ``updated_at`` is at or past the last sweep's high-water mark (merchant cancels,
   reissues, edits), puts records in flight again back in the set, and asks the API (a GET by
   id, concurrently) for every known id the list no longer has: a 404 emits a deletion marker,
   a record is emitted as it is and kept; records before ``start_date`` are never deleted for
   it. A sweep that did not list over a tenth of the partition says so in one warning line
   (``fetching.UNLISTED_WARN_SHARE``). A record whose content equals what the same run
   already handed out for that id (a new record, a refreshed change) is not emitted again
   (``Engine.sent``, a 16-byte digest per id, kept only in a run whose sweep is due).

The per-record requests of both phases (concurrent, in id order) are ``fetching``'s: a refresh
that still fails after its retries is deferred (``deferral``): the id stays in flight,
unchanged, and is refreshed again next run.

Status transitions (``on_change``): every record the engine hands out whose status differs from
the last one it saw for that id is reported with the previous status (``None`` when the id is new
or its status was never seen) and how it was seen: ``new``, ``refresh`` or ``sweep``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any

import msgspec

from tap_mindzpay.capture.codec import IdSet, StatusMap
from tap_mindzpay.capture.fetching import RecordRequests
from tap_mindzpay.capture.schedule import unchanged_since
from tap_mindzpay.capture.state import DELETED_AT, CaptureState, Flight, stamp_of
from tap_mindzpay.run.cadence import CHUNK
from tap_mindzpay.settings import DEFAULT_MAX_CONCURRENCY
from tap_mindzpay.timestamps import parse_timestamp

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from tap_mindzpay.capture.schedule import Schedule

#: The previous status of an id the engine has not seen (distinct from a status of None).
UNSEEN = object()


def content_digest(record: Mapping[str, Any]) -> bytes:
    """A digest of a record as the API sent it (key order ignored): equal means unchanged."""
    encoded = msgspec.json.encode(record, order="sorted")
    return hashlib.blake2b(encoded, digest_size=16).digest()


def later(a: str | None, b: str | None) -> str | None:
    """The later of two timestamps (None is earliest)."""
    if a is None:
        return b
    if b is None:
        return a
    if a[-6:] == b[-6:] and len(a) == len(b):
        return max(a, b)  # same offset and shape: text order is time order (fast path)
    return a if parse_timestamp(a) >= parse_timestamp(b) else b


@dataclass
class Engine:
    """The capture phases of one partition, driven by the stream (see module docstring)."""

    state: CaptureState
    in_flight_rule: Callable[[Mapping[str, Any]], bool] | None
    fetch: Callable[[int], dict[str, Any] | None]
    page_all: Callable[[], Iterator[dict[str, Any]]]
    #: Offer a checkpoint (``force=True``: write now; else the host's cadence decides).
    checkpoint: Callable[..., None]
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    counts: dict[str, int] = field(default_factory=dict)
    back_in_flight: set[int] = field(default_factory=set)
    #: Called with (record, previous status or None, via) for every status transition seen.
    on_change: Callable[[Mapping[str, Any], object, str], None] | None = None
    #: A sweep follows in this run: remember what each id was handed out as (``sent``), so
    #: that the sweep does not hand out the same content again.
    sweep_follows: bool = False
    #: Content digest of every record handed out so far in this run, by id (``sweep_follows``).
    sent: dict[int, bytes] = field(default_factory=dict)
    #: Which records in flight this sync refreshes (``None``: all of them).
    schedule: Schedule | None = None
    #: ``RefreshRule.link`` of the stream (``None``: no link).
    link: Callable[[Mapping[str, Any]], int] | None = None
    #: Records seen entering this status in this run are collected in ``entered``.
    signal_status: object = UNSEEN
    entered: set[int] = field(default_factory=set)
    #: The record by a plain GET of its id (``None``: 404, deleted); ``None``: use ``fetch``.
    confirm: Callable[[int], dict[str, Any] | None] | None = None
    #: Whether a record predates ``start_date`` (read, never handed out, never deleted).
    predates_start: Callable[[Mapping[str, Any]], bool] = lambda _record: False
    #: One warning line (a deferred id, a sweep that would delete a large share), naming the
    #: partition ``where``.
    warn: Callable[[str], None] = logging.getLogger("tap-mindzpay.capture").warning
    where: str = ""

    def __post_init__(self) -> None:
        """The minute the refresh bookkeeping records (the schedule's clock); the requests."""
        self.minute = self.schedule.now if self.schedule else int(self.now.timestamp() // 60)
        on_stop = partial(self.checkpoint, force=True)
        self.requests = RecordRequests(
            self.max_concurrency, on_stop, self._count, self.warn, self.where, self.last_status
        )

    def _count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def status_of(self, record_id: int) -> object:
        """The last status seen for an id (``UNSEEN`` if none)."""
        statuses = self.state.statuses
        if statuses is None:
            return UNSEEN
        held, status = statuses.get(record_id)
        return status if held and status is not None else UNSEEN

    def last_status(self, record_id: int) -> object:
        """The last status seen for an id (``None`` if none): what other streams may ask."""
        status = self.status_of(record_id)
        return None if status is UNSEEN else status

    def _seen(self, record: Mapping[str, Any], previous: object, via: str) -> None:
        """Remember the record's status; report a transition (``previous`` UNSEEN: None)."""
        if self.state.statuses is not None:
            self.state.statuses.set(record["id"], record.get("status"))
        self._report(record, previous, via)

    def _report(self, record: Mapping[str, Any], previous: object, via: str) -> None:
        status = record.get("status")
        if previous != status:
            if self.on_change is not None:
                self.on_change(record, None if previous is UNSEEN else previous, via)
            if status == self.signal_status and previous is not UNSEEN:
                # A move seen (not a first listing): a new record's status is in the map.
                self.entered.add(record["id"])

    def _fly(self, record: Mapping[str, Any], checked: int, previous: object) -> None:
        """Keep ``record`` in flight: since when its status (``previous`` before) is as it is."""
        record_id = record["id"]
        updated = record.get("updated_at")
        before = self.state.in_flight.get(record_id)
        if before is not None and previous == record.get("status"):
            since = before.since
        else:
            since = unchanged_since(updated, self.minute)
        link = self.link(record) if self.link is not None else 0
        self.state.in_flight[record_id] = Flight(stamp_of(updated), since, checked, link)
        self.state.hold(record_id, record.get("status"))

    def observe_new(self, record: Mapping[str, Any]) -> None:
        """A record of the new-records phase: remember its id and status, and it if in flight."""
        record_id = record.get("id")
        if not isinstance(record_id, int):
            return
        previous = self.status_of(record_id)
        self._seen(record, previous, "new")
        if self.sweep_follows:
            self.sent[record_id] = content_digest(record)
        if self.in_flight_rule is not None and self.in_flight_rule(record):
            self._fly(record, self.minute, previous)  # read now: as good as a refresh
        # Only a sweep (or the first full sync, which is one) may move the sweep's mark: a new
        # record's updated_at says nothing about older records changed since the last sweep.
        if self.state.sweep_at is None:
            self.state.sweep_hwm = later(self.state.sweep_hwm, record.get("updated_at"))

    def first_sweep_done(self) -> None:
        """The first full sync (maybe resumed) read the whole list: it counts as a sweep."""
        self.state.sweep_at = self.now.isoformat(timespec="seconds")

    def due_ids(self, only: set[int] | None = None) -> list[int]:
        """The in-flight ids this sync refreshes (all, or of `only`), by the schedule."""
        in_flight = self.state.in_flight
        ids = sorted(in_flight if only is None else only & in_flight.keys())
        schedule = self.schedule
        if schedule is None or only is not None:
            return ids
        due = []
        for record_id in ids:
            flight = in_flight[record_id]
            why = schedule.due(self.status_of(record_id), flight.since, flight.checked, flight.link)
            if why is None:
                self._count("waiting")
            else:
                due.append(record_id)
        return due

    def refresh(self, only: set[int] | None = None) -> Iterator[dict[str, Any]]:
        """Refresh in-flight records that are due (or `only` these); yield changes and deletions."""
        if self.in_flight_rule is None:
            return
        answers = self.requests.refreshes(self.due_ids(only), self.fetch)
        for handed, (record_id, record) in enumerate(answers, start=1):
            self._count("refreshed")
            yield from self._refreshed(record_id, record)
            if handed % CHUNK == 0:
                self.checkpoint(force=False)

    def _refreshed(self, record_id: int, record: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
        before = self.state.in_flight.pop(record_id)
        previous = self.status_of(record_id)
        if record is None:
            yield self._deleted(record_id)
            return
        if (record.get("status"), stamp_of(record.get("updated_at"))) != (previous, before.stamp):
            self._count("changed")
            self._seen(record, previous, "refresh")
            if self.sweep_follows:
                self.sent[record_id] = content_digest(record)
            yield record
        if self.in_flight_rule is not None and self.in_flight_rule(record):
            self.state.in_flight[record_id] = before
            self._fly(record, self.minute, previous)
        else:
            self._count("settled")

    def sweep(self, *, emit_all: bool) -> Iterator[dict[str, Any]]:
        """Page the whole list: yield what changed since the last sweep, then what is gone.

        An id the list did not show is deleted only once the API confirms it (``confirm``
        answers ``None``: a 404); one still there is handed out as it is and kept. Records
        before ``start_date`` are neither handed out nor tracked, and never deleted for it.
        """
        hwm = None if emit_all else self.state.sweep_hwm
        limit = parse_timestamp(hwm) if hwm else None
        seen = IdSet()
        # Statuses are rebuilt from the list (the old ones answer "from which status"); the
        # old map stays the state's until the end, so a STATE written mid-sweep holds every id.
        old, statuses = self.state.statuses, StatusMap()
        known = len(old) if old is not None else len(self.state.in_flight)
        newest = self.state.sweep_hwm
        for record in self.page_all():
            record_id = record["id"]
            seen.add(record_id)
            if self.predates_start(record):
                self.state.in_flight.pop(record_id, None)
                continue
            newest = later(newest, record.get("updated_at"))
            yield from self._swept(record, statuses, limit)
        unlisted = sorted(
            {i for i in old or () if i not in seen}
            | {i for i in self.state.in_flight if i not in seen}
        )
        confirm = self.confirm or self.fetch
        for record_id, found in self.requests.confirmed(unlisted, confirm, known, statuses):
            if found is None:
                yield self._deleted(record_id)
            elif self.predates_start(found):
                self.state.in_flight.pop(record_id, None)
            else:
                yield from self._swept(found, statuses, None)
        self.state.statuses = statuses
        self.state.sweep_hwm = newest
        self.state.sweep_at = self.now.isoformat(timespec="seconds")
        self.checkpoint(force=True)

    def _swept(
        self, record: dict[str, Any], statuses: StatusMap, limit: datetime | None
    ) -> Iterator[dict[str, Any]]:
        """One record the sweep read: hand it out if it moved or changed since ``limit``."""
        record_id = record["id"]
        updated = record.get("updated_at")
        status = record.get("status")
        previous = self.status_of(record_id)
        moved = previous is not UNSEEN and previous != status
        since = limit is None or (updated is not None and parse_timestamp(updated) >= limit)
        if (moved or since) and not self._sent_unchanged(record_id, record):
            self._count("swept")
            self._report(record, previous, "sweep")
            yield record
        statuses.set(record_id, status)
        if self.in_flight_rule is not None and self.in_flight_rule(record):
            flight = self.state.in_flight.get(record_id)
            if flight is None:
                self.back_in_flight.add(record_id)
            self._fly(record, flight.checked if flight else 0, previous)
        else:
            # Settled since it was last refreshed (for example a merchant's action): the
            # sweep has just handed out its latest content, so it leaves the in-flight set.
            self.state.in_flight.pop(record_id, None)

    def _sent_unchanged(self, record_id: int, record: Mapping[str, Any]) -> bool:
        """Whether this run already handed out ``record`` for this id with the same content.

        A record the new-records or refresh phase handed out is usually at or past the sweep's
        mark too; sending it again would be a byte-identical duplicate (an extra row for an
        append-only loader, and a ``changed`` count for no change). Any difference in content
        sends it.
        """
        digest = self.sent.get(record_id)
        if digest is None or digest != content_digest(record):
            return False
        self._count("already_sent")
        return True

    def _deleted(self, record_id: int) -> dict[str, Any]:
        """Forget a deleted id, count it: a record that says "support deleted this id"."""
        self.state.in_flight.pop(record_id, None)
        if self.state.statuses is not None:
            self.state.statuses.discard(record_id)
        self._count("deleted")
        return {"id": record_id, DELETED_AT: self.now.isoformat(timespec="seconds")}
