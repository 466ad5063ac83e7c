"""ListReader: one partition's MindzPay list and its records by id, knowing nothing of streams.

A stream keeps one ``ListSource`` (its request path, page size, stop points) and gets
from it a reader per partition (the list URL, the progress report), which it hands to change
capture; capture asks the reader for:

* ``new_after(after_id, hint)``: the pages after the id bookmark, from the offset hint (an
  offset at or before the first record after it, checked by ids: a stale one costs a request or
  two, never a record), ascending by id, fetched ahead (``prefetch``), guarded by ids
  (``paging``);
* ``every()``: every record of the list, ascending by id (the sweep);
* ``one(id)``: the record by a plain GET of its id, ``None`` on a 404 (deleted);
* ``refresh(id, method, suffix)``: the record through the stream's per-record request (the
  invoice Refresh), ``None`` on a 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from tap_mindzpay import endpoints
from tap_mindzpay.errors import MalformedRecordError, MindzPayAPIError
from tap_mindzpay.read.childpages import frozen, request_signature
from tap_mindzpay.read.paging import ListPage, OffsetPaginator, list_page, list_params
from tap_mindzpay.read.prefetch import PagePrefetcher
from tap_mindzpay.run.progress import partition_label

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Hashable, Iterator, Mapping
    from contextlib import AbstractContextManager

    from singer_sdk.helpers.types import Context

    from tap_mindzpay.decoding import PageDecoder
    from tap_mindzpay.read.childpages import ChildPages
    from tap_mindzpay.run.progress import PartitionReport

#: Ids the change-capture state can hold: positive, at most 64 bits.
MAX_RECORD_ID = 2**63


class Request(Protocol):
    """The stream's one request path (``http.requester.Requester.request_json``)."""

    def __call__(  # noqa: PLR0913 - the request and its two answer options
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        context: Context | None = None,
        not_found_ok: bool = False,
        decoder: PageDecoder | None = None,
    ) -> Any:  # noqa: ANN401 - decoded JSON
        """Send one API request with the retry and error policy; return the decoded body."""


def parse_page(body: object, url: str) -> ListPage:
    """Records, ``meta.total`` and ``meta.limit`` of a list envelope.

    Raises:
        MindzPayAPIError: The body is not a list envelope.
    """
    page = list_page(body)
    if page is None:
        msg = f"GET {url} did not return a list envelope {{'data': [...], 'meta': {{...}}}}"
        raise MindzPayAPIError(msg)
    return page


def record_id(record: object, stream: str) -> int:
    """The id of a record of ``stream``: a positive integer of at most 64 bits.

    Raises:
        MalformedRecordError: The record has no such id.
    """
    found = record.get("id") if isinstance(record, dict) else None
    if not isinstance(found, int) or isinstance(found, bool):
        msg = f"stream {stream}: a record has no integer id: {str(record)[:200]}"
        raise MalformedRecordError(msg)
    if not 0 < found < MAX_RECORD_ID:
        msg = (
            f"stream {stream}: record id {found} is not a positive integer of at most 64 bits, "
            "as the API's ids are; the tap cannot track it"
        )
        raise MalformedRecordError(msg)
    return found


@dataclass(frozen=True)
class ListSource:
    """What every list read of one stream shares: its request path, page size and stop points.

    ``stop_check`` and ``waiting`` are the run's stop points (``run.stopping``: a signal
    raises ``SystemExit`` there, and the stream writes the STATE on its way out): the reader
    calls them between pages, as every request path does.
    """

    request: Request
    api_base: str
    stream: str
    page_size: int
    #: List pages requested at once (``max_concurrency``).
    depth: int
    stop_check: Callable[[], None]
    waiting: Callable[[], AbstractContextManager[None]]
    logger: logging.Logger
    sort_by: str = "id"

    def reader(  # noqa: PLR0913 - the partition's explicit parts
        self,
        url: str,
        context: Context | None,
        report: PartitionReport,
        *,
        on_page: Callable[[], None] = lambda: None,
        decoder: Callable[[], PageDecoder | None] = lambda: None,
        ahead: ChildPages | None = None,
    ) -> ListReader:
        """The reader of the list at ``url`` (the partition ``context``'s).

        ``on_page``: called once per list page read. ``decoder``: the decoder of each list
        read (declared properties only), or ``None``: plain JSON. ``ahead``: where the
        parent's read may have left this list's first page (``childpages``).
        """
        where = partition_label(self.stream, context)
        return ListReader(self, url, context, where, report, on_page, decoder, ahead)


