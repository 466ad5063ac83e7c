"""How a stream runs change capture on one account partition: the phases in their order.

After the new-records phase (paged by id from the bookmark), ``capture_partition`` refreshes
the records in flight that are due (``schedule``) and, when due, sweeps the whole list
(``engine``). A stream whose rule publishes (payments) leaves what it saw for the account in
the run's ``Signals``; a stream whose rule waits on it (invoices) reads them. Records of those
phases do not move the id bookmark (``CaptureHost.capturing`` is true while they are yielded),
and STATE written in the middle of a phase carries the in-flight set that matches its bookmark
(``CaptureHost.live_capture``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from tap_mindzpay.capture.codec import StatusMap
from tap_mindzpay.capture.engine import UNSEEN, Engine
from tap_mindzpay.capture.schedule import AccountSignals, Schedule, Signals, minute_of
from tap_mindzpay.capture.state import CAPTURE_KEY, CaptureState

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from singer_sdk.helpers.types import Context

    from tap_mindzpay.run.progress import PartitionReport


@dataclass(frozen=True)
class RefreshRule:
    """How change capture keeps a stream's in-flight records current.

    Attributes:
        in_flight: True for a record whose state may still change without a new id
            (invoices in 0, 1 or 4; pending payments).
        method: HTTP method of the per-record request (``POST`` for the invoice Refresh).
        path_suffix: Appended to the stream's list path; ``{id}`` is the record id.
        changes_stream: Name of the stream that gets one record per observed status
            transition (``invoice_status_changes``); ``None`` for no such stream.
        link: What a record in flight waits on, as an integer kept in the state (an
            invoice's payment id, a payment's due day); 0 for nothing.
        waits: How a record waits (``schedule.Schedule.waits``): ``"invoice"`` on its payment,
            ``"payment"`` past its due date, ``""`` never (refreshed every sync).
        publishes: The status whose newly seen ids (and the ids still in flight) this stream
            leaves in the run's signals for its account (``"paid"`` for payments).
        reads_signals: The stream's schedule reads the signals of its account (invoices).
    """

    in_flight: Callable[[Mapping[str, Any]], bool]
    method: str
    path_suffix: str
    changes_stream: str | None = None
    link: Callable[[Mapping[str, Any]], int] | None = None
    waits: str = ""
    publishes: object = None
    reads_signals: bool = False


class CaptureHost(Protocol):
    """What ``capture_partition`` needs from the stream it runs for."""

    @property
    def capture_rule(self) -> RefreshRule | None:
        """The stream's refresh rule (``None``: new records only)."""

    #: True while refreshed or swept records are yielded (they move no bookmark).
    capturing: bool
    #: The capture state and partition of the phase running now (``None`` between phases).
    live_capture: tuple[CaptureState, dict[str, Any]] | None

    def get_context_state(self, context: Context | None) -> dict[str, Any]:
        """The partition's state (the SDK's)."""

    def get_starting_replication_key_value(self, context: Context | None) -> Any:  # noqa: ANN401
        """The partition's id bookmark at the start of the sync, if any."""

    def request_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The new records, from the bookmark on."""

    def skip_before_start_date(self, record: dict[str, Any], context: Context | None) -> bool:
        """Whether the record predates ``start_date`` (its id still moves the bookmark)."""

    def refresh_record(self, context: Context | None, record_id: int) -> dict[str, Any] | None:
        """The record as the API has it now; ``None`` if deleted."""

    def page_all(self, context: Context | None) -> Iterator[dict[str, Any]]:
        """Every record of the partition, ascending by id."""

    def get_record(self, context: Context | None, record_id: int) -> dict[str, Any] | None:
        """The record by a plain GET of its id; ``None`` if deleted (404)."""

    def predates_start(self, record: Mapping[str, Any]) -> bool:
        """Whether the record was created before ``start_date``."""

    def checkpoint(self, *, force: bool) -> None:
        """Emit STATE with the live capture state (now, or when due)."""

    @property
    def signals(self) -> Signals:
        """The run's signals between streams."""

    def schedule_clock(self) -> datetime:
        """The API's time now (the refresh schedule runs on it)."""

    def progress(self, context: Context | None) -> PartitionReport:
        """The partition's progress report."""

    def transition_writer(
        self, context: Context | None
    ) -> Callable[[Mapping[str, Any], object, str], None] | None:
        """Where status transitions go (the rule's changes stream, if selected)."""


def capture_partition(  # noqa: PLR0913 - the settings the phases use, given explicitly
    host: CaptureHost,
    context: Context | None,
    *,
    sweep_interval_hours: float,
    max_concurrency: int,
    where: str,
    logger: logging.Logger,
) -> Iterator[dict[str, Any]]:
    """New records by id, then the refresh and (when due) the sweep of one partition."""
    partition = host.get_context_state(context)
    had_bookmark = host.get_starting_replication_key_value(context) is not None
    upgrade = had_bookmark and CAPTURE_KEY not in partition
    minute = minute_of(host.schedule_clock())
    state = CaptureState.read(partition, where, minute)
    if not had_bookmark and state.statuses is None:
        state.statuses = StatusMap()
    now = datetime.now(timezone.utc)
    # Known before the new records are read: the phases below do not move ``sweep_at``.
    sweep = upgrade or (state.sweep_at is not None and state.sweep_due(sweep_interval_hours, now))
    rule = host.capture_rule
    account = str((context or {}).get("account_key"))
    engine = Engine(
        state=state,
        in_flight_rule=rule.in_flight if rule else None,
        fetch=lambda record_id: host.refresh_record(context, record_id),
        page_all=lambda: host.page_all(context),
        checkpoint=host.checkpoint,
        max_concurrency=max_concurrency,
        on_change=host.transition_writer(context),
        now=now,
        sweep_follows=sweep,
        schedule=Schedule(
            now=minute,
            cap_minutes=round(sweep_interval_hours * 60),
            payments=host.signals.of(account) if rule and rule.reads_signals else None,
            waits=rule.waits if rule else "",
        ),
        link=rule.link if rule else None,
        warn=logger.warning,
        where=where,
        signal_status=rule.publishes if rule and rule.publishes is not None else UNSEEN,
        confirm=lambda record_id: host.get_record(context, record_id),
        predates_start=host.predates_start,
    )
    host.live_capture = (state, partition)
    report = host.progress(context)
    report.attach_capture(engine.counts)
    try:
        for record in host.request_records(context):
            if host.skip_before_start_date(record, context):
                continue
            engine.observe_new(record)
            yield record
        host.checkpoint(force=True)
        host.capturing = True
        due = engine.due_ids()
        report.refresh_started(len(due))
        yield from engine.refresh(only=set(due))
        if sweep:
            yield from engine.sweep(emit_all=upgrade)
            # Records a merchant put back in flight (a cancel, a reissue) get their
            # provider's answer now rather than one sync later.
            report.refresh_started(len(engine.back_in_flight & state.in_flight.keys()))
            yield from engine.refresh(only=engine.back_in_flight)
        elif state.sweep_at is None:
            # A first full sync (or one resumed from its own STATE) has just read the
            # whole list: that is the first sweep.
            engine.first_sweep_done()
        # The partition's last STATE carries what its refreshes found (the cadence may have
        # let the last chunks go unwritten).
        host.checkpoint(force=True)
        if rule is not None and rule.publishes is not None:
            host.signals.publish(
                account, AccountSignals(engine.last_status, frozenset(engine.entered))
            )
    finally:
        host.capturing = False
        host.live_capture = None
    if engine.counts:
        logger.info("%s: change capture %s", where, engine.counts)
