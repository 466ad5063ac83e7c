"""Compact encodings of the capture state: id sets, a status per id, columns of numbers.

Every encoding is zlib + base64 of bytes sized to what they hold: a ``StatusMap`` is one byte per
id over the partition's id range (ids only grow and are dense per platform, so a million
invoices cost about a megabyte before compression, a few hundred kilobytes after), and a column
is four or eight bytes per entry, little-endian.
"""

from __future__ import annotations

import base64
import sys
import zlib
from array import array
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

#: The byte of an id the map does not hold.
ABSENT = 0
#: At most this many distinct statuses per map (one byte each, 0 is ``ABSENT``).
MAX_LABELS = 255
#: zlib level: the state is written every few seconds at most, and level 6 is within a few
#: percent of 9 on these bytes at a fraction of the time.
LEVEL = 6


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


def pack(raw: bytes) -> str:
    """Zlib + base64 text of ``raw``."""
    return base64.b64encode(zlib.compress(raw, LEVEL)).decode()


def unpack(text: str) -> bytes:
    """The bytes ``pack`` wrote.

    Raises:
        ValueError: Not base64 (``binascii.Error`` is one) or not zlib data (``zlib.error``).
    """
    return zlib.decompress(base64.b64decode(text.encode(), validate=True))


def decode_ids(text: str) -> IdSet:
    """The ids of a version 1 id set (sorted deltas as decimal text, zlib, base64).

    Raises:
        ValueError: The text is not such an id set.
    """
    total, ids = 0, IdSet()
    for part in filter(None, unpack(text).decode().split(",")):
        total += int(part)
        ids.add(total)
    return ids


def encode_ids(ids: Iterable[int]) -> str:
    """A version 1 id set (what ``decode_ids`` reads); kept for tests of the upgrade."""
    previous, parts = 0, []
    for value in sorted(ids):
        parts.append(str(value - previous))
        previous = value
    return pack(",".join(parts).encode())


class StatusMap:
    """The last seen status of every id of a partition: one byte per id from ``base``.

    Byte 0 is an id the partition does not have (never seen, or deleted); byte k is
    ``labels[k - 1]``. A label ``None`` is an id known without a known status (state upgraded
    from a version that did not track it).
    """

    def __init__(self, base: int = 0, labels: Sequence[object] = (), codes: bytes = b"") -> None:
        """A map of ``codes`` (a byte per id from ``base``) over ``labels``."""
        self.base = base
        self.labels: list[object] = list(labels)
        self.code_of = {label: index + 1 for index, label in enumerate(self.labels)}
        self.codes = bytearray(codes)

    def get(self, record_id: int) -> tuple[bool, object]:
        """Whether the id is held, and its status."""
        index = record_id - self.base
        if not 0 <= index < len(self.codes):
            return False, None
        code = self.codes[index]
        return (True, self.labels[code - 1]) if code else (False, None)

    def __contains__(self, record_id: object) -> bool:
        """Whether the id is held."""
        return isinstance(record_id, int) and self.get(record_id)[0]

    def set(self, record_id: int, status: object) -> None:
        """Hold ``record_id`` with ``status``.

        Raises:
            ValueError: More than 255 distinct statuses (not a status field).
        """
        code = self.code_of.get(status)
        if code is None:
            if len(self.labels) >= MAX_LABELS:
                msg = f"more than {MAX_LABELS} distinct statuses"
                raise ValueError(msg)
            self.labels.append(status)
            code = self.code_of[status] = len(self.labels)
        if not self.codes:
            self.base = record_id
        index = record_id - self.base
        if index < 0:
            self.codes[:0] = bytes(-index)
            self.base, index = record_id, 0
        elif index >= len(self.codes):
            self.codes.extend(bytes(index - len(self.codes) + 1 + len(self.codes) // 4))
        self.codes[index] = code

    def discard(self, record_id: int) -> None:
        """Forget an id (deleted)."""
        index = record_id - self.base
        if 0 <= index < len(self.codes):
            self.codes[index] = ABSENT

    def __iter__(self) -> Iterator[int]:
        """The ids held, ascending."""
        base = self.base
        return (base + index for index, code in enumerate(self.codes) if code)

    def __len__(self) -> int:
        """How many ids are held."""
        return len(self.codes) - self.codes.count(ABSENT)

    def encode(self) -> dict[str, object]:
        """JSON-compatible: ``{"base", "labels", "codes"}`` (codes packed)."""
        end = len(self.codes.rstrip(b"\x00"))
        return {"base": self.base, "labels": self.labels, "codes": pack(bytes(self.codes[:end]))}

    @classmethod
    def decode(cls, value: object) -> StatusMap:
        """The map ``encode`` wrote.

        Raises:
            ValueError: Not what ``encode`` writes.
        """
        if not isinstance(value, dict) or set(value) != {"base", "labels", "codes"}:
            msg = "must be an object of base, labels, codes"
            raise ValueError(msg)
        base, labels, text = value["base"], value["labels"], value["codes"]
        if not (isinstance(base, int) and base >= 0 and isinstance(labels, list)):
            msg = "base must be an id >= 0 and labels a list"
            raise ValueError(msg)
        if len(labels) > MAX_LABELS or not isinstance(text, str):
            msg = f"at most {MAX_LABELS} labels, and codes packed text"
            raise ValueError(msg)
        codes = unpack(text)
        if codes and max(codes) > len(labels):
            msg = "a code without a label"
            raise ValueError(msg)
        return cls(base, labels, codes)


def pack_columns(columns: Sequence[Sequence[int]], typecodes: str) -> str:
    """Columns of equal length (one ``array`` typecode each), packed one after the other."""
    raw = bytearray()
    for column, typecode in zip(columns, typecodes, strict=True):
        values = array(typecode, column)
        if sys.byteorder == "big":  # pragma: no cover - the state is little-endian everywhere
            values.byteswap()
        raw += values.tobytes()
    return pack(bytes(raw))


def unpack_columns(text: str, count: int, typecodes: str) -> list[array[int]]:
    """The columns ``pack_columns`` wrote (``count`` entries each).

    Raises:
        ValueError: The bytes are not ``count`` entries of each column.
    """
    raw = unpack(text)
    widths = [array(typecode).itemsize for typecode in typecodes]
    if len(raw) != count * sum(widths):
        msg = f"{len(raw)} bytes are not {count} entries of {len(typecodes)} columns"
        raise ValueError(msg)
    columns, start = [], 0
    for typecode, width in zip(typecodes, widths, strict=True):
        values = array(typecode)
        values.frombytes(raw[start : start + count * width])
        if sys.byteorder == "big":  # pragma: no cover
            values.byteswap()
        columns.append(values)
        start += count * width
    return columns
