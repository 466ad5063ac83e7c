"""DerivedStream: a stream written while its parent syncs (from change capture).

Such a stream is never synced by itself: its parent's change capture reports each status
transition it sees, and the stream's ``writer`` turns it into a record (``derive``) written in
the same STATE window as the parent record it belongs to. The parent finds it among its
children (the SDK's ``child_streams``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from typing_extensions import override

from tap_mindzpay.client import MindzPayStream

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from singer_sdk.helpers.types import Context

    from tap_mindzpay.capture.partition import Transitions
    from tap_mindzpay.run.progress import PartitionReport


class DerivedStream(MindzPayStream):
    """A stream written while its parent syncs (from change capture), never synced by itself."""

    derived = True
    _schema_sent = False

    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        return iter(())

    @staticmethod
    def derive(
        record: Mapping[str, Any], previous: object, via: str, context: Context | None
    ) -> dict[str, Any] | None:
        """This stream's record for a status transition of a parent record, or ``None``."""
        del record, previous, via, context
        return None

    def transitions(self, context: Context | None, report: PartitionReport) -> Transitions | None:
        """A writer of this stream's records for the transitions in a source partition.

        ``None`` when the stream is not selected. Each record is counted in the source
        partition's ``report`` just before its RECORD is written (SCHEMA first, once), so a
        stopped run's summary matches what was written.
        """
        if not self.selected:
            return None

        def write(record: Mapping[str, Any], previous: object, via: str) -> None:
            change = self.derive(record, previous, via, context)
            if change is None:
                return
            if not self._schema_sent:
                self._write_schema_message()
                self._schema_sent = True
            report.status_changes += 1
            self._write_record_message(change)

        return write
