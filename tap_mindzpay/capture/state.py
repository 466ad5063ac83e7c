"""The change-capture state of one partition: its shape, its codec, reading it back.

State lives in the SDK's partition state, next to the id bookmark, under ``"capture"``::

    {"context": {"account_id": 1, "account_key": "acc_1c80a3b1799d"},
     "replication_key": "id", "replication_key_value": 6023,
     "capture": {
       "version": 2,
       "sweep": {"hwm": "2026-11-01T10:00:00-03:00", "at": "2026-11-24T19:34:13+00:00"},
       "statuses": {"base": 1, "labels": [2, 8, 0, 5], "codes": "eJzt..."},
       "in_flight": {"count": 2, "columns": "eJxj..."}}}

``statuses`` holds every id of the partition with its last seen status, one byte per id over the
id range from ``base`` (``codec.StatusMap``: byte 0 is an id the partition does not have, byte k
is ``labels[k - 1]``), or, when the ids are sparse, ``{"labels", "ids", "codes"}`` (each id as
the delta from the previous one, unsigned 64 bits, and its byte), so a sweep can tell which
records support deleted and a change can say which status it came from. ``in_flight`` holds the
records whose status may still move, as packed columns of ``count`` entries
(``packing.pack_columns``, layout ``COLUMNS``): the id (as the delta from the previous one), a
CRC-32 of its last seen ``updated_at``, the minute (since the Unix epoch) since which its status
is unchanged (``schedule.unchanged_since``), the minute it was last read, listed or refreshed (0:
never) and its link (``RefreshRule.link``: an invoice's payment id, a payment's due day),
stored as the difference from the id (-2**63: none). Their status is the one in
``statuses``; an id in flight without one there (a state written mid-sweep by an earlier
version) is read with status ``None``, as an upgraded version 1 id is.

Every STATE the tap writes is one it reads back, whatever phase it is written in. Decoding is
bounded (``packing.MAX_UNPACKED_BYTES``, ``MAX_IN_FLIGHT``): a crafted or corrupted state fails
with one line.

At 1M invoices with 100,000 waiting the last STATE is 1.5 MB (``make bench``, figure S).

Version 1 (``known`` and ``statuses`` as id lists, ``in_flight`` as ``{id: [status,
updated_at]}``) is upgraded on read: its in-flight records count as never refreshed and without
a link until a refresh or a sweep reads them again; ids ``known`` without a status have status
``None`` (their transitions say ``from_status`` null until a sweep). State without ``"capture"``
(written before change capture existed) is upgraded too: the next run sweeps and re-emits the
whole list once.
"""

from __future__ import annotations

import binascii
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from tap_mindzpay.capture.codec import StatusMap, decode_ids
from tap_mindzpay.capture.packing import pack_columns, unpack_columns
from tap_mindzpay.timestamps import parse_timestamp

if TYPE_CHECKING:
    from collections.abc import Mapping

VERSION = 2
CAPTURE_KEY = "capture"
DELETED_AT = "_sdc_deleted_at"
#: Columns of ``in_flight``: id delta (unsigned 64 bits: ids of 64 bits), stamp (CRC-32), since
#: and checked (signed 64: minutes of any server clock, before 1970 too), link - id (signed 64).
COLUMNS = "QIqqq"
#: The layouts ``in_flight`` is read in: the current one, and the narrower one written before
#: ids and minutes outside 32 bits were allowed for (told apart by their width).
COLUMN_LAYOUTS = (COLUMNS, "IIIIq")
#: The most records in flight a state may hold (a bound on what decoding allocates): forty
#: times the 100,000 waiting invoices of a million-invoice partition.
MAX_IN_FLIGHT = 4_000_000
_V1 = 1
#: The ``link - id`` column's value for "no link".
NO_LINK = -(2**63)


def stamp_of(updated_at: str | None) -> int:
    """What the state keeps of an ``updated_at``: enough to see that it changed."""
    return zlib.crc32(updated_at.encode()) if updated_at else 0


class Flight(NamedTuple):
    """What the state keeps of a record in flight (its status lives in ``statuses``)."""

    stamp: int
    #: Minute since which its status is unchanged (its ``updated_at`` when first seen so).
    since: int
    #: Minute it was last read, listed or refreshed (0: never).
    checked: int
    #: ``RefreshRule.link`` of the record (0: none).
    link: int


class CaptureStateError(ValueError):
    """The capture part of a partition state cannot be used (names stream and account)."""


