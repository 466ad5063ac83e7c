"""PlatformStream: a Mindz platform list (users, courses, ...) read incrementally by updated_at.

The platform resources are what MindzPay records point to (a payment's client is a user, a
subscription's plan a plan, an enrollment's payment a payment). Their lists are platform-wide
(no account in the path) and sort by ``updated_at``, so:

* ``new_records`` reads newest-updated first (``recent.NewestFirstPaginator``) until the
  first record older than the bookmark: a record edited while the tap pages jumps to a place
  already read and is caught by the next run, never skipped (docs/design.md);
* the bookmark (``updated_at``, the newest one read) moves once that read is complete: a run
  stopped half way resumes from the previous bookmark and reads what it had read again;
* the sweep (``sweep_interval_hours``) pages the whole list by id, as for the MindzPay streams,
  and marks every id the list no longer has with ``_sdc_deleted_at`` (a user removed on an
  LGPD request);
* a credential without permission on the resource (Mindz has per-resource permissions) gets a
  403 on the first request: the stream is skipped with one warning saying how to grant the
  permission or deselect the stream, and the run summary lists it (``get_records``); a 403
  after the first page, or any other refusal, stops the run as everywhere else;
* properties in ``personal_data`` are in the schema but emitted only when the setting
  ``include_personal_data`` asks for them (``personal``);
* a nested list (a course's grades, a campaign's links) is a child stream: ``path`` has the
  parent's ``{placeholders}`` and each parent is a partition with its own bookmark. A parent
  whose children sync reads its whole list every run (a page per 100 parents): the records
  changed since its bookmark are emitted, the others only have their children read, so no
  parent's children are left unread because the parent itself did not change. The sweep's
  records have their children read already (in the same run's first phase). A nested list's
  partitions write STATE at the run's cadence, and its platform-wide parent once at its end.
  The SDK syncs a parent's children one after another; with ``max_concurrency`` above 1 the
  first page of each child list of a page of parents is fetched ahead (``childpages.ChildPages``)
  and the child's read takes it in place of its first request.

Partition state shape (one partition: the stream itself, or one per parent with its
``context``; the SDK owns the keys but ``capture``)::

    {"context": {"course_id": 7},
     "replication_key": "updated_at",
     "replication_key_value": "2026-11-23T18:16:17-03:00",
     "capture": {...}}
"""

from __future__ import annotations

from time import monotonic
from typing import TYPE_CHECKING, Any, cast

from typing_extensions import override

from tap_mindzpay import endpoints
from tap_mindzpay.client import MindzPayStream
from tap_mindzpay.errors import ForbiddenError
from tap_mindzpay.read.childpages import ChildPages
from tap_mindzpay.read.paging import list_params
from tap_mindzpay.read.reader import parse_page
from tap_mindzpay.read.recent import NewestFirstPaginator, bookmark_time, record_key
from tap_mindzpay.sdk_private import REPLICATION_KEY, REPLICATION_KEY_VALUE

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
    from datetime import datetime

    from singer_sdk.helpers.types import Context, Record

    from tap_mindzpay.decoding import PageDecoder
    from tap_mindzpay.read.paging import ListPage
    from tap_mindzpay.read.reader import ListReader


