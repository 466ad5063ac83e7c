"""ListedStream: a stream read from an id-ordered MindzPay list, and one record by its id.

Id-guarded offset paging (``paging.OffsetPaginator``) ascending by id: new records start after
the partition's bookmark at the offset hint kept in the same partition state (so an interrupted
run resumes mid-stream); the sweep pages the whole list. ``refresh_record`` reads one record
through the stream's change-capture rule. Every request goes through the stream's one request
path (``request_json``, see ``requester``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.streams import RESTStream
from typing_extensions import override

from tap_mindzpay import endpoints
from tap_mindzpay.errors import MalformedRecordError, MindzPayAPIError
from tap_mindzpay.read.paging import ListPage, OffsetPaginator, list_page, list_params
from tap_mindzpay.read.prefetch import PagePrefetcher
from tap_mindzpay.run.progress import partition_label
from tap_mindzpay.settings import DEFAULT_MAX_CONCURRENCY

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping
    from contextlib import AbstractContextManager

    from singer_sdk.helpers.types import Context

    from tap_mindzpay.capture.partition import RefreshRule
    from tap_mindzpay.conform import FirstPageDecoder, PageDecoder, RecordShaper
    from tap_mindzpay.run.progress import PartitionReport

OFFSET_HINT_KEY = "offset_hint"
#: Ids the change-capture state can hold: positive, at most 64 bits.
MAX_RECORD_ID = 2**63


class ListedStream(RESTStream[int]):
    """The list and per-record reads of a stream (mixed into ``client.MindzPayStream``)."""

    #: API sort field for paging; ids only grow, so ascending id is the resumable order.
    sort_by: ClassVar[str] = "id"
    #: Change-capture rule (``None``: new records only).
    capture_rule: ClassVar[RefreshRule | None] = None
    shaper: RecordShaper

    def request_json(self, method: str, url: str, **kwargs: Any) -> Any:  # noqa: ANN401
        """One API request through the stream's request path (``client``)."""
        raise NotImplementedError

    def progress(self, context: Context | None) -> PartitionReport:
        """The progress and summary counters of this stream's partition ``context``."""
        raise NotImplementedError

    @property
    def page_size(self) -> int:
        """The ``limit`` of every list request (setting ``page_size``)."""
        return int(self.config.get("page_size", endpoints.MAX_PAGE_SIZE))

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: int | None
    ) -> dict[str, Any]:
        return list_params(self.page_size, next_page_token or 0, self.sort_by)

    @override
    def get_new_paginator(self) -> OffsetPaginator:  # type: ignore[override]
        return OffsetPaginator(self.page_size)

    def new_records_paginator(self, context: Context | None) -> OffsetPaginator:
        """A paginator starting after the partition's bookmark, at its offset hint."""
        if self.replication_key is None:
            return self.get_new_paginator()
        after = self.get_starting_replication_key_value(context)
        hint = self.get_context_state(context).get(OFFSET_HINT_KEY)
        return OffsetPaginator(
            self.page_size,
            after_id=int(after) if after is not None else None,
            offset_hint=hint if isinstance(hint, int) else None,
        )

    def parse_page(self, body: object, url: str) -> ListPage:
        """Records, ``meta.total`` and ``meta.limit`` of a list envelope.

        Raises:
            MindzPayAPIError: The body is not a list envelope.
        """
        page = list_page(body)
        if page is None:
            msg = f"GET {url} did not return a list envelope {{'data': [...], 'meta': {{...}}}}"
            raise MindzPayAPIError(msg)
        return page

    @property
    def fast_conforming(self) -> bool:
        """Whether the shaper stands in for the SDK's type conformance (``conform``)."""
        return self.TYPE_CONFORMANCE_LEVEL is TypeConformanceLevel.NONE

    def list_decoder(self) -> PageDecoder | None:
        """The page decoder for a new list read, or ``None`` (plain JSON).

        Declared properties only and money decoded (``conform.PageDecoder``) when the shaper
        stands in for the SDK's conformance, which would drop the other properties anyway.
        """
        if not self.fast_conforming:
            return None
        decoder = self.shaper.page_decoder
        decoder.restart()
        return decoder

    def first_page_decoder(self) -> FirstPageDecoder | None:
        """The decoder of a first page fetched ahead of its read (``list_decoder``'s kind)."""
        return self.shaper.page_decoder.first_page if self.fast_conforming else None

    def stop_if_asked(self) -> None:
        """Stop the run here, after a STATE safe to resume from, if a signal asked for it."""
        raise NotImplementedError

    def waiting(self) -> AbstractContextManager[None]:
        """A wait of the main thread between requests (a signal stops the run at once)."""
        raise NotImplementedError

    @property
    def prefetch_depth(self) -> int:
        """List pages requested at once (setting ``max_concurrency``)."""
        return int(self.config.get("max_concurrency", DEFAULT_MAX_CONCURRENCY))

    def _pages(
        self, context: Context | None, paginator: OffsetPaginator, phase: str
    ) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        """``(offset, records to emit)`` of each list page, ascending by id, fetched ahead."""
        url = self.get_url(context)
        report = self.progress(context)
        decoder = self.list_decoder()

        def fetch(offset: int) -> ListPage:
            params = self.get_url_params(context, offset)
            body = self.request_json("GET", url, params=params, context=context, decoder=decoder)
            return self.parse_page(body, url)

        prefetcher = PagePrefetcher(
            paginator,
            fetch,
            self._record_id,
            depth=self.prefetch_depth,
            stop_check=self.stop_if_asked,
            waiting=self.waiting,
        )
        for offset, records, total, start in prefetcher.pages():
            report.listed(offset, len(records), total, phase=phase)
            yield offset, records[start:]

    @override
    def request_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Page the list ascending by id from the bookmark; ids guard against offset shifts."""
        state = self.get_context_state(context) if self.replication_key else None
        paginator = self.new_records_paginator(context)
        with self.get_http_request_counter() as counter:
            counter.with_context(context)
            for offset, records in self._pages(context, paginator, "new"):
                counter.increment()
                if records and state is not None:
                    state[OFFSET_HINT_KEY] = offset
                yield from records
        if paginator.bookmark_past_the_list:
            self.logger.warning(
                "The bookmark of %s (id %s) is after the newest record the API listed (%s); "
                "no new record is read until the API's ids pass it - check that the state "
                "belongs to this platform (or the newest records were deleted)",
                partition_label(self.name, context),
                paginator.after_id,
                "none" if paginator.newest_listed is None else f"id {paginator.newest_listed}",
            )

    def page_all(self, context: Context | None) -> Iterator[dict[str, Any]]:
        """Every record of the partition, ascending by id (the sweep; ``start_date`` aside)."""
        for _, records in self._pages(context, OffsetPaginator(self.page_size), "sweep"):
            yield from records

    def predates_start(self, record: Mapping[str, Any]) -> bool:
        """Whether ``record`` was created before ``start_date`` (never emitted)."""
        return self.shaper.before_start_date(record)

    def _record_id(self, record: object) -> int:
        record_id = record.get("id") if isinstance(record, dict) else None
        if not isinstance(record_id, int) or isinstance(record_id, bool):
            msg = f"stream {self.name}: a record has no integer id: {str(record)[:200]}"
            raise MalformedRecordError(msg)
        if not 0 < record_id < MAX_RECORD_ID:
            msg = (
                f"stream {self.name}: record id {record_id} is not a positive integer of at "
                "most 64 bits, as the API's ids are; the tap cannot track it"
            )
            raise MalformedRecordError(msg)
        return record_id

    def get_record(self, context: Context | None, record_id: int) -> dict[str, Any] | None:
        """The record by a plain GET of its id; ``None`` when the API answers 404 (deleted).

        Raises:
            MindzPayAPIError: The API refused the request or did not answer a record.
        """
        url = self.get_url(context) + endpoints.GET_ONE_SUFFIX.format(id=record_id)
        body = self.request_json("GET", url, context=context, not_found_ok=True)
        return None if body is None else self._one_record(body, "GET", url)

    def refresh_record(self, context: Context | None, record_id: int) -> dict[str, Any] | None:
        """The record as the API has it now, through ``capture_rule``; ``None`` if deleted.

        Raises:
            MindzPayAPIError: The stream has no rule, or the API refused the request.
        """
        rule = self.capture_rule
        if rule is None:
            msg = f"stream {self.name} has no capture_rule to refresh records with"
            raise MindzPayAPIError(msg)
        url = self.get_url(context) + rule.path_suffix.format(id=record_id)
        body = self.request_json(rule.method, url, context=context, not_found_ok=True)
        self.progress(context).refreshed()
        return None if body is None else self._one_record(body, rule.method, url)

    def _one_record(self, body: object, method: str, url: str) -> dict[str, Any]:
        data = body.get(endpoints.ENVELOPE_DATA, body) if isinstance(body, dict) else None
        if not isinstance(data, dict):
            msg = f"{method} {url.removeprefix(self.url_base)} did not return a record"
            raise MindzPayAPIError(msg)
        return data
