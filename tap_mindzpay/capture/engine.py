"""Refresh-driven change capture: the phases of one account partition (state: ``state``).

MindzPay's lists have no "updated since" filter, and an invoice's fiscal status only moves when
someone calls Refresh. So, per account partition, after the new records (paged by id from the
bookmark), the engine:

1. **refreshes** every record still in flight (invoices 0/1/4, pending payments), concurrently
   (``max_concurrency``) through the stream's one request path (auth, retries, rate budget),
   emits those that changed, forgets the settled, and emits a deletion marker on a 404;
2. **sweeps** every ``sweep_interval_hours`` (0 = every run): pages the whole list, emits records
   whose ``updated_at`` is at or past the last sweep's high-water mark (merchant cancels,
   reissues, edits), puts records in flight again back in the set, and emits a deletion marker
   for every known id the list no longer has. A record whose content equals what the same run
   already handed out for that id (a new record, a refreshed change) is not emitted again
   (``Engine.sent``, a 16-byte digest per id, kept only in a run whose sweep is due).

Status transitions (``on_change``): every record the engine hands out whose status differs from
the last one it saw for that id is reported with the previous status (``None`` when the id is new
or its status was never seen) and how it was seen: ``new``, ``refresh`` or ``sweep``.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import msgspec

from tap_mindzpay.capture.state import DELETED_AT, CaptureState, IdSet
from tap_mindzpay.timestamps import parse_timestamp

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

CHUNK = 200  # records refreshed between two STATE messages
#: The previous status of an id the engine has not seen (distinct from a status of None).
UNSEEN = object()


def _add_status(statuses: dict[object, IdSet], status: object, record_id: int) -> None:
    """Put ``record_id`` in the id set of ``status``."""
    ids = statuses.get(status)
    if ids is None:
        ids = statuses[status] = IdSet()
    ids.add(record_id)


def fingerprint(record: Mapping[str, Any]) -> tuple[Any, str | None]:
    """What the state remembers of an in-flight record: status and updated_at."""
    return record.get("status"), record.get("updated_at")


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
    checkpoint: Callable[[], None]
    max_concurrency: int = 8
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    counts: dict[str, int] = field(default_factory=dict)
    back_in_flight: set[int] = field(default_factory=set)
    #: Called with (record, previous status or None, via) for every status transition seen.
    on_change: Callable[[Mapping[str, Any], object, str], None] | None = None
    #: Keep ids by last seen status in the state (the stream has a changes stream; tracked
    #: even while ``on_change`` is None, so that ``from_status`` is right once it is set).
    track_statuses: bool = False
    #: A sweep follows in this run: remember what each id was handed out as (``sent``), so
    #: that the sweep does not hand out the same content again.
    sweep_follows: bool = False
    #: Content digest of every record handed out so far in this run, by id (``sweep_follows``).
    sent: dict[int, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Status tracking starts with the first sync of a partition (or its first sweep)."""
        if self.track_statuses and self.state.statuses is None and self.state.known:
            # State from before tracking: statuses are unknown until the next sweep reads them.
            return
        if self.track_statuses and self.state.statuses is None:
            self.state.statuses = {}

    def _count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def status_of(self, record_id: int) -> object:
        """The last status seen for an id (``UNSEEN`` if none)."""
        if record_id in self.state.in_flight:
            return self.state.in_flight[record_id][0]
        statuses = self.state.statuses
        if statuses and (self.state.known is None or record_id in self.state.known):
            for status, ids in statuses.items():
                if record_id in ids:
                    return status
        return UNSEEN

    def _track(self, record_id: int, previous: object, status: object) -> None:
        statuses = self.state.statuses
        if statuses is None or previous == status:
            return
        if previous is not UNSEEN and previous in statuses:
            statuses[previous].discard(record_id)
        _add_status(statuses, status, record_id)

    def _untrack(self, record_id: int, previous: object) -> None:
        if self.state.statuses is not None and previous in self.state.statuses:
            self.state.statuses[previous].discard(record_id)

    def _transition(self, record: Mapping[str, Any], previous: object, via: str) -> None:
        """Report a status transition (``previous`` ``UNSEEN``: reported as None)."""
        status = record.get("status")
        if self.on_change is not None and previous != status:
            self.on_change(record, None if previous is UNSEEN else previous, via)

    def observe_new(self, record: Mapping[str, Any]) -> None:
        """A record of the new-records phase: remember its id, and it if in flight."""
        record_id = record.get("id")
        if not isinstance(record_id, int):
            return
        known = self.state.known
        if self.track_statuses:
            # A new id (once per record of a full sync) needs no lookup of its last status.
            unseen = known is not None and record_id not in known
            previous = UNSEEN if unseen else self.status_of(record_id)
            self._track(record_id, previous, record.get("status"))
            self._transition(record, previous, "new")
        if known is not None:
            known.add(record_id)
        if self.sweep_follows:
            self.sent[record_id] = content_digest(record)
        if self.in_flight_rule is not None and self.in_flight_rule(record):
            self.state.in_flight[record_id] = fingerprint(record)
        # Only a sweep (or the first full sync, which is one) may move the sweep's mark: a new
        # record's updated_at says nothing about older records changed since the last sweep.
        if self.state.sweep_at is None:
            self.state.sweep_hwm = later(self.state.sweep_hwm, record.get("updated_at"))

    def first_sweep_done(self) -> None:
        """The first full sync (maybe resumed) read the whole list: it counts as a sweep."""
        self.state.sweep_at = self.now.isoformat(timespec="seconds")

    def refresh(self, only: set[int] | None = None) -> Iterator[dict[str, Any]]:
        """Refresh in-flight records (all, or `only` these); yield changes and deletions by id."""
        ids = sorted(self.state.in_flight if only is None else only & set(self.state.in_flight))
        if not ids or self.in_flight_rule is None:
            return
        workers = max(1, min(self.max_concurrency, len(ids)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="refresh") as pool:
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                for record_id, record in zip(chunk, pool.map(self.fetch, chunk), strict=True):
                    self._count("refreshed")
                    yield from self._refreshed(record_id, record)
                self.checkpoint()

    def _refreshed(self, record_id: int, record: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
        before = self.state.in_flight.pop(record_id)
        if record is None:
            self._count("deleted")
            if self.state.known is not None:
                self.state.known.discard(record_id)
            self._untrack(record_id, before[0])
            yield self.deletion(record_id)
            return
        if fingerprint(record) != before:
            self._count("changed")
            self._track(record_id, before[0], record.get("status"))
            self._transition(record, before[0], "refresh")
            if self.sweep_follows:
                self.sent[record_id] = content_digest(record)
            yield record
        if self.in_flight_rule is not None and self.in_flight_rule(record):
            self.state.in_flight[record_id] = fingerprint(record)
        else:
            self._count("settled")

    def sweep(self, *, emit_all: bool) -> Iterator[dict[str, Any]]:
        """Page the whole list: yield what changed since the last sweep, then the deletions."""
        hwm = None if emit_all else self.state.sweep_hwm
        limit = parse_timestamp(hwm) if hwm else None
        seen = IdSet()
        tracking = self.track_statuses
        # Statuses are rebuilt from the list (the old ones answer "from which status").
        statuses: dict[object, IdSet] = {}
        newest = self.state.sweep_hwm
        for record in self.page_all():
            record_id = record["id"]
            seen.add(record_id)
            updated = record.get("updated_at")
            newest = later(newest, updated)
            status = record.get("status")
            previous = self.status_of(record_id) if tracking else UNSEEN
            moved = previous is not UNSEEN and previous != status
            since = limit is None or (updated is not None and parse_timestamp(updated) >= limit)
            if (moved or since) and not self._sent_unchanged(record_id, record):
                self._count("swept")
                if tracking:
                    self._transition(record, previous, "sweep")
                yield record
            if tracking:
                _add_status(statuses, status, record_id)
            if self.in_flight_rule is not None and self.in_flight_rule(record):
                if record_id not in self.state.in_flight:
                    self.back_in_flight.add(record_id)
                self.state.in_flight[record_id] = fingerprint(record)
            else:
                # Settled since it was last refreshed (for example a merchant's action): the
                # sweep has just emitted its latest content, so it leaves the in-flight set.
                self.state.in_flight.pop(record_id, None)
        previous_ids = self.state.known or IdSet()
        gone = sorted(
            {i for i in previous_ids if i not in seen}
            | {i for i in self.state.in_flight if i not in seen}
        )
        for record_id in gone:
            self.state.in_flight.pop(record_id, None)
            self._count("deleted")
            yield self.deletion(record_id)
        self.state.known = seen
        if tracking:
            self.state.statuses = statuses
        self.state.sweep_hwm = newest
        self.state.sweep_at = self.now.isoformat(timespec="seconds")
        self.checkpoint()

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

    def deletion(self, record_id: int) -> dict[str, Any]:
        """A record that says "support deleted this id" (other fields null)."""
        return {"id": record_id, DELETED_AT: self.now.isoformat(timespec="seconds")}
