"""Change capture of one partition: the phases in their order, read through a ``ListReader``.

``PartitionCapture.events`` yields ``(record, phase)``: the new records (paged by id from the
bookmark at the partition's offset hint), then the records in flight that are due refreshed
(``schedule``) and, when due, the sweep of the whole list (``engine``), with a ``CHECKPOINT``
where a STATE is due. The stream writes what it is given and asks capture for nothing: a page
travels one way, from the reader through capture to the stream. A stream whose rule publishes
(payments) leaves what it saw for the account in the run's ``Signals``; a stream whose rule
waits on it (invoices) reads them. Refreshed and swept records (``Phase.CHANGED``) must not
move the id bookmark; a STATE written in the middle of a phase carries the in-flight set that
matches its bookmark (``PartitionCapture.live``).

Partition state shape (per stream and account; the SDK owns the first three keys)::

    {"context": {"account_id": 1, "account_key": "acc_..."},
     "replication_key": "id", "replication_key_value": 1234,
     "offset_hint": 1200,
     "capture": {...}}

``offset_hint``: an offset at or before the first record after the bookmark, checked by ids
before use (``read.paging``): a stale one costs a request or two, never a record; none:
offset 0.
``capture``: the change-capture state (``capture.state``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from functools import partial
from itertools import chain, repeat
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from tap_mindzpay.capture.codec import StatusMap
from tap_mindzpay.capture.engine import UNSEEN, Engine
from tap_mindzpay.capture.schedule import AccountSignals, Schedule, minute_of
from tap_mindzpay.capture.state import CAPTURE_KEY, CaptureState

OFFSET_HINT_KEY = "offset_hint"

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context

    from tap_mindzpay.capture.rules import CaptureSettings
    from tap_mindzpay.read.reader import ListReader
    from tap_mindzpay.run.progress import PartitionReport


class Phase(Enum):
    """What a record ``PartitionCapture`` hands out is to the stream (or what is due)."""

    #: A new record: written, and its id moves the bookmark.
    NEW = "new"
    #: A record a newest-first read passed that did not change since the bookmark: not
    #: written again, but its child lists are read.
    UNCHANGED = "unchanged"
    #: A new record created before ``start_date``: never written, its id still moves the
    #: bookmark (the next run does not list it again).
    BEFORE_START = "before_start"
    #: Refreshed or swept: written, older than the bookmark, so it moves nothing.
    CHANGED = "changed"
    #: No record: a STATE now, carrying ``PartitionCapture.live``.
    CHECKPOINT = "checkpoint"
    #: No record: a STATE if the run's cadence says one is due (a chunk of refreshes done).
    CHECKPOINT_DUE = "checkpoint_due"


#: What ``PartitionCapture.events`` yields: a record (``None`` for a checkpoint) and its phase.
Event = tuple["dict[str, Any] | None", Phase]
#: Called with each page of a list's records before they come out (``read.childpages``).
Plan = Callable[[list[dict[str, Any]]], None]
#: Where status transitions go: ``(record, previous status, via)``.
Transitions = Callable[[Mapping[str, Any], object, str], None]


@runtime_checkable
class Listed(Protocol):
    """A read of the new records that may have listed the whole list (``read.newest``)."""

    @property
    def listing(self) -> list[dict[str, Any]] | None:
        """Once the read is done: every record in ascending id order, or ``None``."""


@runtime_checkable
class TransitionsSource(Protocol):
    """A stream written from its parent's status transitions (``derived.DerivedStream``)."""

    def transitions(self, context: Context | None, report: PartitionReport) -> Transitions | None:
        """A writer of the stream's records for the transitions in a parent's partition."""


def full_table(reader: ListReader, plan: Plan | None = None) -> Iterator[Event]:
    """Every record of a list without change capture (a full table), as new records.

    ``plan``: called with each page's records before they come out (their child lists'
    first pages are fetched ahead).
    """
    for _, records in reader.new_after(None, None):
        if plan is not None:
            plan(records)
        for record in records:
            yield record, Phase.NEW


