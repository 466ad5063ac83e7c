"""PlatformStream: a Mindz platform list (users, courses, ...) read incrementally by updated_at.

The platform resources are what MindzPay records point to (a payment's client is a user, a
subscription's plan a plan, an enrollment's payment a payment). Their lists are platform-wide
(no account in the path) and sort by ``updated_at``, so:

* ``new_records`` reads newest-updated first (``read.newest.NewestFirstRead``) until the
  first record older than the bookmark: a record edited while the tap pages jumps to a place
  already read and is caught by the next run, never skipped (docs/design.md);
* the bookmark (``updated_at``, the newest one read) moves once that read is complete: a run
  stopped half way resumes from the previous bookmark and reads what it had read again;
* the sweep (``sweep_interval_hours``) pages the whole list by id, as for the MindzPay streams,
  and marks every id the list no longer has (and a GET answers 404) with ``_sdc_deleted_at``
  (a user removed on an LGPD request); a list whose newest-first read got it whole in one page
  (``meta.total``), as most nested lists are, is swept from that page with no request again;
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

from typing import TYPE_CHECKING, Any

from typing_extensions import override

from tap_mindzpay import endpoints
from tap_mindzpay.client import MindzPayStream
from tap_mindzpay.errors import ForbiddenError
from tap_mindzpay.read.newest import NewestFirstRead, newest_first_query
from tap_mindzpay.read.recent import bookmark_time

if TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context, Record

    from tap_mindzpay.capture.partition import Plan
    from tap_mindzpay.read.reader import ListReader


class PlatformStream(MindzPayStream):
    """A platform-wide Mindz list, newest-updated first down to the ``updated_at`` bookmark."""

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
    def new_records(
        self, reader: ListReader, context: Context | None, plan: Plan | None
    ) -> Iterable[tuple[dict[str, Any], bool]]:
        """The records updated at or after the bookmark, newest first (every one on a first run).

        A list whose children sync is read whole (``plan``: each page's child lists have their
        first page fetched ahead while the page's records are written).
        """
        return NewestFirstRead(
            reader,
            self.get_context_state(context),
            str(self.replication_key),
            bookmark_time(self.get_starting_replication_key_value(context), self.name),
            whole=self._children_sync(),
            plan=plan,
        )

    @override
    def first_page_params(self, context: Context | None) -> dict[str, Any]:
        # A newest-first read always begins at the newest record.
        return newest_first_query(self.lists.page_size, 0, self.sort_by)

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

    def _children_sync(self) -> bool:
        """Whether the SDK syncs child lists for this list's records (``Stream._sync_children``)."""
        return any(
            isinstance(child, PlatformStream)
            and not child.derived
            and (child.selected or child.has_selected_descendents)
            for child in self.child_streams
        )