@dataclass(frozen=True)
class ListReader:
    """One partition's list read by offset ascending by id, and its records one by one."""

    source: ListSource
    url: str
    context: Context | None
    #: The stream and partition, named in messages.
    where: str
    report: PartitionReport
    #: Called once per list page read (the SDK's request counter).
    on_page: Callable[[], None]
    #: The decoder of a list read (declared properties only), or ``None``: plain JSON.
    decoder: Callable[[], PageDecoder | None]
    #: Where the parent's read may have left this list's first page (``None``: nowhere).
    ahead: ChildPages | None = None

    @property
    def key(self) -> Hashable:
        """This list's key among the first pages fetched ahead: its stream and partition."""
        return self.source.stream, frozen(self.context)

    def first_page_ahead(
        self, params: Mapping[str, Any], decoder: PageDecoder | None
    ) -> ListPage | None:
        """The first page, if the parent's read fetched it ahead as ``params`` would ask for it.

        Called in place of the read's first request, in the calling thread: the stop signal is
        checked first, and the wait for a page on its way happens inside the stop points'
        ``waiting``.
        """
        if self.ahead is None:
            return None
        source = self.source
        signature = request_signature(self.url, params, decoding=decoder is not None)
        page = self.ahead.take(self.key, signature, source.stop_check, source.waiting)
        if page is None:
            return None
        if decoder is not None:
            decoder.restart(read=1)  # decoded ahead (``PageDecoder.decode_first``)
        return cast("ListPage", page)

    def new_after(self, after_id: int | None, hint: int | None) -> Iterator[tuple[int, list[Any]]]:
        """``(offset, records)`` of each page after ``after_id``, from the offset ``hint`` on."""
        paginator = OffsetPaginator(self.source.page_size, after_id=after_id, offset_hint=hint)
        yield from self._pages(paginator, "new")
        if paginator.bookmark_past_the_list:
            self.source.logger.warning(
                "The bookmark of %s (id %s) is after the newest record the API listed (%s); "
                "no new record is read until the API's ids pass it - check that the state "
                "belongs to this platform (or the newest records were deleted)",
                self.where,
                paginator.after_id,
                "none" if paginator.newest_listed is None else f"id {paginator.newest_listed}",
            )

    def every(self) -> Iterator[dict[str, Any]]:
        """Every record of the list, ascending by id (the sweep; ``start_date`` aside)."""
        for _, records in self._pages(OffsetPaginator(self.source.page_size), "sweep"):
            yield from records

    def one(self, record_id: int) -> dict[str, Any] | None:
        """The record by a plain GET of its id; ``None`` when the API answers 404 (deleted).

        Raises:
            MindzPayAPIError: The API refused the request or did not answer a record.
        """
        url = self.url + endpoints.GET_ONE_SUFFIX.format(id=record_id)
        body = self.source.request("GET", url, context=self.context, not_found_ok=True)
        return None if body is None else self._one_record(body, "GET", url)

    def refresh(self, record_id: int, method: str, suffix: str) -> dict[str, Any] | None:
        """The record as the API has it now, by ``method`` on ``suffix``; ``None`` if deleted.

        Raises:
            MindzPayAPIError: The API refused the request or did not answer a record.
        """
        url = self.url + suffix.format(id=record_id)
        body = self.source.request(method, url, context=self.context, not_found_ok=True)
        self.report.refreshed()
        return None if body is None else self._one_record(body, method, url)

    def _pages(
        self, paginator: OffsetPaginator, phase: str
    ) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        """``(offset, records to emit)`` of each list page, ascending by id, fetched ahead."""
        source = self.source
        decoder = self.decoder()
        first = phase == "new"  # the parent's read may have fetched it ahead (``ahead``)

        def fetch(offset: int) -> ListPage:
            nonlocal first
            params = list_params(source.page_size, offset, source.sort_by)
            if first:  # in the calling thread: the prefetcher asks for the first page itself
                first = False
                page = self.first_page_ahead(params, decoder)
                if page is not None:
                    return page
            body = source.request(
                "GET", self.url, params=params, context=self.context, decoder=decoder
            )
            return parse_page(body, self.url)

        prefetcher = PagePrefetcher(
            paginator,
            fetch,
            self._record_id,
            depth=source.depth,
            stop_check=source.stop_check,
            waiting=source.waiting,
        )
        for offset, records, total, start in prefetcher.pages():
            self.on_page()
            self.report.listed(offset, len(records), total, phase=phase)
            yield offset, records[start:]

    def _record_id(self, record: object) -> int:
        return record_id(record, self.source.stream)

    def _one_record(self, body: object, method: str, url: str) -> dict[str, Any]:
        data = body.get(endpoints.ENVELOPE_DATA, body) if isinstance(body, dict) else None
        if not isinstance(data, dict):
            msg = f"{method} {url.removeprefix(self.source.api_base)} did not return a record"
            raise MindzPayAPIError(msg)
        return data
