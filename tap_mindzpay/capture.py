"""Refresh-driven change capture: the state it keeps per account, and the phases that use it.

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

State lives in the SDK's partition state, next to the id bookmark, under ``"capture"``::

    {"context": {"account_id": 1, "account_key": "acc_1c80a3b1799d"},
     "replication_key": "id", "replication_key_value": 6023,
     "capture": {
       "version": 1,
       "in_flight": {"5987": [1, "2026-11-01T09:41:00-03:00"]},
       "sweep": {"hwm": "2026-11-01T10:00:00-03:00", "at": "2026-11-24T19:34:13+00:00"},
       "known": "eJzt...",
       "statuses": [[2, "eJzt..."], [5, "eJy7..."]]}}

``in_flight`` maps an id to its last seen ``[status, updated_at]``; ``known`` is every id seen in
the partition (zlib + base64 of the delta-encoded sorted ids; about 2 KB for 2,000 invoices) so a
sweep can tell which records support deleted. ``statuses`` (streams whose rule tracks status
transitions: invoices) holds the ids by their last seen status, encoded the same way, so that a
change found by a sweep can say which status it came from. State without ``"capture"`` (written
before change capture existed) is upgraded: the next run sweeps and re-emits the whole list once;
state without ``"statuses"`` gains it at the next sweep (until then, a transition of a settled
record says ``from_status`` null).

Status transitions (``on_change``): every record the engine hands out whose status differs from
the last one it saw for that id is reported with the previous status (``None`` when the id is new
or its status was never seen) and how it was seen: ``new``, ``refresh`` or ``sweep``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

VERSION = 1
CAPTURE_KEY = "capture"
DELETED_AT = "_sdc_deleted_at"
CHUNK = 200  # records refreshed between two STATE messages
#: The previous status of an id the engine has not seen (distinct from a status of None).
UNSEEN = object()


class IdSet:
    """A set of non-negative ids as a bitset: 1M invoice ids cost ~125 KB, not ~60 MB."""

    def __init__(self, ids: Iterable[int] = ()) -> None:
        """An id set holding `ids`."""
        self.bits = bytearray()
        for value in ids:
            self.add(value)

    def add(self, value: int) -> None:
        """Add one id."""
        index = value >> 3
        if index >= len(self.bits):
            self.bits.extend(bytes(index - len(self.bits) + 1 + len(self.bits) // 2))
        self.bits[index] |= 1 << (value & 7)

    def discard(self, value: int) -> None:
        """Remove one id if present."""
        index = value >> 3
        if index < len(self.bits):
            self.bits[index] &= ~(1 << (value & 7)) & 0xFF

    def __contains__(self, value: object) -> bool:
        """Whether the id is in the set."""
        if not isinstance(value, int) or value < 0:
            return False
        index = value >> 3
        return index < len(self.bits) and bool(self.bits[index] >> (value & 7) & 1)

    def __iter__(self) -> Iterator[int]:
        """The ids, ascending."""
        for index, byte in enumerate(self.bits):
            if byte:
                base = index << 3
                for bit in range(8):
                    if byte >> bit & 1:
                        yield base + bit

    def __len__(self) -> int:
        """How many ids."""
        return sum(byte.bit_count() for byte in self.bits)


class CaptureStateError(ValueError):
    """The capture part of a partition state cannot be used (names stream and account)."""


def encode_ids(ids: Iterable[int]) -> str:
    """Compact text for a set of ids: sorted deltas, zlib, base64."""
    # Streamed through the compressor in chunks: a million ids never sit in one list.
    compressor, parts, chunk, previous = zlib.compressobj(9), [], [], 0
    for value in ids if isinstance(ids, IdSet) else sorted(ids):
        chunk.append(str(value - previous))
        previous = value
        if len(chunk) >= 4096:  # noqa: PLR2004 - chunk size
            parts.append(compressor.compress((",".join(chunk) + ",").encode()))
            chunk.clear()
    parts.append(compressor.compress(",".join(chunk).encode()))
    parts.append(compressor.flush())
    return base64.b64encode(b"".join(parts)).decode()


def decode_ids(text: str) -> IdSet:
    """The ids ``encode_ids`` wrote.

    Raises:
        ValueError: The text is not what ``encode_ids`` writes.
    """
    raw = zlib.decompress(base64.b64decode(text.encode(), validate=True)).decode()
    total, ids = 0, IdSet()
    for part in filter(None, raw.split(",")):
        total += int(part)
        ids.add(total)
    return ids


def _fingerprint_of(value: object) -> tuple[Any, str | None]:
    """An ``in_flight`` entry of the state: ``[status, updated_at]``."""
    if not (isinstance(value, list) and len(value) == 2):  # noqa: PLR2004 - [status, updated_at]
        msg = f"in_flight entries are [status, updated_at], not {value!r:.60}"
        raise TypeError(msg)
    status, updated = value
    if updated is not None and not isinstance(updated, str):
        msg = f"in_flight updated_at must be a timestamp string, not {updated!r:.40}"
        raise TypeError(msg)
    return status, updated


def parse_time(value: str) -> datetime:
    """An ISO 8601 timestamp with offset."""
    return datetime.fromisoformat(value)


@dataclass
class CaptureState:
    """The capture state of one stream partition, in memory."""

    in_flight: dict[int, tuple[Any, str | None]] = field(default_factory=dict)
    sweep_hwm: str | None = None
    sweep_at: str | None = None
    known: IdSet | None = None
    #: Ids by last seen status (``None``: not tracked, or state written before tracking).
    statuses: dict[object, IdSet] | None = None

    @classmethod
    def read(cls, partition: Mapping[str, Any], where: str) -> CaptureState:
        """Validate and load ``partition["capture"]``; upgrade state that has none.

        Raises:
            CaptureStateError: The capture state has the wrong shape or version.
        """
        raw = partition.get(CAPTURE_KEY)
        if raw is None:
            return cls()
        try:
            if not isinstance(raw, dict) or raw.get("version") != VERSION:
                msg = f"version must be {VERSION}"
                raise TypeError(msg)  # noqa: TRY301 - one message path for every shape error
            in_flight = {
                int(key): _fingerprint_of(value) for key, value in raw.get("in_flight", {}).items()
            }
            sweep = raw.get("sweep") or {}
            hwm, at = sweep.get("hwm"), sweep.get("at")
            for stamp in (hwm, at):
                if stamp is not None:
                    parse_time(stamp)
            known = decode_ids(raw["known"]) if raw.get("known") else None
            statuses = (
                {status: decode_ids(ids) for status, ids in raw["statuses"]}
                if raw.get("statuses") is not None
                else None
            )
        except (
            TypeError,
            ValueError,
            KeyError,
            IndexError,
            AttributeError,
            binascii.Error,
            zlib.error,
        ) as e:
            msg = (
                f"state for {where} has an unusable 'capture' section ({e}); fix or remove that "
                "partition's state (meltano state edit/clear) - the tap will not guess"
            )
            raise CaptureStateError(msg) from e
        return cls(in_flight, hwm, at, known, statuses)

    def write(self, partition: dict[str, Any], *, with_known: bool = True) -> None:
        """Store this state in ``partition["capture"]`` (JSON-compatible).

        ``with_known=False`` keeps the stored id set as it was (encoding it is O(n log n); the
        STATE messages written every few hundred new records skip it, phase ends write it).
        """
        previous = partition.get(CAPTURE_KEY)
        if with_known or not isinstance(previous, dict):
            known = encode_ids(self.known) if self.known is not None else None
            statuses = (
                [[status, encode_ids(ids)] for status, ids in self.statuses.items() if len(ids)]
                if self.statuses is not None
                else None
            )
        else:
            known, statuses = previous.get("known"), previous.get("statuses")
        partition[CAPTURE_KEY] = {
            "version": VERSION,
            "in_flight": {str(k): list(v) for k, v in sorted(self.in_flight.items())},
            "sweep": {"hwm": self.sweep_hwm, "at": self.sweep_at},
            "known": known,
        }
        if statuses is not None:
            partition[CAPTURE_KEY]["statuses"] = statuses

    def sweep_due(self, interval_hours: float, now: datetime) -> bool:
        """Whether a sweep is due: never swept, or ``interval_hours`` passed (0 = always)."""
        if self.sweep_at is None or interval_hours <= 0:
            return True
        return now - parse_time(self.sweep_at) >= timedelta(hours=interval_hours)


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
    return a if parse_time(a) >= parse_time(b) else b


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
        limit = parse_time(hwm) if hwm else None
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
            if (
                moved or limit is None or (updated is not None and parse_time(updated) >= limit)
            ) and not self._sent_unchanged(record_id, record):
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
