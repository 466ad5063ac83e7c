"""Compact encodings of the capture state: id sets, a status per id, columns of numbers.

Every encoding is zlib + base64 of bytes sized to what they hold. In memory, a ``StatusMap``
(and an ``IdSet``, one on top of it) keeps dense ids in chunks of ``CHUNK_IDS`` consecutive ids
and the others one by one: its memory grows with the ids held, not with the range they span (ids
of 64 bits, from any base, with gaps). On the wire a ``StatusMap`` is one byte per id over its
range when the ids are dense (a million invoices cost about a megabyte before compression, a few
hundred kilobytes after), or each id (as a delta) with its byte when they are sparse. A column
is four or eight bytes per entry, little-endian (``packing``).

Decoding is bounded (``packing``): a crafted or corrupted state fails with one line instead of
allocating gigabytes.
"""

from __future__ import annotations

import heapq
from itertools import accumulate
from typing import TYPE_CHECKING

from tap_mindzpay.capture.packing import (
    MAX_UNPACKED_BYTES,
    pack,
    pack_columns,
    unpack,
    unpack_columns,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

#: The byte of an id the map does not hold.
ABSENT = 0
#: At most this many distinct statuses per map (one byte each, 0 is ``ABSENT``).
MAX_LABELS = 255
#: Ids per in-memory chunk of dense ids (a power of two): a dense million ids cost about what
#: one byte each does.
CHUNK_BITS = 8
CHUNK_IDS = 1 << CHUNK_BITS
_LOW = CHUNK_IDS - 1
#: A map spanning more than this many ids per id held (plus ``DENSE_SLACK``) is written sparse.
DENSE_SPAN_PER_ID = 8
DENSE_SLACK = 4096
#: Ids are at most 64 bits (the API's ids are positive integers).
MAX_ID = 2**63 - 1


def _check_id(value: int) -> None:
    if not 0 <= value <= MAX_ID:
        msg = f"id {value} is outside 0..2**63-1"
        raise ValueError(msg)


#: The one status of an ``IdSet``'s map.
IN_SET = 1


class IdSet:
    """A set of ids: a ``StatusMap`` of one status (1M dense invoice ids cost ~1.5 MB)."""

    def __init__(self, ids: Iterable[int] = ()) -> None:
        """An id set holding `ids`."""
        self._map = StatusMap()
        for value in ids:
            self.add(value)

    def add(self, value: int) -> None:
        """Add one id.

        Raises:
            ValueError: The id is negative or beyond 64 bits.
        """
        self._map.set(value, IN_SET)

    def __contains__(self, value: object) -> bool:
        """Whether the id is in the set."""
        return value in self._map

    def __iter__(self) -> Iterator[int]:
        """The ids, ascending."""
        return iter(self._map)


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
    """The last seen status of every id of a partition: one byte per id.

    Byte 0 is an id the partition does not have (never seen, or deleted); byte k is
    ``labels[k - 1]``. A label ``None`` is an id known without a known status (state upgraded
    from a version that did not track it).

    Ids live in chunks of ``CHUNK_IDS`` consecutive ids (``chunks``) where they are dense, and
    one by one (``lone``) where they are not: an id whose neighbour (one below or above) is
    held starts a chunk, which takes in the lone ids of its range. Dense ids cost about a byte
    each, lone ones about a hundred bytes, whatever their range.
    """

    def __init__(self, labels: Sequence[object] = ()) -> None:
        """An empty map over ``labels``."""
        self.labels: list[object] = list(labels)
        self.code_of = {label: index + 1 for index, label in enumerate(self.labels)}
        self.chunks: dict[int, bytearray] = {}
        self.lone: dict[int, int] = {}
        self._held = 0
        #: What ``encode`` answers until an id or a status changes (a STATE is written many
        #: times per partition, most often with nothing changed since the state was read).
        self._encoded: dict[str, object] | None = None

    def _code(self, record_id: int) -> int:
        chunk = self.chunks.get(record_id >> CHUNK_BITS)
        if chunk is not None:
            return chunk[record_id & _LOW]
        return self.lone.get(record_id, ABSENT)

    def get(self, record_id: int) -> tuple[bool, object]:
        """Whether the id is held, and its status."""
        code = self._code(record_id)
        return (True, self.labels[code - 1]) if code else (False, None)

    def __contains__(self, record_id: object) -> bool:
        """Whether the id is held."""
        return isinstance(record_id, int) and self._code(record_id) != ABSENT

    def set(self, record_id: int, status: object) -> None:
        """Hold ``record_id`` with ``status``.

        Raises:
            ValueError: More than 255 distinct statuses (not a status field), or an id that
                is negative or beyond 64 bits.
        """
        code = self.code_of.get(status)
        if code is None:
            if len(self.labels) >= MAX_LABELS:
                msg = f"more than {MAX_LABELS} distinct statuses"
                raise ValueError(msg)
            self.labels.append(status)
            code = self.code_of[status] = len(self.labels)
        self._put(record_id, code)

    def _put(self, record_id: int, code: int) -> None:
        chunk = self.chunks.get(record_id >> CHUNK_BITS)
        if chunk is None:
            lone = self.lone
            if record_id in lone:
                if lone[record_id] != code:
                    lone[record_id] = code
                    self._encoded = None
                return
            _check_id(record_id)
            self._encoded = None
            if record_id - 1 not in self and record_id + 1 not in self:
                lone[record_id] = code
                self._held += 1
                return
            chunk = self._chunk(record_id >> CHUNK_BITS)
        low = record_id & _LOW
        if chunk[low] == code:
            return
        if not chunk[low]:
            self._held += 1
        chunk[low] = code
        self._encoded = None

    def _chunk(self, key: int) -> bytearray:
        """A new chunk ``key``, holding the lone ids of its range."""
        chunk = self.chunks[key] = bytearray(CHUNK_IDS)
        start, lone = key << CHUNK_BITS, self.lone
        if lone:
            for low in range(CHUNK_IDS):
                code = lone.pop(start + low, ABSENT)
                if code:
                    chunk[low] = code
        return chunk

    def discard(self, record_id: int) -> None:
        """Forget an id (deleted)."""
        chunk = self.chunks.get(record_id >> CHUNK_BITS)
        low = record_id & _LOW
        if chunk is not None and chunk[low]:
            chunk[low] = ABSENT
            self._held -= 1
            self._encoded = None
        elif chunk is None and self.lone.pop(record_id, ABSENT):
            self._held -= 1
            self._encoded = None

    def items(self) -> Iterator[tuple[int, int]]:
        """``(id, code)`` of every id held, ascending."""
        chunked = (
            ((key << CHUNK_BITS) + low, code)
            for key in sorted(self.chunks)
            for low, code in enumerate(self.chunks[key])
            if code
        )
        return heapq.merge(chunked, sorted(self.lone.items()))

    def __iter__(self) -> Iterator[int]:
        """The ids held, ascending."""
        return (record_id for record_id, _ in self.items())

    def __len__(self) -> int:
        """How many ids are held."""
        return self._held

    def encode(self) -> dict[str, object]:
        """JSON-compatible: dense, or sparse when the ids are spread far apart.

        Dense is ``{"base", "labels", "codes"}`` (a code per id of the range); sparse is
        ``{"labels", "ids", "codes"}`` (the ids as deltas, a code per id). Unchanged since the
        last ``encode`` (or ``decode``), the same value again, not computed again.
        """
        if self._encoded is None:
            self._encoded = self._encode()
        return self._encoded

    def _encode(self) -> dict[str, object]:
        keys = sorted(k for k, chunk in self.chunks.items() if chunk.count(ABSENT) < CHUNK_IDS)
        ends = [
            *((min(self.lone), max(self.lone) + 1) if self.lone else ()),
            *(self._chunk_ends(keys[0])[:1] if keys else ()),
            *(self._chunk_ends(keys[-1])[1:] if keys else ()),
        ]
        if not ends:
            return {"base": 0, "labels": self.labels, "codes": pack(b"")}
        low, high = min(ends), max(ends)
        span = high - low
        if span <= DENSE_SPAN_PER_ID * self._held + DENSE_SLACK and span <= MAX_UNPACKED_BYTES:
            codes = bytearray(span)
            for key in keys:  # whole chunks by slices: a million dense ids in milliseconds
                start = (key << CHUNK_BITS) - low
                chunk = self.chunks[key][max(0, -start) : span - start]
                codes[max(0, start) : max(0, start) + len(chunk)] = chunk
            for record_id, code in self.lone.items():
                codes[record_id - low] = code
            return {"base": low, "labels": self.labels, "codes": pack(bytes(codes))}
        held = list(self.items())
        ids = [record_id for record_id, _ in held]
        deltas = [b - a for a, b in zip([0, *ids], ids, strict=False)]
        codes_text = pack(bytes(code for _, code in held))
        return {"labels": self.labels, "ids": pack_columns([deltas], "Q"), "codes": codes_text}

    def _chunk_ends(self, key: int) -> tuple[int, int]:
        """The first id held in chunk ``key`` and one past the last."""
        chunk = self.chunks[key]
        start = key << CHUNK_BITS
        return start + len(chunk) - len(chunk.lstrip(b"\x00")), start + len(chunk.rstrip(b"\x00"))

    @classmethod
    def decode(cls, value: object) -> StatusMap:
        """The map ``encode`` wrote (dense or sparse).

        Raises:
            ValueError: Not what ``encode`` writes, or beyond the decoding bounds.
        """
        if not isinstance(value, dict) or set(value) not in (
            {"base", "labels", "codes"},
            {"labels", "ids", "codes"},
        ):
            msg = "must be an object of base, labels, codes (or labels, ids, codes)"
            raise ValueError(msg)
        labels, text = value["labels"], value["codes"]
        if not isinstance(labels, list) or len(labels) > MAX_LABELS or not isinstance(text, str):
            msg = f"labels must be a list of at most {MAX_LABELS}, and codes packed text"
            raise ValueError(msg)
        codes = unpack(text)
        if codes and max(codes) > len(labels):
            msg = "a code without a label"
            raise ValueError(msg)
        result = cls(labels)
        if "ids" in value:
            result._fill_sparse(value["ids"], codes)
        else:
            base = value["base"]
            if not (isinstance(base, int) and 0 <= base <= MAX_ID - len(codes)):
                msg = "base must be an id >= 0"
                raise ValueError(msg)
            result._fill_dense(base, codes)
        # What it was read from says the same: a STATE with nothing changed encodes nothing.
        result._encoded = {**value, "labels": list(labels)}
        return result

    def _fill_dense(self, base: int, codes: bytes) -> None:
        position = 0
        while position < len(codes):
            record_id = base + position
            low = record_id & _LOW
            piece = codes[position : position + CHUNK_IDS - low]
            held = len(piece) - piece.count(ABSENT)
            if held:
                chunk = self.chunks[record_id >> CHUNK_BITS] = bytearray(CHUNK_IDS)
                chunk[low : low + len(piece)] = piece
                self._held += held
            position += len(piece)

    def _fill_sparse(self, ids_text: object, codes: bytes) -> None:
        """Hold the ascending ids as ``_put`` one by one would, without its per-id chunk scans.

        Put in ascending order, an id starts its chunk when the id below it is held (the one
        above is not put yet), and a chunk takes in the lone ids of its range: so the chunks
        are those of every id whose predecessor is an id too, and the other ids stay lone.
        """
        if not isinstance(ids_text, str):
            msg = "ids must be packed text"
            raise TypeError(msg)
        (deltas,) = unpack_columns(ids_text, len(codes), ("Q",))
        ids = list(accumulate(deltas))
        if (ids and ids[-1] > MAX_ID) or ABSENT in codes:
            msg = "sparse ids must ascend within 64 bits, each with a status"
            raise ValueError(msg)
        held = set(ids)
        chunked = {record_id >> CHUNK_BITS for record_id in ids if record_id - 1 in held}
        chunks, lone = self.chunks, self.lone
        for record_id, code in zip(ids, codes, strict=True):
            key = record_id >> CHUNK_BITS
            if key in chunked:
                chunk = chunks.get(key)
                if chunk is None:
                    chunk = chunks[key] = bytearray(CHUNK_IDS)
                chunk[record_id & _LOW] = code
            else:
                lone[record_id] = code
        self._held += len(held)