class PlatformStream(MindzPayStream):
    """A platform-wide Mindz list, newest-updated first down to the ``updated_at`` bookmark."""

    #: The first pages of this child list fetched ahead by its parent's read (``ChildPages``).
    first_pages: ChildPages | None = None

    replication_key = endpoints.SORT_UPDATED_AT
    #: Read newest first: the bookmark moves when the read is complete, not per record.
    is_sorted = False
    #: Platform records are never filtered by ``start_date`` (an old one still has to resolve).
    start_date_filters = False

    @override
    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        # The bookmark is an updated_at the API wrote (the newest read), never the tap's clock.
        return None

    @override
    def _increment_stream_state(
        self, latest_record: Record, *, context: Context | None = None
    ) -> None:
        # The bookmark moves once the newest-first read is complete (``new_records``).
        return

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The stream's records; nothing, with one warning, if its first request is refused."""
        report = self.progress(context)
        try:
            yield from super().get_records(context)
        except ForbiddenError as refused:
            if report.pages:
                raise  # a permission lost mid-read is no missing permission: stop
            self.logger.warning("Skipping stream %s: %s", self.name, refused)
            self.services.run_report.skip(self.name, str(refused))

    @override
    def new_records(self, reader: ListReader, context: Context | None) -> Iterator[dict[str, Any]]:
        """The records updated at or after the bookmark, newest first (every one on a first run)."""
        return self._newest_first(reader, context)

    def _newest_first(
        self, reader: ListReader, context: Context | None
    ) -> Iterator[dict[str, Any]]:
        state = self.get_context_state(context)
        since = bookmark_time(self.get_starting_replication_key_value(context), self.name)
        children = self._synced_children()
        paginator = NewestFirstPaginator(self.lists.page_size, since=None if children else since)
        url = reader.url
        decoder = self.lists.decoder()
        api_newest: datetime | None = None  # the first record of the first page
        child_pages = self._open_child_pages(children)
        try:
            while not paginator.finished:
                offset = paginator.current_value
                params = self._list_query(offset)
                records, total, limit, _ = self._list_page(
                    context, url, params, decoder, first=paginator.pages == 0
                )
                reader.on_page()
                reader.report.listed(offset, len(records), total, phase="new")
                keys = [record_key(r, self.name) for r in records]
                if keys and paginator.pages == 0:
                    api_newest = keys[0][0]
                start, end = paginator.advance(keys, total, limit)
                if child_pages is not None:
                    child_pages.plan(self._child_first_pages(records[start:end], context))
                for key, record in zip(keys[start:end], records[start:end], strict=True):
                    if since is not None and key[0] < since:
                        # Unchanged: not emitted again, but its children are read.
                        self._process_record(record, child_context=context)
                    else:
                        yield record
        finally:
            if child_pages is not None:
                child_pages.close()
                for child in children:
                    child.first_pages = None
        if since is not None and (api_newest is None or api_newest < since):
            # Nothing is lost, but nothing will be read until the API catches up with the
            # bookmark: a state from another platform, or a clock far ahead, looks like this.
            self.logger.warning(
                "The bookmark of stream %s (updated_at %s) is after the newest record the API "
                "returned (%s); no record is read until one is updated after it - check that "
                "the state belongs to this platform",
                self.name,
                since.isoformat(),
                "none" if api_newest is None else api_newest.isoformat(),
            )
        newest = paginator.newest
        if newest is not None and (since is None or newest > since):
            # Every record read is written (the SDK asked for the next one): move the bookmark.
            state[REPLICATION_KEY] = self.replication_key
            state[REPLICATION_KEY_VALUE] = newest.isoformat()

    def _list_query(self, offset: int) -> dict[str, Any]:
        """The query of the list page at ``offset``, newest-updated first."""
        return {
            **list_params(self.lists.page_size, offset, self.sort_by),
            endpoints.PARAM_SORT_BY: endpoints.SORT_UPDATED_AT,
            endpoints.PARAM_SORT_DIRECTION: endpoints.SORT_DESCENDING,
        }

    def _list_page(
        self,
        context: Context | None,
        url: str,
        params: dict[str, Any],
        decoder: PageDecoder | None,
        *,
        first: bool,
    ) -> ListPage:
        """The list page ``params`` asks for: the one fetched ahead by the parent, else now."""
        pages = self.first_pages
        if first and pages is not None:
            signature = _signature(url, params, decoding=decoder is not None)
            page = pages.take(
                (self.name, _frozen(context)), signature, self.stop_if_asked, self.waiting
            )
            if page is not None:
                if decoder is not None:
                    decoder.restart(read=1)  # decoded ahead (``PageDecoder.decode_first``)
                return cast("ListPage", page)
        body = self.requester.request_json(
            "GET", url, params=params, context=context, decoder=decoder
        )
        return parse_page(body, url)

    def first_page_fetch(
        self, context: Context
    ) -> tuple[Hashable, Hashable, Callable[[], ListPage]]:
        """``(key, signature, fetch)`` of this list's first page for ``context``, to fetch ahead.

        The request is the one ``new_records`` makes first, through the same request path
        (retries, 401 refresh, rate budget, stop points), decoded as its read would decode it.
        """
        url = self.get_url(context)
        params = self._list_query(0)
        decoder = self.shaper.first_page_decoder(conforming=self.fast_conforming)

        def fetch() -> ListPage:
            began = monotonic()
            body = self.requester.request_json(
                "GET", url, params=params, context=context, decoder=decoder
            )
            return parse_page(body, url)._replace(seconds=monotonic() - began)

        signature = _signature(url, params, decoding=decoder is not None)
        return (self.name, _frozen(context)), signature, fetch

    def _open_child_pages(self, children: list[PlatformStream]) -> ChildPages | None:
        """First pages of ``children`` fetched ahead, if any sync and concurrency is above 1."""
        depth = self.lists.depth
        if not children or depth <= 1:
            return None
        pages = ChildPages(depth, self.services.child_page_slots(depth))
        for child in children:
            child.first_pages = pages
        return pages

    def _child_first_pages(
        self, records: list[dict[str, Any]], context: Context | None
    ) -> Iterator[tuple[Hashable, Hashable, Callable[[], ListPage]]]:
        """The first page of each child list of ``records``, in the order the SDK syncs them.

        A context that cannot be told from the record as read (a property the shaping adds)
        is left out: that child requests its first page itself.
        """
        children = self._synced_children()
        for record in records:
            if not self.shaper.keeps(record):
                continue  # skipped as malformed: the SDK syncs no children of it
            try:
                merged = {**(context or {}), **record}  # as ``Stream._process_record`` does
                contexts = list(self.generate_child_contexts(merged, context))
            except KeyError:
                continue
            for child_context in contexts:
                if child_context is None:
                    continue
                for child in children:
                    yield child.first_page_fetch(child_context)

    @override
    def write_sync_end_state(self) -> None:
        # A STATE carries every partition's state: one per parent of a nested list would make
        # the output grow with the square of the parents. A nested list's partitions write
        # at the run's cadence; the platform-wide parent writes once its children are done.
        if self.parent_stream_type is not None:
            self.checkpoint(force=True)
        elif self.child_streams:
            self._write_state_now()
        else:
            super().write_sync_end_state()

    @override
    def checkpoint(self, *, force: bool) -> None:
        if self.parent_stream_type is None or self.services.stop.signal is not None:
            super().checkpoint(force=force)
            return
        # A nested list's partition: its capture section goes into the state now, the STATE
        # itself at the run's cadence (``write_sync_end_state``).
        live = self.capture.live if self.capture is not None else None
        if live is not None:
            live[0].write(live[1])
        self.offer_state(1)

    @override
    def generate_child_contexts(
        self, record: dict[str, Any], context: Context | None
    ) -> Iterable[Context | None]:
        # A record the sweep re-emits had its children read in this run's first phase.
        if self.capturing:
            return ()
        return super().generate_child_contexts(record, context)

    def _synced_children(self) -> list[PlatformStream]:
        """The child lists the SDK syncs for each record (``Stream._sync_children``), in order."""
        return [
            child
            for child in self.child_streams
            if isinstance(child, PlatformStream)
            and not child.derived
            and (child.selected or child.has_selected_descendents)
        ]


def _frozen(context: Mapping[str, Any] | None) -> Hashable:
    """A partition context as a key (contexts are flat: ids)."""
    return tuple(sorted((context or {}).items()))


def _signature(url: str, params: Mapping[str, Any], *, decoding: bool) -> Hashable:
    """What a list request is: a page fetched ahead stands in only for the same request."""
    return url, tuple(sorted(params.items())), decoding
