"""The fast record path: a RECORD line written straight from the record.

The SDK writes each record in steps that, for most runs of this tap, change nothing: it pops
deselected properties (a walk over every property of every record), conforms types (level
``NONE`` here: ``conform`` shapes flat records itself), passes the record through each stream
map (the SDK's identity map), builds a ``RecordMessage`` and its dict, and hands that to the
writer. ``identity_record_path`` says when all those steps are provably the identity:

* no property of the stream is deselected in the catalog (its selection mask is all true);
* the stream's only map is the SDK's default ``SameRecordTransform``, under the stream's own
  name, with flattening off (no ``stream_maps``, no ``__alias__``, no filter, no projection);
* type conformance is ``NONE`` (a flat schema and ``fast_conformance`` on).

Then ``RecordWriter.write_record`` encodes the dict ``RecordMessage.to_dict`` would build
(``type``, ``stream``, ``record``, ``version`` when set, ``time_extracted``) with the SDK's own
msgspec encoder, so the line is the SDK's line, byte for byte apart from the extraction time
(taken once per API response instead of once per record). ``FastRecordSync`` is the SDK's
``_sync_records`` loop, step for step (a dry run's record limit stops it where it stops the
SDK's). Anything else (stream maps, deselected properties, flattening, another writer) takes
the SDK's path. ``tests/test_fastpath_equivalence.py`` runs both and
compares them; ``make bench`` (figure 6) measures what the path buys, and it stays only while
that is at least 20% of throughput.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from singer_sdk.exceptions import InvalidStreamSortException
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib.catalog import REPLICATION_INCREMENTAL
from singer_sdk.streams import RESTStream, Stream
from typing_extensions import override

from tap_mindzpay.conform import catalog_conformance
from tap_mindzpay.recordwriter import RecordWriter
from tap_mindzpay.run.cadence import CHUNK
from tap_mindzpay.sdk_private import CONTEXT, REPLICATION_KEY, REPLICATION_KEY_VALUE

if TYPE_CHECKING:
    from collections.abc import Generator

    from singer_sdk import metrics
    from singer_sdk.helpers.types import Context, TapState

    from tap_mindzpay.capture.state import CaptureState
    from tap_mindzpay.services import RunServices


class PartitionCounts(Protocol):
    """What the loop reads in a partition's progress report (``progress``)."""

    requests: int


class LiveCapture(Protocol):
    """What a STATE written mid-phase needs of change capture (``capture.partition``)."""

    #: The capture state of the partition and the partition it is written into, mid-phase.
    live: tuple[CaptureState, dict[str, Any]] | None


