"""NewestFirstRead: one read of a platform list, newest-updated first, down to its bookmark.

The Mindz platform lists sort by ``updated_at`` and have no "updated since" filter, so a read
goes newest first (``recent.NewestFirstPaginator``) until the first record older than the
bookmark; the bookmark (the newest ``updated_at`` read) moves into the partition once the read
is complete, so a read stopped half way resumes from the previous one. A list whose records
have child lists is read whole: the records updated before the bookmark come out as unchanged
(not written again; their children are still read). Pages travel through the stream's one
request path (``ListReader``); the first page may have been fetched ahead by the parent's read
(``childpages.ChildPages``). A read whose first page held the whole list (``meta.total`` says
so) keeps that page as ``listing``: the sweep of the same run pages nothing again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tap_mindzpay import endpoints
from tap_mindzpay.read.paging import list_params
from tap_mindzpay.read.reader import parse_page
from tap_mindzpay.read.recent import NewestFirstPaginator, record_key
from tap_mindzpay.sdk_private import REPLICATION_KEY, REPLICATION_KEY_VALUE

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from datetime import datetime

    from tap_mindzpay.decoding import PageDecoder
    from tap_mindzpay.read.paging import ListPage
    from tap_mindzpay.read.reader import ListReader


def newest_first_query(page_size: int, offset: int, sort_by: str) -> dict[str, Any]:
    """The query of the list page at ``offset``, newest-updated first."""
    return {
        **list_params(page_size, offset, sort_by),
        endpoints.PARAM_SORT_BY: endpoints.SORT_UPDATED_AT,
        endpoints.PARAM_SORT_DIRECTION: endpoints.SORT_DESCENDING,
    }


@dataclass
class NewestFirstRead:
    """One newest-first read of a platform list (see the module docstring).

    Attributes:
        reader: The partition's list reader (request path, URL, report, page counter).
        partition: The partition's state, where the bookmark moves once the read is complete.
        replication_key: The bookmark's field (``updated_at``).
        since: The bookmark (``None``: every record is new).
        whole: Read the whole list: records before the bookmark come out as unchanged.
        plan: Called with each page's records before they come out: the stream fetches the
            first pages of their child lists ahead.
        listing: Once the read is done, every record of the list in ascending id order, as its
            first page listed them, when that page held the whole list (``meta.total``); else
            ``None``. One page at most, so bounded by the page size.
    """

    reader: ListReader
    partition: dict[str, Any]
    replication_key: str
    since: datetime | None
    whole: bool
    plan: Callable[[list[dict[str, Any]]], None] | None = None
    listing: list[dict[str, Any]] | None = field(default=None, init=False)

    def __iter__(self) -> Iterator[tuple[dict[str, Any], bool]]:
        """The read's ``records``."""
        return self.records()

    def records(self) -> Iterator[tuple[dict[str, Any], bool]]:
        """``(record, changed)`` newest first; ``changed`` is False for one before the bookmark."""
        source, since = self.reader.source, self.since
        paginator = NewestFirstPaginator(source.page_size, since=None if self.whole else since)
        decoder = self.reader.decoder()
        api_newest: datetime | None = None  # the first record of the first page
        while not paginator.finished:
            offset = paginator.current_value
            params = newest_first_query(source.page_size, offset, source.sort_by)
            records, total, limit, _ = self._page(params, decoder, first=paginator.pages == 0)
            self.reader.on_page()
            self.reader.report.listed(offset, len(records), total, phase="new")
            keys = [record_key(r, source.stream) for r in records]
            if paginator.pages == 0 and offset == 0 and total is not None and len(records) >= total:
                # Copies, taken before the hooks shape the records this read hands out.
                by_id = sorted(zip(keys, records, strict=True), key=lambda pair: pair[0][1])
                self.listing = [dict(record) for _, record in by_id]
            if keys and paginator.pages == 0:
                api_newest = keys[0][0]
            start, end = paginator.advance(keys, total, limit)
            if self.plan is not None:
                self.plan(records[start:end])
            for key, record in zip(keys[start:end], records[start:end], strict=True):
                yield record, since is None or key[0] >= since
        if since is not None and (api_newest is None or api_newest < since):
            # Nothing is lost, but nothing will be read until the API catches up with the
            # bookmark: a state from another platform, or a clock far ahead, looks like this.
            source.logger.warning(
                "The bookmark of stream %s (updated_at %s) is after the newest record the API "
                "returned (%s); no record is read until one is updated after it - check that "
                "the state belongs to this platform",
                source.stream,
                since.isoformat(),
                "none" if api_newest is None else api_newest.isoformat(),
            )
        newest = paginator.newest
        if newest is not None and (since is None or newest > since):
            # Every record read is written (the SDK asked for the next one): move the bookmark.
            self.partition[REPLICATION_KEY] = self.replication_key
            self.partition[REPLICATION_KEY_VALUE] = newest.isoformat()

    def _page(
        self, params: dict[str, Any], decoder: PageDecoder | None, *, first: bool
    ) -> ListPage:
        """The list page ``params`` asks for: the one fetched ahead by the parent, else now."""
        reader = self.reader
        if first and (page := reader.first_page_ahead(params, decoder)) is not None:
            return page
        body = reader.source.request(
            "GET", reader.url, params=params, context=reader.context, decoder=decoder
        )
        return parse_page(body, reader.url)