@dataclass
class CaptureState:
    """The capture state of one stream partition, in memory."""

    in_flight: dict[int, Flight] = field(default_factory=dict)
    sweep_hwm: str | None = None
    sweep_at: str | None = None
    #: Every id with its last seen status (``None``: state from before change capture).
    statuses: StatusMap | None = None

    @classmethod
    def read(cls, partition: Mapping[str, Any], where: str, now_minute: int = 0) -> CaptureState:
        """Validate and load ``partition["capture"]``; upgrade version 1 and state without one.

        ``now_minute`` is the ``since`` of in-flight records upgraded from version 1.

        Raises:
            CaptureStateError: The capture state has the wrong shape or version.
        """
        raw = partition.get(CAPTURE_KEY)
        if raw is None:
            return cls()
        try:
            if not isinstance(raw, dict) or raw.get("version") not in {_V1, VERSION}:
                msg = f"version must be {VERSION} (or {_V1}, upgraded)"
                raise TypeError(msg)  # noqa: TRY301 - one message path for every shape error
            sweep = raw.get("sweep") or {}
            hwm, at = sweep.get("hwm"), sweep.get("at")
            for stamp in (hwm, at):
                if stamp is not None:
                    parse_timestamp(stamp)
            if raw["version"] == _V1:
                return _upgrade_v1(raw, hwm, at, now_minute)
            statuses = StatusMap.decode(raw["statuses"]) if raw.get("statuses") else None
            in_flight = _read_in_flight(raw.get("in_flight"))
            statuses = _with_in_flight(statuses, in_flight)
        except (
            TypeError,
            ValueError,
            KeyError,
            IndexError,
            AttributeError,
            OverflowError,
            binascii.Error,
            zlib.error,
            MemoryError,
        ) as e:
            msg = (
                f"state for {where} has an unusable 'capture' section ({e}); fix or remove that "
                "partition's state (meltano state edit/clear) - the tap will not guess"
            )
            raise CaptureStateError(msg) from e
        return cls(in_flight, hwm, at, statuses)

    def write(self, partition: dict[str, Any]) -> int:
        """Store this state in ``partition["capture"]`` (JSON-compatible); its encoded size."""
        ids = sorted(self.in_flight)
        flights = [self.in_flight[i] for i in ids]
        deltas = [b - a for a, b in zip([0, *ids], ids, strict=False)]
        columns = pack_columns(
            [
                deltas,
                [f.stamp for f in flights],
                [f.since for f in flights],
                [f.checked for f in flights],
                [f.link - i if f.link else NO_LINK for i, f in zip(ids, flights, strict=True)],
            ],
            COLUMNS,
        )
        section: dict[str, Any] = {
            "version": VERSION,
            "sweep": {"hwm": self.sweep_hwm, "at": self.sweep_at},
            "statuses": self.statuses.encode() if self.statuses is not None else None,
            "in_flight": {"count": len(ids), "columns": columns},
        }
        partition[CAPTURE_KEY] = section
        codes = section["statuses"]["codes"] if section["statuses"] else ""
        return len(columns) + len(codes)

    def hold(self, record_id: int, status: object) -> None:
        """Give ``record_id`` (in flight) ``status`` in ``statuses`` unless it has one there.

        Every id in flight has a status, whatever phase writes the next STATE (a sweep keeps
        the old map until it ends, so an id put in flight mid-sweep is added to it).
        """
        if self.statuses is None:
            self.statuses = StatusMap()
        if record_id not in self.statuses:
            self.statuses.set(record_id, status)

    def sweep_due(self, interval_hours: float, now: datetime) -> bool:
        """Whether a sweep is due: never swept, or ``interval_hours`` passed (0 = always)."""
        if self.sweep_at is None or interval_hours <= 0:
            return True
        return now - parse_timestamp(self.sweep_at) >= timedelta(hours=interval_hours)


def _read_in_flight(raw: object) -> dict[int, Flight]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or set(raw) != {"count", "columns"}:
        msg = "in_flight must be an object of count and columns"
        raise TypeError(msg)
    count = raw["count"]
    if not (isinstance(count, int) and 0 <= count <= MAX_IN_FLIGHT):
        msg = f"in_flight count must be an integer from 0 to {MAX_IN_FLIGHT:,}"
        raise TypeError(msg)
    if not isinstance(raw["columns"], str):
        msg = "in_flight columns must be packed text"
        raise TypeError(msg)
    deltas, stamps, since, checked, links = unpack_columns(raw["columns"], count, COLUMN_LAYOUTS)
    in_flight, record_id = {}, 0
    for index, delta in enumerate(deltas):
        record_id += delta
        link = links[index]
        in_flight[record_id] = Flight(
            stamps[index], since[index], checked[index], 0 if link == NO_LINK else record_id + link
        )
    return in_flight


def _with_in_flight(
    statuses: StatusMap | None, in_flight: Mapping[int, Flight]
) -> StatusMap | None:
    """``statuses`` holding every id in flight: one without a status gets status ``None``.

    A state written mid-sweep by an earlier tap version can hold such an id; its status is
    then read again by its next refresh or sweep, as for an upgraded version 1 state.
    """
    for record_id in in_flight:
        if statuses is None:
            statuses = StatusMap()
        if record_id not in statuses:
            statuses.set(record_id, None)
    return statuses


def _upgrade_v1(raw: Mapping[str, Any], hwm: str | None, at: str | None, now: int) -> CaptureState:
    """Version 1: id sets by status, ``known``, and ``in_flight`` as ``{id: [status, at]}``."""
    known = decode_ids(raw["known"]) if raw.get("known") else None
    statuses = StatusMap() if known is not None or raw.get("statuses") else None
    by_status = [(status, decode_ids(text)) for status, text in raw.get("statuses") or []]
    if statuses is not None:
        # Every id in ``known``, then its status where version 1 tracked one.
        for record_id in known or ():
            statuses.set(record_id, None)
        for status, ids in by_status:
            for record_id in ids:
                if known is None or record_id in known:
                    statuses.set(record_id, status)
    in_flight = {}
    for key, value in (raw.get("in_flight") or {}).items():
        if not (isinstance(value, list) and len(value) == 2):  # noqa: PLR2004 - [status, updated_at]
            msg = f"in_flight entries are [status, updated_at], not {value!r:.60}"
            raise TypeError(msg)
        status, updated = value
        if updated is not None and not isinstance(updated, str):
            msg = f"in_flight updated_at must be a timestamp string, not {updated!r:.40}"
            raise TypeError(msg)
        record_id = int(key)
        if statuses is None:
            statuses = StatusMap()
        statuses.set(record_id, status)
        in_flight[record_id] = Flight(stamp_of(updated), now, 0, 0)
    return CaptureState(in_flight, hwm, at, statuses)
