"""WiredStream: a stream wired to the run's services, and the parts it reads and captures with.

``client.MindzPayStream`` (the SDK's record hooks) stands on ``WiredStream``: what a stream
class may set, the SDK's connection hooks answered from the run's ``services`` (settings without
``start_date``, which filters records here; API base, authenticator, session, log levels,
personal-data metadata), and parts built once and handed down, none calling the stream back:
the record shaper (``conform``), the session (a pool of ``max_concurrency``), the requester
(``http.requester``), ``lists`` (``read.reader``, with the run's stop points),
``capture_settings`` (``capture.partition``), and the first pages of the lists below a read,
planned from its records (``child_lists``, ``read.childpages``).
"""

from __future__ import annotations

import copy
import logging
from functools import cached_property, partial
from time import monotonic
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, cast

from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_mindzpay import personal, schemas
from tap_mindzpay.capture.partition import OFFSET_HINT_KEY
from tap_mindzpay.capture.rules import CaptureSettings
from tap_mindzpay.conform import RecordShaper
from tap_mindzpay.errors import sync_log_level
from tap_mindzpay.fastpath import FastRecordSync
from tap_mindzpay.http.auth import request_headers
from tap_mindzpay.http.requester import Requester
from tap_mindzpay.read.childlists import ChildLists
from tap_mindzpay.read.childpages import (
    ChildPages,
    close_for,
    frozen,
    open_for,
    request_signature,
)
from tap_mindzpay.read.paging import OffsetPaginator, list_params
from tap_mindzpay.read.reader import ListSource, parse_page
from tap_mindzpay.schemas.school import STREAM_SCHEMAS
from tap_mindzpay.sdk_private import BOOKMARKS, CONTEXT, PARTITIONS, REPLICATION_KEY_VALUE
from tap_mindzpay.settings import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_SWEEP_INTERVAL_HOURS,
    concurrency,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    import requests
    from singer_sdk.helpers.types import Context
    from singer_sdk.singerlib import MetadataMapping
    from singer_sdk.streams import Stream
    from singer_sdk.tap_base import Tap

    from tap_mindzpay.capture.rules import RefreshRule
    from tap_mindzpay.http.auth import MindzPayAuthenticator
    from tap_mindzpay.read.childpages import Planned
    from tap_mindzpay.read.paging import ListPage
    from tap_mindzpay.run.progress import PartitionReport
    from tap_mindzpay.services import RunServices


def record_shaper(
    name: str,
    properties: dict[str, Any],
    services: RunServices,
    *,
    per_account: bool,
    logger: logging.Logger,
) -> RecordShaper:
    """The record shaper of stream ``name`` (``properties`` of its schema as emitted)."""
    return RecordShaper(
        stream=name,
        properties=properties,
        money_fields=schemas.money_fields(STREAM_SCHEMAS[name]),
        config=services.config,
        per_account=per_account,
        logger=logger,
        drift=services.run_report.drift(name),
    )


def stream_session(services: RunServices, depth: int) -> requests.Session:
    """A stream's session: keep-alive connections for ``depth`` requests at once, no retries."""
    session = services.session(pool_connections=1, pool_maxsize=depth, max_retries=0)
    session.headers.update(request_headers(services.user_agent))
    return session


