"""PageDecoder: a list page decoded with only the declared properties, money as ``Decimal``.

When the record shaper (``conform``) stands in for the SDK's type conformance, msgspec reads a
list page's money strings into ``Decimal`` and skips the properties the schema does not declare
while it decodes (in C, with no object built for them), so an API that sends many undeclared
properties costs little more than one that does not. A page it cannot decode that way (a
malformed amount, a record that is not an object, not an envelope) is decoded as plain JSON and
shaped by the shaper, so the error or the skip is the same. The first page of each list read,
and every ``UNDECLARED_CHECK_EVERY``-th, is also read as plain JSON for the names of its
undeclared properties, so that the warning about them still comes.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any, Protocol, TypedDict

import msgspec

#: Every this many pages of a list read (and its first), the page is also read as plain JSON
#: for the names of its undeclared properties.
UNDECLARED_CHECK_EVERY = 50
_plain = msgspec.json.Decoder()


class KeyNotes(Protocol):
    """Where the names of undeclared properties go (``conform.RecordShaper``)."""

    stream: str

    def note_keys(self, keys: tuple[str, ...], record_id: object) -> None:
        """The property names of one record as listed."""


class PageDecoder:
    """Decodes a list page with only the declared properties, money as ``Decimal``.

    See the module docstring. ``decode`` raises ``msgspec.DecodeError`` for a page that is not
    of that form: its caller decodes it as plain JSON instead (``requester``). Safe to call
    from the threads that fetch pages ahead.
    """

    def __init__(
        self, shaper: KeyNotes, properties: tuple[str, ...], money_fields: tuple[str, ...]
    ) -> None:
        """Build the page type: every property optional, money ``Decimal`` or null."""
        money = set(money_fields)
        fields = {name: (Decimal | None if name in money else Any) for name in properties}
        record = TypedDict(f"{shaper.stream}_record", fields, total=False)  # type: ignore[misc]
        envelope = TypedDict(  # type: ignore[misc]  # noqa: UP013 - a type built at run time
            f"{shaper.stream}_page", {"data": list[record], "meta": Any}, total=False
        )
        self._typed = msgspec.json.Decoder(envelope)
        self._shaper = shaper
        self._lock = threading.Lock()
        self._pages = 0

    def decode(self, content: bytes) -> Any:  # noqa: ANN401 - a list envelope (a dict)
        """The page's envelope with declared properties only; raises if not of that form."""
        body = self._typed.decode(content)
        with self._lock:
            self._pages += 1
            check = self._pages % UNDECLARED_CHECK_EVERY == 1
        if check:
            self._note_undeclared(content)
        return body

    def restart(self, *, read: int = 0) -> None:
        """A new list read begins: its first page is read for undeclared properties.

        ``read``: pages of it decoded already (by ``decode_first``, fetched ahead).
        """
        with self._lock:
            self._pages = read

    def decode_first(self, content: bytes) -> Any:  # noqa: ANN401 - a list envelope (a dict)
        """``decode`` for the first page of a read not begun yet (fetched ahead of it).

        Read for undeclared properties, as every read's first page is, without counting it in
        the pages of the read under way (``restart`` counts it when its read takes it).
        """
        body = self._typed.decode(content)
        self._note_undeclared(content)
        return body

    @property
    def first_page(self) -> FirstPageDecoder:
        """A body decoder of first pages fetched ahead (``decode_first``)."""
        return FirstPageDecoder(self)

    def _note_undeclared(self, content: bytes) -> None:
        page = _plain.decode(content)
        records = page.get("data") if isinstance(page, dict) else None
        for record in records if isinstance(records, list) else ():
            if isinstance(record, dict):
                self._shaper.note_keys(tuple(record), record.get("id"))


class FirstPageDecoder:
    """``PageDecoder.decode_first`` as a body decoder (``http.body.BodyDecoder``)."""

    def __init__(self, decoder: PageDecoder) -> None:
        """Decode with ``decoder``."""
        self._decoder = decoder

    def decode(self, content: bytes) -> Any:  # noqa: ANN401 - a list envelope (a dict)
        """The page's envelope with declared properties only; raises if not of that form."""
        return self._decoder.decode_first(content)
