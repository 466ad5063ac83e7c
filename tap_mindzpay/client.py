"""MindzPayStream: the SDK's stream hooks, each calling one piece of the tap, so a stream is small.

* ``url_base``, ``authenticator``, ``requests_session``: the run's ``services``;
* ``get_records``: a ``read.reader.ListReader`` of the partition (id-guarded offset paging
  ascending by id, pages fetched ahead up to ``max_concurrency``, every request through the
  stream's ``requester``) handed to change capture (``capture.partition``), whose
  ``(record, phase)`` events the stream writes: the new records, then the refreshed and swept
  ones, and a STATE where one is due;
* ``post_process``: record shaping (``conform``); ``_sync_records``: the fast record path
  (``fastpath``) where the SDK's record steps are the identity, else the SDK's loop.

The partition state (bookmark, offset hint, capture section) is ``capture.partition``'s.
"""

from __future__ import annotations

import copy
import logging
from functools import cached_property, partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_mindzpay import personal, schemas
from tap_mindzpay.capture.partition import (
    CaptureSettings,
    PartitionCapture,
    Phase,
    TransitionsSource,
    full_table,
)
from tap_mindzpay.conform import RecordShaper
from tap_mindzpay.errors import sync_log_level
from tap_mindzpay.fastpath import FastRecordSync
from tap_mindzpay.http.auth import request_headers
from tap_mindzpay.http.requester import Requester
from tap_mindzpay.read.reader import ListReader, ListSource
from tap_mindzpay.schemas.school import STREAM_SCHEMAS
from tap_mindzpay.settings import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_PAGE_SIZE,
    DEFAULT_SWEEP_INTERVAL_HOURS,
)

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable, Iterator, Mapping

    import requests
    from singer_sdk.helpers.types import Context
    from singer_sdk.singerlib import MetadataMapping
    from singer_sdk.tap_base import Tap

    from tap_mindzpay.capture.partition import Event, RefreshRule, Transitions
    from tap_mindzpay.http.auth import MindzPayAuthenticator
    from tap_mindzpay.run.progress import PartitionReport
    from tap_mindzpay.services import RunServices


