"""NewestFirstPaginator: a list read newest-updated first, down to a bookmark, guarded by keys.

The Mindz platform lists (users, courses, bundles, plans, enrollments) sort by ``updated_at``
(ties by id) but have no "updated since" filter. An edited record jumps to the newest end of
the list while a client pages, so an ascending read can skip it: it leaves a position not yet
read for one already passed. Read newest first (``updated_at`` descending), the same jump goes
to a position already passed, and what a client still has to read only shifts towards it: it
sees a record twice, never loses one. The record that jumped is newer than anything read, so
the next read, down to this one's newest ``updated_at``, picks it up.

Only a deletion (a user removed on an LGPD request) shifts the rest of the list the other way.
As in ``paging``, every page after the first overlaps the previous one by one record; a page
that starts past the last record emitted (a smaller ``(updated_at, id)``) is *unanchored*, and
the paginator backs off (one page, then two, four, ...) and re-reads. Records at or above the
last one emitted are never emitted again.

The read stops at the first record older than the bookmark. Records updated at the bookmark's
instant itself are read again (a record changed in the same second as the last one read would
otherwise be lost); downstream they fold by id into the same row.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from tap_mindzpay.errors import MalformedRecordError
from tap_mindzpay.read.paging import GuardedOffsets, PaginationError
from tap_mindzpay.read.reader import record_id
from tap_mindzpay.timestamps import parse_timestamp

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: The sort key of a record: ``(updated_at, id)``; a record without ``updated_at`` is oldest.
Key = tuple[datetime, int]
OLDEST = datetime.min.replace(tzinfo=timezone.utc)


def record_key(record: Mapping[str, object], stream: str) -> Key:
    """The ``(updated_at, id)`` a record sorts by (no ``updated_at``: the oldest).

    Raises:
        MalformedRecordError: The id is not one, or ``updated_at`` is not a timestamp.
    """
    found = record_id(record, stream)
    updated = record.get("updated_at")
    if updated is None:
        return OLDEST, found
    try:
        return parse_timestamp(str(updated)), found
    except ValueError:
        msg = (
            f"stream {stream}, record id {found}, field updated_at: "
            f"{updated!r:.60} is not an ISO 8601 timestamp"
        )
        raise MalformedRecordError(msg) from None


def bookmark_time(value: object, stream: str) -> datetime | None:
    """An ``updated_at`` bookmark read from the state (``None``: none).

    Raises:
        MalformedRecordError: The bookmark is not a timestamp.
    """
    if value is None:
        return None
    try:
        return parse_timestamp(str(value))
    except ValueError:
        msg = (
            f"the state's bookmark of stream {stream} is {value!r:.60}, not an "
            "updated_at timestamp; remove the stream's bookmark to sync it in full"
        )
        raise MalformedRecordError(msg) from None


class NewestFirstPaginator(GuardedOffsets):
    """Plans the offsets of a list sorted by ``(updated_at, id)`` descending; picks what to emit.

    Usage: request ``current_value`` with ``limit=page_size``; pass the page's keys,
    ``meta.total`` and ``meta.limit`` to ``advance`` and emit the records in the returned
    slice; repeat until ``finished``.

    Args:
        page_size: The ``limit`` of every request (1..100).
        since: Emit records updated at or after this instant (the bookmark); ``None``: all.
        slack_pages: Pages without progress tolerated beyond the list's size (loop guard).
    """

    def __init__(
        self, page_size: int, *, since: datetime | None = None, slack_pages: int = 32
    ) -> None:
        """Start at offset 0 with nothing emitted."""
        super().__init__(page_size, slack_pages=slack_pages)
        self.since = since
        #: The key of the last record emitted (the oldest so far).
        self.cursor: Key | None = None
        #: The ``updated_at`` of the newest record emitted (the next bookmark).
        self.newest: datetime | None = None

    def advance(
        self, keys: Sequence[Key], total: int | None, limit: int | None = None
    ) -> tuple[int, int]:
        """Take one page and plan the next request.

        Args:
            keys: ``(updated_at, id)`` of each record of the page, in the order received.
            total: ``meta.total`` of that response, if present.
            limit: ``meta.limit`` of that response, if present.

        Returns:
            ``(start, end)``: emit the page's records ``start`` to ``end`` (exclusive).

        Raises:
            PaginationError: The keys are not descending, or the loop guard tripped.
        """
        offset, count = self._offset, len(keys)
        self.pages += 1
        if any(keys[i] <= keys[i + 1] for i in range(count - 1)):
            msg = (
                f"page at offset {offset} is not sorted by updated_at descending (ties by id): "
                f"{[key[1] for key in keys][:10]}..."
            )
            raise PaginationError(msg)
        self.learn_size(count, total, limit)
        cursor = self.cursor
        overlaps = cursor is not None and bool(keys) and keys[0] >= cursor
        anchored = self.anchored(nothing_emitted=cursor is None, overlaps=overlaps)
        if not anchored or (count == 0 and not self.at_end(count, total)):
            self.step_back(total, "newest first")
            return count, count
        start = 0
        if cursor is not None:
            while start < count and keys[start] >= cursor:
                start += 1
        end = start
        while end < count and (self.since is None or keys[end][0] >= self.since):
            end += 1
        if end > start:
            self.cursor = keys[end - 1]
            if self.newest is None or keys[start][0] > self.newest:
                self.newest = keys[start][0]
        if end < count or self.at_end(count, total):
            self._finished = True
            return start, end
        self.step_on(count, total, progressed=end > start, where="newest first")
        return start, end
