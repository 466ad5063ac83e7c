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

from tap_mindzpay.paging import PaginationError

if TYPE_CHECKING:
    from collections.abc import Sequence

#: The sort key of a record: ``(updated_at, id)``; a record without ``updated_at`` is oldest.
Key = tuple[datetime, int]
OLDEST = datetime.min.replace(tzinfo=timezone.utc)


class NewestFirstPaginator:
    """Plans the offsets of a list sorted by ``(updated_at, id)`` descending; picks what to emit.

    Usage: request ``current_value`` with ``limit=page_size``; pass the page's keys and
    ``meta.total`` to ``advance`` and emit the records in the returned slice; repeat until
    ``finished``.

    Args:
        page_size: The ``limit`` of every request (1..100).
        since: Emit records updated at or after this instant (the bookmark); ``None``: all.
        slack_pages: Pages without progress tolerated beyond the list's size (loop guard).
    """

    def __init__(
        self, page_size: int, *, since: datetime | None = None, slack_pages: int = 32
    ) -> None:
        """Start at offset 0 with nothing emitted."""
        if page_size < 1:
            msg = f"page_size must be at least 1, got {page_size}"
            raise ValueError(msg)
        self.page_size = page_size
        self.since = since
        #: The key of the last record emitted (the oldest so far).
        self.cursor: Key | None = None
        #: The ``updated_at`` of the newest record emitted (the next bookmark).
        self.newest: datetime | None = None
        self._overlap = 1 if page_size > 1 else 0
        self._offset = 0
        self._backoff = 0
        self._finished = False
        self._stalled_pages = 0
        self._slack_pages = slack_pages
        self.pages = 0
        self.backoffs = 0

    @property
    def current_value(self) -> int:
        """The offset to request next."""
        return self._offset

    @property
    def finished(self) -> bool:
        """True once the read reached the bookmark or the end of the list."""
        return self._finished

    def advance(self, keys: Sequence[Key], total: int | None) -> tuple[int, int]:
        """Take one page and plan the next request.

        Args:
            keys: ``(updated_at, id)`` of each record of the page, in the order received.
            total: ``meta.total`` of that response, if present.

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
        cursor = self.cursor
        anchored = (
            offset == 0
            or cursor is None
            or not self._overlap  # page_size 1: no overlap, so shifts cannot be seen
            or bool(keys and keys[0] >= cursor)
        )
        if not anchored:
            # Records were removed before our position: step back and re-read, never skip.
            self._backoff = self._backoff * 2 if self._backoff else self.page_size
            self._offset = max(0, offset - self._backoff)
            self.backoffs += 1
            self._check_progress(total, progressed=False)
            return count, count
        self._backoff = 0
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
        if end < count or count < self.page_size or (total is not None and offset + count >= total):
            self._finished = True
            return start, end
        self._offset = offset + count - self._overlap
        self._check_progress(total, progressed=end > start)
        return start, end

    def _check_progress(self, total: int | None, *, progressed: bool) -> None:
        self._stalled_pages = 0 if progressed else self._stalled_pages + 1
        list_pages = (total or 0) // max(1, self.page_size - self._overlap) + 1
        if self._stalled_pages > 2 * list_pages + self._slack_pages:
            msg = (
                f"newest-first pagination made no progress for {self._stalled_pages} pages "
                f"(offset {self._offset}, total {total}); the list keeps shifting or the API "
                "ignores offset"
            )
            raise PaginationError(msg)