@dataclass
class PartitionCapture:
    """The change-capture phases of one partition, read through ``reader``.

    Attributes:
        reader: The partition's list and per-record reads.
        partition: The partition's state (the SDK's dict: the bookmark, the offset hint, the
            capture section).
        bookmark: The partition's id bookmark when the sync started (``None``: none).
        settings: What every partition of the stream shares.
        transitions: Where status transitions go (the rule's changes stream, selected).
        new: ``(record, changed)`` when the new records are read another way (newest first,
            ``read.newest``); ``None``: by ``reader.new_after`` from the bookmark at the
            partition's offset hint. A read that listed the whole list (``Listed``) is the
            sweep's list too, where no refresh ran in between.
    """

    reader: ListReader
    partition: dict[str, Any]
    bookmark: object
    settings: CaptureSettings
    transitions: Transitions | None = None
    new: Iterable[tuple[dict[str, Any], bool]] | None = None
    #: The capture state and partition of the phase running now (``None`` between phases):
    #: a STATE written mid-phase writes it into the partition first.
    live: tuple[CaptureState, dict[str, Any]] | None = None
    _forced = False
    _offers = 0

    def events(self) -> Iterator[Event]:
        """New records by id, then the refresh and (when due) the sweep of the partition."""
        settings, partition, where = self.settings, self.partition, self.reader.where
        rule = settings.rule
        had_bookmark = self.bookmark is not None
        upgrade = had_bookmark and CAPTURE_KEY not in partition
        minute = minute_of(settings.clock())
        state = CaptureState.read(partition, where, minute)
        if not had_bookmark and state.statuses is None:
            state.statuses = StatusMap()
        now = datetime.now(timezone.utc)
        # Known before the new records are read: the phases below do not move ``sweep_at``.
        hours = settings.sweep_interval_hours
        sweep = upgrade or (state.sweep_at is not None and state.sweep_due(hours, now))
        account = str((self.reader.context or {}).get("account_key"))
        engine = Engine(
            state=state,
            in_flight_rule=rule.in_flight if rule else None,
            # Without a rule nothing is in flight, so nothing is refreshed: a GET would do.
            fetch=partial(self.reader.refresh, method=rule.method, suffix=rule.path_suffix)
            if rule
            else self.reader.one,
            page_all=self._whole_list,
            checkpoint=self._checkpoint,
            max_concurrency=settings.max_concurrency,
            on_change=self.transitions,
            now=now,
            sweep_follows=sweep,
            schedule=Schedule(
                now=minute,
                cap_minutes=round(hours * 60),
                payments=settings.signals.of(account) if rule and rule.reads_signals else None,
                waits=rule.waits if rule else "",
            ),
            link=rule.link if rule else None,
            warn=settings.logger.warning,
            where=where,
            signal_status=rule.publishes if rule and rule.publishes is not None else UNSEEN,
            confirm=self.reader.one,
            predates_start=settings.predates_start,
        )
        self.live = (state, partition)
        report = self.reader.report
        report.attach_capture(engine.counts)
        try:
            for record, changed in self._new_records():
                if not changed:
                    yield record, Phase.UNCHANGED
                    continue
                if settings.predates_start(record):
                    yield record, Phase.BEFORE_START
                    continue
                engine.observe_new(record)
                yield record, Phase.NEW
            yield None, Phase.CHECKPOINT
            due = engine.due_ids()
            report.refresh_started(len(due))
            yield from self._changed(engine.refresh(only=set(due)))
            if sweep:
                yield from self._changed(engine.sweep(emit_all=upgrade))
                # Records a merchant put back in flight (a cancel, a reissue) get their
                # provider's answer now rather than one sync later.
                report.refresh_started(len(engine.back_in_flight & state.in_flight.keys()))
                yield from self._changed(engine.refresh(only=engine.back_in_flight))
            elif state.sweep_at is None:
                # A first full sync (or one resumed from its own STATE) has just read the
                # whole list: that is the first sweep.
                engine.first_sweep_done()
            # The partition's last STATE carries what its refreshes found (the cadence may
            # have let the last chunks go unwritten).
            yield None, Phase.CHECKPOINT
            if rule is not None and rule.publishes is not None:
                settings.signals.publish(
                    account, AccountSignals(engine.last_status, frozenset(engine.entered))
                )
        except BaseException:
            # Stopped (a signal, an error, the stream closed) mid-phase: every record yielded
            # is written, so the partition keeps the capture state that matches them, for the
            # STATE the stream writes on its way out.
            state.write(partition)
            raise
        finally:
            self.live = None
        if engine.counts:
            settings.logger.info("%s: change capture %s", where, engine.counts)

    def _new_records(self) -> Iterator[tuple[dict[str, Any], bool]]:
        """``(record, changed)``: by id from the bookmark, all changed (or as ``new`` reads)."""
        if self.new is not None:
            return iter(self.new)
        # Pairs made in C, a page at a time: this runs once per record of a full sync. Every
        # record read by id after the bookmark is new (changed).
        pages = self._hinted_pages()
        return chain.from_iterable(zip(page, repeat(True)) for page in pages)  # noqa: FBT003 - a flag

    def _hinted_pages(self) -> Iterator[list[dict[str, Any]]]:
        """The pages after the bookmark; each page's offset is the partition's new hint."""
        after = self.bookmark
        hint = self.partition.get(OFFSET_HINT_KEY)
        pages = self.reader.new_after(
            int(str(after)) if after is not None else None,
            hint if isinstance(hint, int) else None,
        )
        for offset, records in pages:
            if records:
                self.partition[OFFSET_HINT_KEY] = offset
            yield records

    def _whole_list(self) -> Iterator[dict[str, Any]]:
        """Every record of the list for the sweep: the new records' read, if it listed them all.

        Only without a refresh rule: a refresh between that read and the sweep would find a
        record newer than its listing, and an older listing would undo what it found.
        """
        listing = self.new.listing if isinstance(self.new, Listed) else None
        if listing is None or self.settings.rule is not None:
            return self.reader.every()
        return iter(listing)

    def _checkpoint(self, *, force: bool) -> None:
        """The engine's checkpoint: a STATE now (``force``) or offered to the cadence."""
        if force:
            self._forced = True
        else:
            self._offers += 1

    def _changed(self, records: Iterator[dict[str, Any]]) -> Iterator[Event]:
        for record in records:
            yield record, Phase.CHANGED
            yield from self._due()
        yield from self._due()

    def _due(self) -> Iterator[Event]:
        """The checkpoints the engine asked for since the last record handed out."""
        offers, self._offers = self._offers, 0
        for _ in range(offers):
            yield None, Phase.CHECKPOINT_DUE
        if self._forced:
            self._forced = False
            yield None, Phase.CHECKPOINT