class WiredStream(FastRecordSync):
    """A MindzPay stream's declarations and parts; the SDK hooks the run's services answer."""

    primary_keys: ClassVar[tuple[str, ...]] = ("id",)
    #: The API resource named in error messages (the stream's name when empty).
    resource: ClassVar[str] = ""
    #: The child context of a record: context key -> record field (the parent's streams).
    child_context: ClassVar[Mapping[str, str]] = {}
    #: Written while another stream syncs (``DerivedStream``), never synced by itself.
    derived: ClassVar[bool] = False
    #: ``start_date`` filters the records of this stream's partitions by ``created_at``.
    start_date_filters: ClassVar[bool] = True
    #: API sort field for paging; ids only grow, so ascending id is the resumable order.
    sort_by: ClassVar[str] = "id"
    #: Change-capture rule (``None``: new records only).
    capture_rule: ClassVar[RefreshRule | None] = None
    #: Performance lever: ``conform`` stands in for the SDK's type conformance on a flat
    #: schema. Set to False for the plain SDK path; tests/test_fastpath_equivalence.py compares.
    fast_conformance: ClassVar[bool] = True
    #: Properties that are personal data (LGPD), emitted only when ``include_personal_data``
    #: asks for them (``personal``); declaring them is all a stream needs.
    personal_data: ClassVar[tuple[str, ...]] = ()

    #: Where the parent's read leaves the first pages of this list's partitions.
    first_pages: ChildPages | None = None
    #: The first pages of the lists below this one, fetched ahead while it is read.
    child_pages: ChildPages | None = None

    def __init__(self, tap: Tap, services: RunServices) -> None:
        """Create the stream with the schema of its name (``schemas``) and the run's services."""
        self.services = services
        #: Requests in flight at once: list pages ahead, refreshes (``max_concurrency``).
        self.depth = concurrency(services.config)
        schema = STREAM_SCHEMAS[self.name]
        if services.config.get("money_as_string"):
            schema = schemas.money_as_strings(schema)
        super().__init__(tap, schema=copy.deepcopy(schema))
        per_account = self.start_date_filters and self.parent_stream_type is not None
        self.shaper = record_shaper(
            self.name,
            self.schema["properties"],
            services,
            per_account=per_account,
            logger=self.logger,
        )
        if self.fast_conformance and self.shaper.flat:
            self.TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
        self.requester = Requester(
            services=services,
            session=self.requests_session,
            name=self.name,
            resource=self.resource or self.name,
            logger=self.logger,
            progress=partial(services.partition_report, self.name),
        )

    @cached_property
    def lists(self) -> ListSource:
        """What every list read of this stream shares (``read.reader``): the run's stop points."""
        stop = self.services.stop
        return ListSource(
            request=self.requester.request_json,
            api_base=self.services.api_base,
            stream=self.name,
            page_size=int(self.config.get("page_size", DEFAULT_PAGE_SIZE)),
            depth=self.depth,
            stop_check=stop.check,
            waiting=stop.waiting,
            logger=self.logger,
            sort_by=self.sort_by,
        )

    @cached_property
    def capture_settings(self) -> CaptureSettings:
        """What change capture of every partition of this stream shares."""
        hours = self.config.get("sweep_interval_hours", DEFAULT_SWEEP_INTERVAL_HOURS)
        return CaptureSettings(
            rule=self.capture_rule,
            signals=self.services.signals,
            clock=self.services.server_clock.now,
            predates_start=self.shaper.before_start_date,
            sweep_interval_hours=float(hours),
            max_concurrency=self.depth,
            logger=self.logger,
        )

    def child_lists(self, context: Context | None) -> ChildLists | None:
        """The child lists the SDK syncs for this list's records, first pages fetched ahead.

        A list whose first page and every list below it are planned in the same pages (a
        nested list's parent read opened them; the run's for a later top-level list, which
        planned the lists below once its first page came) plans there too; any other opens its
        own, for every list below it. ``None`` without child lists, or with ``max_concurrency``
        1 (``read.childpages``).
        """
        if self.depth <= 1:
            return None
        below = list(self.lists_below())
        if not below:
            return None
        if self.first_pages is not None and all(b.first_pages is self.first_pages for b in below):
            return self.child_lists_in(self.first_pages, context, next_in_line=True)
        slots = self.services.child_page_slots(self.depth)
        ahead = self.services.run_report.pages_ahead
        self.child_pages = open_for(below, self.depth, slots, ahead)
        return self.child_lists_in(self.child_pages, context, next_in_line=False)

    def close_child_pages(self) -> None:
        """The pages ``child_lists`` opened, closed (the partition's read ended)."""
        close_for(self.child_pages, self.lists_below())
        self.child_pages = None

    @property
    def child_keeps(self) -> Callable[[Mapping[str, Any]], bool]:
        """Whether the SDK syncs the children of a record as read (the shaper keeps it)."""
        return self.shaper.keeps

    def child_lists_in(
        self, pages: ChildPages, context: Context | None, *, next_in_line: bool
    ) -> ChildLists | None:
        """``child_lists`` planned in ``pages``, with what each child list plans in turn."""
        children = self.synced_lists()
        if not children:
            return None
        return ChildLists(
            pages,
            self.child_keeps,
            self.child_context,
            tuple(child.first_page_fetch for child in children),
            context,
            tuple(child.child_lists_in(pages, None, next_in_line=True) for child in children),
            next_in_line,
        )

    def synced_lists(self) -> list[WiredStream]:
        """The child lists the SDK syncs for each record (``Stream._sync_children``), in order."""
        return synced(child for child in self.child_streams if not getattr(child, "derived", 0))

    def lists_below(self) -> Iterator[WiredStream]:
        """Every list the SDK syncs below this one: children, their children, ..."""
        for child in self.synced_lists():
            yield child
            yield from child.lists_below()

    def first_page_fetch(self, context: Context | None) -> Planned:
        """``(key, signature, fetch)`` of this list's first page for ``context``, to fetch ahead.

        The request its read makes first (``first_page_params``), through the same request
        path (retries, 401 refresh, rate budget, stop points), decoded as its read would. Also
        called in a worker thread (a fetched page planning its child lists): it only reads, and
        a query told from a state the run has moved on since is not taken (the signature).
        """
        url = self.get_url(context)
        params = self.first_page_params(context)
        decoder = self.shaper.first_page_decoder(conforming=self.fast_conforming)

        def fetch() -> ListPage:
            began = monotonic()
            body = self.requester.request_json(
                "GET", url, params=params, context=context, decoder=decoder
            )
            return parse_page(body, url)._replace(seconds=monotonic() - began)

        signature = request_signature(url, params, decoding=decoder is not None)
        return (self.name, frozen(context)), signature, fetch

    def first_page_params(self, context: Context | None) -> dict[str, Any]:
        """The query of the first request of ``context``'s read, as the run's starting state says.

        After the partition's id bookmark, from its offset hint (``capture.partition``).
        """
        saved = self._saved_partition(context)
        bookmark, hint = saved.get(REPLICATION_KEY_VALUE), saved.get(OFFSET_HINT_KEY)
        after = int(str(bookmark)) if str(bookmark).isdigit() and self.replication_key else None
        paginator = OffsetPaginator(
            self.lists.page_size,
            after_id=after,
            offset_hint=hint if isinstance(hint, int) else None,
        )
        return list_params(self.lists.page_size, paginator.current_value, self.sort_by)

    def _saved_partition(self, context: Context | None) -> Mapping[str, Any]:
        """The state of partition ``context`` (empty if none), read without creating it."""
        # The SDK's state itself: ``tap_state`` (``fastpath``) also writes the live capture
        # section and tells the STATE cadence a STATE went out.
        bookmarks = cast("dict[str, Any]", self._tap.state.get(BOOKMARKS, {}))
        stream = bookmarks.get(self.name, {})
        if context is None:
            return cast("Mapping[str, Any]", stream)
        for partition in stream.get(PARTITIONS, ()):
            if isinstance(partition, dict) and partition.get(CONTEXT) == context:
                return cast("Mapping[str, Any]", partition)
        return {}

    def progress(self, context: Context | None) -> PartitionReport:
        """The progress and summary counters of this stream's partition ``context``."""
        return self.services.partition_report(self.name, context)

    @property
    @override
    def metadata(self) -> MetadataMapping:
        metadata = super().metadata
        catalog = self._tap.input_catalog
        # The tap's own metadata (discovery, or a run without a catalog); an input catalog's
        # is withheld from when the tap starts (``cli``).
        if self.personal_data and (catalog is None or catalog.get_stream(self.name) is None):
            value = self.services.config.get(personal.SETTING)
            personal.mark_defaults(metadata, value, self.name, self.personal_data)
        return metadata

    @override
    def log(self, message: str, *args: Any, level: int = logging.INFO, **kwargs: Any) -> None:
        super().log(message, *args, level=sync_log_level(level), **kwargs)

    @property
    @override
    def config(self) -> Mapping[str, Any]:
        # Without start_date: the SDK would start the id bookmark at it (a timestamp); here it
        # filters records by created_at (``conform``) and the bookmark is the id only.
        return self._config_for_sdk

    @cached_property
    def _config_for_sdk(self) -> Mapping[str, Any]:
        return MappingProxyType(
            {k: v for k, v in self.services.config.items() if k != "start_date"}
        )

    @property
    @override
    def url_base(self) -> str:
        return self.services.api_base

    @property
    @override
    def authenticator(self) -> MindzPayAuthenticator:
        return self.services.authenticator

    @property
    @override
    def requests_session(self) -> requests.Session:
        return self._session

    @cached_property
    def _session(self) -> requests.Session:
        return stream_session(self.services, self.depth)


def synced(streams: Iterable[Stream]) -> list[WiredStream]:
    """The lists of ``streams`` the run syncs (selected, or with a selected descendant)."""
    return [
        stream
        for stream in streams
        if isinstance(stream, WiredStream) and (stream.selected or stream.has_selected_descendents)
    ]
