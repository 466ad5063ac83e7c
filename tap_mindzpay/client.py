"""MindzPayStream: the SDK's record hooks, each calling down into one piece of the tap.

``get_records`` hands the partition's ``read.reader.ListReader`` to change capture
(``capture.partition``) and writes the ``(record, phase)`` events it yields: the new records,
then the refreshed and swept ones, and a STATE where one is due. The stream's declarations,
parts and connection hooks are ``wiring.WiredStream``'s; records are shaped by ``conform`` and
written by ``fastpath``. The partition state (bookmark, offset hint, capture section) is
``capture.partition``'s.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from typing_extensions import override

from tap_mindzpay.accounts import selected
from tap_mindzpay.capture.partition import PartitionCapture, Phase, TransitionsSource, full_table
from tap_mindzpay.read.childpages import ChildPages, open_for
from tap_mindzpay.wiring import WiredStream, synced

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable, Iterator, Mapping

    from singer_sdk.helpers.types import Context
    from singer_sdk.streams import Stream

    from tap_mindzpay.capture.partition import Event, Plan, Transitions
    from tap_mindzpay.read.childpages import Expanding
    from tap_mindzpay.read.reader import ListReader


class MindzPayStream(WiredStream):
    """Base of every MindzPay stream: one request path, id-guarded paging, Decimal money."""

    _written = False
    _selected_in_sync = False
    #: A setting that limits which records sync (their children too): (setting, field).
    selected_by: ClassVar[tuple[str, str] | None] = None

    def new_records(
        self, reader: ListReader, context: Context | None, plan: Plan | None
    ) -> Iterable[tuple[dict[str, Any], bool]] | None:
        """``(record, changed)`` when read another way than by id from the bookmark."""
        del reader, context, plan
        return None

    def capture_events(self, reader: ListReader, context: Context | None) -> Iterator[Event]:
        """The partition's ``(record, phase)``: change capture, or the list for a full table."""
        children = self.child_lists(context)
        plan = None if children is None else children.plan
        if self.replication_key is None:
            return full_table(reader, plan)
        self.capture = PartitionCapture(
            reader,
            self.get_context_state(context),
            self.get_starting_replication_key_value(context),
            self.capture_settings,
            self.transition_writer(context),
            self.new_records(reader, context, plan),
        )
        return self.capture.events()

    @property
    @override
    def child_keeps(self) -> Callable[[Mapping[str, Any]], bool]:
        if self.selected_by is None:
            return self.shaper.keeps
        setting, field = self.selected_by
        return selected(self.config.get(setting) or (), field, self.shaper.keeps)

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The partition's records as change capture hands them out; each counted once written."""
        report = self.progress(context)
        with self.get_http_request_counter() as counter:
            counter.with_context(context)
            decoder = partial(self.shaper.list_decoder, conforming=self.fast_conforming)
            url = self.get_url(context)
            # The run's first list page plans the later top-level lists (``listed``).
            plans = self.parent_stream_type is None and self.services.top_level_plan is not None
            reader = self.lists.reader(
                url,
                context,
                report,
                on_page=counter.increment,
                decoder=decoder,
                ahead=self.first_pages,
            )
            events = self.capture_events(reader, context)
            try:
                for record, phase in events:
                    if plans:
                        plans = False
                        self.services.listed(self.name)
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
                # A stop point (``run.stopping``) in this thread or a worker's: every record
                # yielded so far is written and capture left its state in the partition, so
                # the STATE written here is safe to resume from.
                self.stop_if_asked()
                raise
            finally:
                self.capturing = False
                self.capture = None
                self.close_child_pages()

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
        self.services.syncing = True
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
        if self.first_pages is not None and self.parent_stream_type is None:
            self.first_pages.close_when_taken()


def first_pages_of(streams: Iterable[Stream], started: str) -> ChildPages | None:
    """The first page of each top-level list the run syncs after ``started``, fetched ahead.

    In the order the SDK syncs them (``Tap.sync_all``; ``read.childpages``); ``None`` with
    ``max_concurrency`` 1.
    """
    tops = synced(stream for stream in streams if stream.parent_stream_type is None)
    names = [stream.name for stream in tops]
    tops = tops[names.index(started) + 1 :] if started in names else tops
    if not tops or tops[0].depth <= 1:
        return None
    depth = tops[0].depth
    services = tops[0].services
    lists = [ahead for top in tops for ahead in (top, *top.lists_below())]
    slots = services.child_page_slots(depth)
    pages = open_for(lists, depth, slots, services.run_report.pages_ahead)
    pages.plan(first_page_and_lists_below(top, pages) for top in tops)
    return pages


def first_page_and_lists_below(top: WiredStream, pages: ChildPages) -> Expanding:
    """``top``'s first page in ``pages``, and what it plans there once fetched: its child lists."""
    children = top.child_lists_in(pages, None, next_in_line=True)
    expand = None if children is None else partial(children.expansion, None)
    return (*top.first_page_fetch(None), expand)