class MindzPayStream(FastRecordSync):
    """Base of every MindzPay stream: one request path, id-guarded paging, Decimal money."""

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

    _written = False
    _selected_in_sync = False

    def __init__(self, tap: Tap, services: RunServices) -> None:
        """Create the stream with the schema of its name (``schemas``) and the run's services."""
        self.services = services
        schema = STREAM_SCHEMAS[self.name]
        if services.config.get("money_as_string"):
            schema = schemas.money_as_strings(schema)
        super().__init__(tap, schema=copy.deepcopy(schema))
        self.shaper = schemas_shaper(self, services.config)
        if self.fast_conformance and self.shaper.flat:
            self.TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
        self.requester = Requester(
            services=services,
            session=self.requests_session,
            name=self.name,
            resource=self.resource or self.name,
            logger=self.logger,
            progress=partial(services.partition_report, self.name),
            stop_if_asked=self.stop_if_asked,
        )

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
        pool = int(self.config.get("max_concurrency", DEFAULT_MAX_CONCURRENCY))
        session = self.services.session(pool_connections=1, pool_maxsize=pool, max_retries=0)
        session.headers.update(request_headers(self.services.user_agent))
        return session

    def progress(self, context: Context | None) -> PartitionReport:
        """The progress and summary counters of this stream's partition ``context``."""
        return self.services.partition_report(self.name, context)

    # -- records -------------------------------------------------------------------------

    @cached_property
    def lists(self) -> ListSource:
        """What every list read of this stream shares (``read.reader``)."""
        return ListSource(
            request=self.requester.request_json,
            api_base=self.url_base,
            stream=self.name,
            page_size=int(self.config.get("page_size", DEFAULT_PAGE_SIZE)),
            depth=int(self.config.get("max_concurrency", DEFAULT_MAX_CONCURRENCY)),
            decoder=lambda: self.shaper.list_decoder(conforming=self.fast_conforming),
            stop_check=self.stop_if_asked,
            waiting=self.waiting,
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
            max_concurrency=self.lists.depth,
            logger=self.logger,
        )

    def new_records(
        self, reader: ListReader, context: Context | None
    ) -> Iterable[tuple[dict[str, Any], bool]] | None:
        """``(record, changed)`` when read another way than by id from the bookmark."""
        del reader, context
        return None

    def capture_events(self, reader: ListReader, context: Context | None) -> Iterator[Event]:
        """The partition's ``(record, phase)``: change capture, or the list for a full table."""
        if self.replication_key is None:
            return full_table(reader)
        self.capture = PartitionCapture(
            reader,
            self.get_context_state(context),
            self.get_starting_replication_key_value(context),
            self.capture_settings,
            self.transition_writer(context),
            self.new_records(reader, context),
        )
        return self.capture.events()

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The partition's records as change capture hands them out; each counted once written."""
        report = self.progress(context)
        with self.get_http_request_counter() as counter:
            counter.with_context(context)
            reader = self.lists.reader(self.get_url(context), context, report, counter.increment)
            events = self.capture_events(reader, context)
            try:
                for record, phase in events:
                    if record is None:
                        self.checkpoint(force=phase is Phase.CHECKPOINT)
                    elif phase is Phase.NEW or phase is Phase.CHANGED:
                        self.capturing = phase is Phase.CHANGED
                        self._written = False
                        yield record
                        # Written (``post_process`` said so) once the SDK asks for the next.
                        if self._written:
                            report.new += 1
                    elif phase is Phase.BEFORE_START:
                        # Read but not emitted: its id still moves the bookmark.
                        self._increment_stream_state(record, context=context)
                    else:  # UNCHANGED: not written again, its children are read
                        self._process_record(record, child_context=context)
            except SystemExit:
                # A worker thread (refresh, page ahead) stopped by a signal: every record
                # yielded so far is written, so stop here in the main thread, after a STATE.
                self.stop_if_asked()
                raise
            finally:
                self.capturing = False
                self.capture = None

    @override
    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        """Shape the record (``conform``); note a new record the SDK is about to write."""
        shaped = self.shaper.shape(row, conform=self.fast_conforming)
        self._written = shaped is not None and self._selected_in_sync and not self.capturing
        return shaped

    @override
    def get_child_context(self, record: dict[str, Any], context: Context | None) -> Context:
        return {key: record[field] for key, field in self.child_context.items()}

    @override
    def generate_child_contexts(
        self, record: dict[str, Any], context: Context | None
    ) -> Iterable[Context | None]:
        # A stream whose children are all derived syncs none of them: they are written from
        # this stream's sync, in the same STATE window as the record they belong to.
        if all(getattr(child, "derived", False) for child in self.child_streams):
            return ()
        return super().generate_child_contexts(record, context)

    def transition_writer(self, context: Context | None) -> Transitions | None:
        """Where status transitions go: the rule's changes stream (a child), if selected."""
        name = self.capture_rule.changes_stream if self.capture_rule else None
        for child in self.child_streams:
            if child.name == name and isinstance(child, TransitionsSource):
                return child.transitions(context, self.progress(context))
        return None

    @override
    def _increment_stream_state(
        self,
        latest_record: dict[str, Any],
        *,
        context: Context | None = None,
    ) -> None:
        # Refreshed and swept records are older than the bookmark: they must not move it.
        if not self.capturing:
            super()._increment_stream_state(latest_record, context=context)

    @override
    def _sync_records(
        self,
        context: Context | None = None,
        *,
        write_messages: bool = True,
    ) -> Generator[dict[str, Any], Any, Any]:
        # Progress and run summary (``progress``): the partition's start, its end.
        report = self._partition_report = self.progress(context)
        self._selected_in_sync = self.selected  # read once: a property walking the metadata
        self._conform_to_catalog_schema()
        self._record_writer_checked = False
        writer = self._record_writer() if write_messages else None
        if writer is not None:
            yield from self._sync_records_fast(context, writer)
        else:
            yield from super()._sync_records(context, write_messages=write_messages)
        report.finish(own_work_only=bool(self.child_streams))


def schemas_shaper(stream: MindzPayStream, config: Mapping[str, Any]) -> RecordShaper:
    """The record shaper of ``stream`` (its schema as emitted, the run's settings)."""
    return RecordShaper(
        stream=stream.name,
        properties=stream.schema["properties"],
        money_fields=schemas.money_fields(STREAM_SCHEMAS[stream.name]),
        config=config,
        per_account=stream.start_date_filters and stream.parent_stream_type is not None,
        logger=stream.logger,
        drift=stream.services.run_report.drift(stream.name),
    )
