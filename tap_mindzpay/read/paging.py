"""OffsetPaginator: offset paging over an id-ascending list, guarded by ids, fetched ahead.

MindzPay lists page by ``limit``/``offset`` and have no id filter. Offsets shift when records
are deleted or inserted while a client pages, so the offset alone can skip or repeat records.
The paginator therefore treats ids as the truth:

* every page after the first overlaps the previous one by one record, so the page must start at
  or before the highest id already emitted (the *watermark*); a page that starts past it is
  *unanchored* (records were deleted before our position and we may have jumped over some), and
  the paginator backs off (one page, then two, four, ...) and re-reads;
* records at or below the watermark are never emitted again (dedupe by id), so re-reading an
  overlap costs a request, never a duplicate;
* a resumed run starts at an offset hint from the state and verifies it the same way.

A read ends only where the API says the list ends: when ``offset + len(page)`` reaches
``meta.total``. An API may serve fewer records than the ``limit`` asked (it caps ``limit`` and
says so in ``meta.limit``, or only serves fewer): such a short page before ``meta.total`` is not
the end, and the page size the API serves (``meta.limit``, else the count of a short page) is
the step from then on. Only a list without ``meta.total`` ends on a page shorter than the size
served. An empty page before ``meta.total`` is a shift (records removed before our position):
the paginator backs off. A loop guard stops a paginator that makes no progress for far more
pages than the list holds, with one line naming where. With a page size of 1 (asked or served)
there is no room for an overlap, so shifts go unseen: use a larger page.

``prefetch.PagePrefetcher`` fetches the pages the paginator will ask for next ahead of it.

The list envelope (``list_page``) and the list query (``list_params``) are read and written here
for every list request: the streams' and the connection check's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from tap_mindzpay import endpoints

if TYPE_CHECKING:
    from collections.abc import Sequence


def list_params(page_size: int, offset: int, sort_by: str = "id") -> dict[str, Any]:
    """The query of one list request: ``limit``, ``offset``, ascending by ``sort_by``."""
    return {
        endpoints.PARAM_LIMIT: page_size,
        endpoints.PARAM_OFFSET: offset,
        endpoints.PARAM_SORT_BY: sort_by,
        endpoints.PARAM_SORT_DIRECTION: endpoints.SORT_ASCENDING,
    }


class ListPage(NamedTuple):
    """One list response: its records, ``meta.total`` and ``meta.limit`` (``None``: absent).

    ``seconds``: how long its request took when it was made ahead of the read that takes it
    (``childpages``); ``None`` when the read makes it.
    """

    records: list[Any]
    total: int | None
    limit: int | None = None
    seconds: float | None = None


def list_page(body: object) -> ListPage | None:
    """Records, ``meta.total`` and ``meta.limit`` of a list envelope; ``None`` if not one.

    The envelope is ``{"data": [...], "meta": {"total": N, "limit": L, "offset": O}}``. A
    ``total`` or ``limit`` that is not a non-negative integer (a positive one for ``limit``)
    counts as absent.
    """
    data = body.get(endpoints.ENVELOPE_DATA) if isinstance(body, dict) else None
    if not isinstance(data, list):
        return None
    meta = body.get(endpoints.ENVELOPE_META) if isinstance(body, dict) else None
    total = meta.get(endpoints.META_TOTAL) if isinstance(meta, dict) else None
    limit = meta.get(endpoints.META_LIMIT) if isinstance(meta, dict) else None
    return ListPage(data, _count_or_none(total, 0), _count_or_none(limit, 1))


def _count_or_none(value: object, least: int) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= least:
        return value
    return None


class PaginationError(RuntimeError):
    """The list did not converge (loop guard) or broke its id-ascending sort order."""


class GuardedOffsets:
    """What both guarded paginators share: the offset plan, the back-off and the loop guard.

    Subclasses decide from each page's keys whether it is anchored (it overlaps what was already
    emitted) and what to emit; this class moves the offset: ``step_back`` for an unanchored page
    (one page, then two, four, ...), ``step_on`` past an anchored one, keeping a one-record
    overlap, and ``check_progress`` stops a paginator that makes no progress. ``served`` is the
    page size the API serves (``learn_size``), at most the ``page_size`` asked; ``at_end`` says
    whether a page ends the list.
    """

    def __init__(self, page_size: int, *, offset: int = 0, slack_pages: int = 32) -> None:
        """Start at ``offset``."""
        if page_size < 1:
            msg = f"page_size must be at least 1, got {page_size}"
            raise ValueError(msg)
        self.page_size = page_size
        self.served = page_size
        self._overlap = 1 if page_size > 1 else 0
        self._offset = offset
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
        """True once the list has been read as far as it needs."""
        return self._finished

    def learn_size(self, count: int, total: int | None, limit: int | None) -> None:
        """Take the page size the API serves from a page of ``count`` records.

        ``meta.limit`` below the size asked says it outright; without it, a page shorter than
        the size served that does not reach ``meta.total`` shows it. The step and the overlap
        follow: a size of 1 leaves no room for an overlap.
        """
        if limit is not None and limit < self.served:
            self.served = limit
        elif (
            limit is None and 0 < count < self.served and total is not None
            and self._offset + count < total
        ):  # fmt: skip
            self.served = count
        if self.served == 1:
            self._overlap = 0

    def at_end(self, count: int, total: int | None) -> bool:
        """Whether a page of ``count`` records at the current offset ends the list.

        With ``meta.total`` only reaching it does; without it, a page shorter than served.
        """
        if total is not None:
            return self._offset + count >= total
        return count < self.served

    def anchored(self, *, nothing_emitted: bool, overlaps: bool) -> bool:
        """Whether the page just read can be trusted to follow what was emitted.

        The first page, a read that has emitted nothing yet, and page size 1 (no overlap, so
        shifts cannot be seen) always are; otherwise the page must overlap what was emitted.
        """
        return self._offset == 0 or nothing_emitted or not self._overlap or overlaps

    def step_back(self, total: int | None, where: str) -> None:
        """An unanchored page: records were removed before our position; re-read, never skip."""
        self._backoff = self._backoff * 2 if self._backoff else self.served
        self._offset = max(0, self._offset - self._backoff)
        self.backoffs += 1
        self.check_progress(total, progressed=False, where=where)

    def step_on(self, count: int, total: int | None, *, progressed: bool, where: str) -> None:
        """An anchored page of ``count`` records that did not end the read: the next offset."""
        self._backoff = 0
        self._offset = self._offset + count - self._overlap
        self.check_progress(total, progressed=progressed, where=where)

    def check_progress(self, total: int | None, *, progressed: bool, where: str) -> None:
        """Raise ``PaginationError`` after far more pages without progress than the list has."""
        self._stalled_pages = 0 if progressed else self._stalled_pages + 1
        list_pages = (total or 0) // max(1, self.served - self._overlap) + 1
        if self._stalled_pages > 2 * list_pages + self._slack_pages:
            msg = (
                f"pagination made no progress for {self._stalled_pages} pages "
                f"(offset {self._offset}, {where}, total {total}); "
                "the list keeps shifting or the API ignores offset"
            )
            raise PaginationError(msg)


class OffsetPaginator(GuardedOffsets):
    """Plans the offsets of an id-ascending list and picks which records of a page to emit.

    Usage: request ``current_value`` with ``limit=page_size``; pass the page's ids,
    ``meta.total`` and ``meta.limit`` to ``advance``, emit the records from the returned index
    on; repeat until ``finished``.

    Args:
        page_size: The ``limit`` of every request (1..100).
        after_id: Emit only ids above this one (the partition's bookmark), or ``None``.
        offset_hint: An offset at or before the first record after ``after_id`` (from state);
            verified by the first page, never trusted blindly.
        slack_pages: Pages without progress tolerated beyond the list's size (loop guard).
    """

    def __init__(
        self,
        page_size: int,
        *,
        after_id: int | None = None,
        offset_hint: int | None = None,
        slack_pages: int = 32,
    ) -> None:
        """Start at offset 0, or at the hint when resuming after a bookmark."""
        offset = max(0, offset_hint or 0) if after_id is not None else 0
        super().__init__(page_size, offset=offset, slack_pages=slack_pages)
        self.watermark = after_id
        self.after_id = after_id
        #: The largest id any page showed (``None``: every page was empty).
        self.newest_listed: int | None = None

    def advance(self, ids: Sequence[int], total: int | None, limit: int | None = None) -> int:
        """Take one page and plan the next request.

        Args:
            ids: Ids of the page requested at ``current_value``, in the order received.
            total: ``meta.total`` of that response, if present.
            limit: ``meta.limit`` of that response, if present.

        Returns:
            Index of the first record of the page to emit (``len(ids)`` = emit none).

        Raises:
            PaginationError: The ids are not ascending, or the loop guard tripped.
        """
        offset, count = self._offset, len(ids)
        self.pages += 1
        if any(ids[i] >= ids[i + 1] for i in range(count - 1)):
            msg = f"page at offset {offset} is not sorted by ascending id: {list(ids)[:10]}..."
            raise PaginationError(msg)
        self.learn_size(count, total, limit)
        if count and (self.newest_listed is None or ids[-1] > self.newest_listed):
            self.newest_listed = ids[-1]
        watermark = self.watermark
        overlaps = watermark is not None and count > 0 and ids[0] <= watermark
        anchored = self.anchored(nothing_emitted=watermark is None, overlaps=overlaps)
        if not anchored or (count == 0 and not self.at_end(count, total)):
            self.step_back(total, f"last id {self.watermark}")
            return count
        start = 0
        if watermark is not None:
            while start < count and ids[start] <= watermark:
                start += 1
        if start < count:
            self.watermark = ids[-1]
        if self.at_end(count, total):
            self._finished = True
            return start
        self.step_on(count, total, progressed=start < count, where=f"last id {self.watermark}")
        return start

    @property
    def bookmark_past_the_list(self) -> bool:
        """Whether a finished read showed no id at or above ``after_id`` (the bookmark).

        The list's newest record is then older than the bookmark: nothing is lost, but nothing
        is read until the API's ids reach it (a state from another platform looks like this).
        """
        if not self._finished or self.after_id is None:
            return False
        return self.newest_listed is None or self.newest_listed < self.after_id

    def planned_offsets(self, total: int, after: int, count: int) -> list[int]:
        """The next ``count`` offsets past ``after`` this paginator asks for if nothing shifts.

        Every page is then full (of the size the API serves) and anchored, so each request
        follows the previous one by that size minus the overlap, and one is made only while the
        previous page ends before ``total``.
        """
        step = self.served - self._overlap
        offsets: list[int] = []
        offset = after + step
        while len(offsets) < count and offset + self._overlap < total:
            offsets.append(offset)
            offset += step
        return offsets
