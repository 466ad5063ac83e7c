"""OffsetPaginator: offset paging over an id-ascending list, guarded by ids.

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

Paging stops on a short or empty (anchored) page, or when ``offset + len(page)`` reaches
``meta.total``. A loop guard stops a paginator that makes no progress for far more pages than
the list holds. With ``page_size`` 1 there is no room for an overlap, so shifts go unseen:
use a larger page.

The list envelope (``list_page``) and the list query (``list_params``) are read and written here
for every list request: the streams' and the connection check's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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


def list_page(body: object) -> tuple[list[Any], int | None] | None:
    """Records and ``meta.total`` of a list envelope, or ``None`` if ``body`` is not one.

    The envelope is ``{"data": [...], "meta": {"total": N, "limit": L, "offset": O}}``.
    """
    data = body.get(endpoints.ENVELOPE_DATA) if isinstance(body, dict) else None
    if not isinstance(data, list):
        return None
    meta = body.get(endpoints.ENVELOPE_META) if isinstance(body, dict) else None
    total = meta.get(endpoints.META_TOTAL) if isinstance(meta, dict) else None
    return data, total if isinstance(total, int) else None


class PaginationError(RuntimeError):
    """The list did not converge (loop guard) or broke its id-ascending sort order."""


class OffsetPaginator:
    """Plans the offsets of an id-ascending list and picks which records of a page to emit.

    Usage: request ``current_value`` with ``limit=page_size``; pass the page's ids and
    ``meta.total`` to ``advance``, emit the records from the returned index on; repeat until
    ``finished``.

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
        if page_size < 1:
            msg = f"page_size must be at least 1, got {page_size}"
            raise ValueError(msg)
        self.page_size = page_size
        self.watermark = after_id
        self._overlap = 1 if page_size > 1 else 0
        self._offset = max(0, offset_hint or 0) if after_id is not None else 0
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
        """True once the end of the list has been reached."""
        return self._finished

    def advance(self, ids: Sequence[int], total: int | None) -> int:
        """Take one page and plan the next request.

        Args:
            ids: Ids of the page requested at ``current_value``, in the order received.
            total: ``meta.total`` of that response, if present.

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
        watermark = self.watermark
        anchored = (
            offset == 0
            or watermark is None
            or not self._overlap  # page_size 1: no overlap, so shifts cannot be seen
            or (count > 0 and ids[0] <= watermark)
        )
        if not anchored:
            # Records were removed before our position: step back and re-read, never skip.
            self._backoff = self._backoff * 2 if self._backoff else self.page_size
            self._offset = max(0, offset - self._backoff)
            self.backoffs += 1
            self._check_progress(total, progressed=False)
            return count
        self._backoff = 0
        start = 0
        if watermark is not None:
            while start < count and ids[start] <= watermark:
                start += 1
        if start < count:
            self.watermark = ids[-1]
        if count < self.page_size or (total is not None and offset + count >= total):
            self._finished = True
            return start
        self._offset = offset + count - self._overlap
        self._check_progress(total, progressed=start < count)
        return start

    def _check_progress(self, total: int | None, *, progressed: bool) -> None:
        self._stalled_pages = 0 if progressed else self._stalled_pages + 1
        list_pages = (total or 0) // max(1, self.page_size - self._overlap) + 1
        if self._stalled_pages > 2 * list_pages + self._slack_pages:
            msg = (
                f"pagination made no progress for {self._stalled_pages} pages "
                f"(offset {self._offset}, last id {self.watermark}, total {total}); "
                "the list keeps shifting or the API ignores offset"
            )
            raise PaginationError(msg)
