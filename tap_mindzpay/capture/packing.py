"""Packed text of the capture state: zlib + base64 of bytes, and columns of numbers.

A column is four or eight bytes per entry, little-endian. Decoding is bounded: no packed field
decompresses to more than ``MAX_UNPACKED_BYTES``, so a crafted or corrupted state fails with one
line instead of allocating gigabytes.
"""

from __future__ import annotations

import base64
import sys
import zlib
from array import array
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

#: zlib level: the state is written every few seconds at most, and level 6 is within a few
#: percent of 9 on these bytes at a fraction of the time.
LEVEL = 6
#: The most bytes one packed field of a state may decompress to: 256 MiB is a dense status map
#: of a quarter of a billion ids, or 28 million sparse ones, far beyond any real partition.
MAX_UNPACKED_BYTES = 256 << 20


def pack(raw: bytes) -> str:
    """Zlib + base64 text of ``raw``."""
    return base64.b64encode(zlib.compress(raw, LEVEL)).decode()


def unpack(text: str, max_bytes: int = MAX_UNPACKED_BYTES) -> bytes:
    """The bytes ``pack`` wrote, if they are at most ``max_bytes``.

    Raises:
        ValueError: Not base64 (``binascii.Error`` is one), not zlib data (``zlib.error``),
            truncated, or more than ``max_bytes`` once decompressed.
    """
    if len(text) > 2 * MAX_UNPACKED_BYTES:
        msg = f"packed text of {len(text):,} characters is beyond any state this tap writes"
        raise ValueError(msg)
    inflate = zlib.decompressobj()
    raw = inflate.decompress(base64.b64decode(text.encode(), validate=True), max_bytes)
    if inflate.unconsumed_tail:
        msg = f"packed data decompresses to more than {max_bytes:,} bytes"
        raise ValueError(msg)
    if not inflate.eof:
        msg = "packed data is truncated"
        raise ValueError(msg)
    return raw


def pack_columns(columns: Sequence[Sequence[int]], typecodes: str) -> str:
    """Columns of equal length (one ``array`` typecode each), packed one after the other."""
    raw = bytearray()
    for column, typecode in zip(columns, typecodes, strict=True):
        values = array(typecode, column)
        if sys.byteorder == "big":  # pragma: no cover - the state is little-endian everywhere
            values.byteswap()
        raw += values.tobytes()
    return pack(bytes(raw))


def unpack_columns(text: str, count: int, layouts: Sequence[str]) -> list[array[int]]:
    """The columns ``pack_columns`` wrote (``count`` entries each) in one of ``layouts``.

    The layout is the one whose width matches the bytes (a state written with an older, narrower
    layout reads as well).

    Raises:
        ValueError: The bytes are not ``count`` entries of any of the layouts.
    """
    widest = max(sum(array(code).itemsize for code in layout) for layout in layouts)
    raw = unpack(text, max_bytes=count * widest)
    for typecodes in layouts:
        widths = [array(typecode).itemsize for typecode in typecodes]
        if len(raw) == count * sum(widths):
            break
    else:
        msg = f"{len(raw)} bytes are not {count} entries of the state's columns"
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