class FastRecordSync(RESTStream[int]):
    """How a stream writes: records on the fast record path, STATE at checkpoints and stops.

    The base of ``client.MindzPayStream``. Its ``_sync_records`` calls ``_sync_records_fast``
    when ``_record_writer`` gives a writer (this stream's records may take the fast path) and
    the SDK's loop otherwise. STATE is written when the run's cadence says it is due
    (``offer_state``), at a checkpoint of change capture, and before a signal stops the run;
    a STATE written mid-phase carries the capture state that matches its bookmark.
    """

    #: Performance lever: RECORD messages written straight from the record, and an integer
    #: bookmark moved in place, when the SDK's record steps are provably the identity for the
    #: stream (``identity_record_path``). Set to False for the plain SDK path.
    fast_records: ClassVar[bool] = True
    #: True while change capture yields refreshed or swept records (they move no bookmark).
    capturing = False
    _partition_report: PartitionCounts | None = None
    _record_writer_checked = False
    _fast_writer: RecordWriter | None = None

    services: RunServices
    #: STATE at least this often, so that a killed run loses little work.
    STATE_MSG_FREQUENCY = 500
    #: The change capture of the partition syncing now (its ``live`` state goes into STATE).
    capture: LiveCapture | None = None

    @property
    def fast_conforming(self) -> bool:
        """Whether the shaper stands in for the SDK's type conformance (``conform``)."""
        return self.TYPE_CONFORMANCE_LEVEL is TypeConformanceLevel.NONE

    def _conform_to_catalog_schema(self) -> None:
        """The SDK's conformance back on if the input catalog has a schema of its own."""
        self.TYPE_CONFORMANCE_LEVEL = catalog_conformance(
            self.TYPE_CONFORMANCE_LEVEL, self._input_schema, self.schema
        )

    def offer_state(self, records: int) -> None:
        """``records`` more written: STATE when the run's cadence says it is due."""
        if self.services.state_cadence.offer(records):
            self._write_state_now()

    def checkpoint(self, *, force: bool) -> None:
        """Emit STATE with the live capture state (now, or when the cadence says it is due)."""
        if force or self.services.stop.signal is not None:
            self._write_state_now()
        else:
            self.offer_state(CHUNK)

    def stop_if_asked(self) -> None:
        """Stop the run here, after a STATE safe to resume from, if a signal asked for it."""
        self.services.stop.stop_if_asked(self._write_state_now, self.logger)

    def _write_state_now(self) -> None:
        self.state_manager.is_flushed = False
        self._write_state_message()

    @property
    @override
    def tap_state(self) -> TapState:
        # STATE written mid-phase must carry the capture state that matches the bookmark it
        # carries, or a killed run would forget records; the cadence keeps that rare.
        live = self.capture.live if self.capture is not None else None
        if live is not None:
            size = live[0].write(live[1])
            account = str(live[1].get(CONTEXT, {}).get("account_key"))
            self.services.state_cadence.sized(self.name, account, size)
        self.services.state_cadence.written()
        return super().tap_state

    def _sync_records_fast(
        self,
        context: Context | None,
        writer: RecordWriter,
    ) -> Generator[dict[str, Any], Any, Any]:
        """``Stream._sync_records`` (singer-sdk 0.54) for a stream on the fast record path.

        The same steps in the same order (record limit, post_process, partition keys and child
        syncs, RECORD, bookmark, a STATE every ``STATE_MSG_FREQUENCY`` records, the final one:
        ``write_sync_end_state``), but the RECORD goes straight to ``writer`` and an integer
        bookmark of a sorted stream moves in place.
        """
        record_counter = self.get_record_counter()
        timer = self.get_sync_timer()
        record_index = 0
        context_list = [context] if context is not None else self.partitions
        with record_counter, timer:
            for context_element in context_list or [{}]:
                record_counter.with_context(context_element)
                timer.with_context(context_element)
                current_context = context_element or None
                state_partition_context = self._get_state_partition_context(current_context)
                self._write_starting_replication_value(current_context)
                record_index = yield from self._sync_partition_fast(
                    (current_context, state_partition_context), writer, record_counter, record_index
                )
                if current_context == state_partition_context:
                    self._finalize_state(self.get_context_state(current_context))
        if not context:
            self._finalize_state(self.stream_state)
        self.write_sync_end_state()

    def write_sync_end_state(self) -> None:
        """The SDK's STATE at the end of a sync (of one partition, for a child stream)."""
        self._write_state_message()

    def _sync_partition_fast(  # noqa: C901, PLR0912, PLR0915 - the SDK's steps, inlined
        self,
        contexts: tuple[Context | None, Context | None],
        writer: RecordWriter,
        record_counter: metrics.Counter,
        record_index: int,
    ) -> Generator[dict[str, Any], Any, int]:
        """One partition (its context and state partition context) of ``_sync_records_fast``.

        Returns the stream's record index after the partition.
        """
        context, state_partition_context = contexts
        child_context = None if context is None else copy.copy(context)
        partition_items = tuple((state_partition_context or {}).items())
        has_children = bool(self.child_streams)
        selected = self.selected
        key, bookmark = self._in_place_bookmark(context)
        frequency = self.STATE_MSG_FREQUENCY
        state_manager = self.state_manager
        name = self.name
        report = self._partition_report
        version = self._stream_version
        responses, extracted = -1, datetime.now(timezone.utc)
        counted = 0  # records not yet added to the SDK's record counter (added per STATE)
        try:
            for idx, record_result in enumerate(self.get_records(context)):
                self._check_max_record_limit(current_record_index=record_index)
                if isinstance(record_result, tuple):  # pragma: no cover - SDK-deprecated form
                    record_result, child_context = record_result  # noqa: PLW2901
                record = self.post_process(record_result, context)
                if record is None:
                    continue
                if has_children:
                    self._process_parent_record(
                        record,
                        (child_context, state_partition_context),
                        (record_index, idx),
                        context,
                    )
                else:
                    for name_, value_ in partition_items:
                        if name_ not in record:
                            record[name_] = value_
                if selected:
                    capturing = self.capturing
                    if report is None or report.requests != responses:
                        # One extraction time per API response (a list page, a refresh).
                        responses = -1 if report is None else report.requests
                        extracted = datetime.now(timezone.utc)
                    writer.write_record(name, record, version, extracted)
                    state_manager.is_flushed = False
                    if not capturing:
                        value = record[key] if key is not None else None
                        old = bookmark.get(REPLICATION_KEY_VALUE)
                        if type(value) is int and (
                            old is None or (type(old) is int and value >= old)
                        ):
                            bookmark[REPLICATION_KEY] = key
                            bookmark[REPLICATION_KEY_VALUE] = value
                        else:
                            # Not an integer, or out of order: the SDK's own rules (its warnings,
                            # conversions and sort error).
                            self._increment_stream_state(record, context=context)
                    counted += 1
                    if (record_index + 1) % frequency == 0:
                        self.offer_state(frequency)
                        record_counter.increment(counted)
                        counted = 0
                    yield record
                record_index += 1
        finally:
            writer.flush_records()
            if counted:
                record_counter.increment(counted)
        return record_index

    def _in_place_bookmark(self, context: Context | None) -> tuple[str | None, dict[str, Any]]:
        """The replication key and partition state whose bookmark the fast loop may set.

        Only for the SDK's sorted, checked, unpartitioned INCREMENTAL case, where its
        ``increment_state`` sets ``replication_key_value`` to a new value not below the old;
        ``(None, {})`` otherwise (then every record goes through the SDK's rules).
        """
        if (
            self.replication_key is not None
            and self.replication_method == REPLICATION_INCREMENTAL
            and self.is_sorted
            and self.check_sorted
            and self.state_partitioning_keys is None
        ):
            return self.replication_key, self.get_context_state(context)
        return None, {}

    def _process_parent_record(
        self,
        record: dict[str, Any],
        contexts: tuple[Context | None, Context | None],
        indexes: tuple[int, int],
        context: Context | None,
    ) -> None:
        """``_process_record`` (child syncs) as the SDK's loop calls it."""
        child_context, state_partition_context = contexts
        try:
            self._process_record(
                record,
                child_context=child_context,
                partition_context=state_partition_context,
            )
        except InvalidStreamSortException as ex:  # pragma: no cover
            self.state_manager.log_sort_error(
                ex=ex,
                record_count=indexes[0] + 1,
                partition_record_count=indexes[1] + 1,
                current_context=context,
            )
            raise

    def _record_writer(self) -> RecordWriter | None:
        """The tap's ``RecordWriter`` when this stream's records may take the fast path."""
        if not self._record_writer_checked:
            writer = self._tap.message_writer
            self._fast_writer = (
                writer
                if self.fast_records
                and isinstance(writer, RecordWriter)
                and identity_record_path(self)
                else None
            )
            self._record_writer_checked = True
        return self._fast_writer


def identity_record_path(stream: Stream) -> bool:
    """True if the SDK's record steps leave every record of ``stream`` unchanged (see above)."""
    if stream.TYPE_CONFORMANCE_LEVEL is not TypeConformanceLevel.NONE:
        return False
    if not all(stream.mask.values()):
        return False
    maps = stream.stream_maps
    if len(maps) != 1:
        return False
    only = maps[0]
    return (
        type(only) is SameRecordTransform
        and only.stream_alias == stream.name
        and not only.flattening_enabled
    )
