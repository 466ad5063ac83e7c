"""The change-capture state of one partition: its shape, its codec, reading it back.

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
"""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tap_mindzpay.timestamps import parse_timestamp

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

VERSION = 1
CAPTURE_KEY = "capture"
DELETED_AT = "_sdc_deleted_at"


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
                    parse_timestamp(stamp)
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
        return now - parse_timestamp(self.sweep_at) >= timedelta(hours=interval_hours)
