"""RecordWriter: the SDK's msgspec writer, plus RECORD lines written straight from the record.

The fast record path (``fastpath``) hands it records whose SDK steps are the identity; it
encodes the line ``RecordMessage.to_dict`` would build with the SDK's own encoder.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from singer_sdk.contrib.msgspec import MsgSpecWriter, encoder, serialize_jsonl
from singer_sdk.helpers._state import StateWriter
from singer_sdk.singerlib.messages import StateMessage
from typing_extensions import override

if TYPE_CHECKING:
    from datetime import datetime

    from singer_sdk.helpers.types import TapState
    from singer_sdk.singerlib.encoding.simple import Message

#: Bytes one write to a pipe delivers whole (POSIX ``PIPE_BUF`` on Linux).
PIPE_BUF = 4096


class RecordWriter(MsgSpecWriter):
    """The SDK's msgspec writer, plus ``write_record`` for the fast record path.

    Every other message (SCHEMA, STATE, RECORDs of the SDK's path) goes through
    ``MsgSpecWriter.write_message`` unchanged, written and flushed at once as the SDK does.
    Fast-path RECORD lines are gathered and written in whole lines, at most ``PIPE_BUF`` bytes
    per write (one write to a pipe of that size is atomic: a killed tap never leaves half a
    line), and always before any other message and before the stream waits for the API
    (``flush_records``). So the order of lines and what a target has seen at any STATE are the
    SDK's; a tap killed with SIGKILL loses at most lines after the last STATE, which a run
    resumed from that STATE reads again. One write per few records instead of one per record
    also spares the threads that fetch pages ahead a GIL hand-over at every line.
    """

    def __init__(self) -> None:
        """Create the writer with its line buffer."""
        super().__init__()
        self._pending = bytearray()
        self._prefixes: dict[str, bytes] = {}
        self._suffix = b""
        self._suffix_of: tuple[int | None, datetime | None] = (None, None)

    @override
    def serialize_message(self, message: Message) -> bytearray:
        # ``StateMessage.to_dict`` is ``dataclasses.asdict``, a deep copy of the whole state
        # (the in-flight set of every partition) for every STATE; the state is plain JSON
        # data, so encoding it directly gives the same line.
        if type(message) is StateMessage and message.value is not None:
            return serialize_jsonl({"type": "STATE", "value": message.value})
        return super().serialize_message(message)

    def write_record(
        self,
        stream: str,
        record: dict[str, Any],
        version: int | None,
        time_extracted: datetime,
    ) -> None:
        """Write one RECORD message: the line of ``RecordMessage(...)`` with these fields.

        The line is the SDK's encoding of ``{"type", "stream", "record", "version",
        "time_extracted"}`` in that order: the parts around the record are encoded once per
        stream and per extraction time, and the record is encoded straight onto the pending
        lines.
        """
        prefix = self._prefixes.get(stream)
        if prefix is None:
            prefix = b'{"type":"RECORD","stream":' + encoder.encode(stream) + b',"record":'
            self._prefixes[stream] = prefix
        if self._suffix_of[1] is not time_extracted or self._suffix_of[0] != version:
            self._suffix_of = (version, time_extracted)
            tail = b',"time_extracted":' + encoder.encode(time_extracted) + b"}\n"
            self._suffix = tail if version is None else b',"version":%d%s' % (version, tail)
        pending = self._pending
        start = len(pending)
        pending += prefix
        encoder.encode_into(record, pending, -1)
        pending += self._suffix
        if len(pending) > PIPE_BUF:
            self._spill(start)

    def _spill(self, start: int) -> None:
        """Write the whole lines before ``start``; then the last line too if it is that long."""
        pending = self._pending
        if start:
            with memoryview(pending) as lines:
                sys.stdout.buffer.write(lines[:start])
            sys.stdout.flush()
            del pending[:start]
        if len(pending) > PIPE_BUF:
            self.flush_records()

    def flush_records(self) -> None:
        """Write the gathered RECORD lines now (one write of whole lines)."""
        if self._pending:
            sys.stdout.buffer.write(self._pending)
            sys.stdout.flush()
            self._pending.clear()

    @override
    def write_message(self, message: Message) -> None:
        self.flush_records()
        super().write_message(message)

    def write_line(self, line: bytes) -> None:
        """Write one encoded message line now, after the gathered RECORD lines."""
        self.flush_records()
        sys.stdout.buffer.write(line)
        sys.stdout.flush()


class EncodedStateWriter(StateWriter):
    """The SDK's STATE writer (a STATE only when the state changed), without its deep copies.

    The SDK compares each state with a deep copy of the last one written and deep-copies the
    state after each write: with a capture section per partition and a STATE at the end of each
    partition, that costs more than the partitions of an hourly sync with nothing new (60% of
    its CPU at 20 accounts). Here the state is encoded once, to the line ``RecordWriter`` would
    write, and the last line written is what it is compared with.
    """

    def __init__(self, message_writer: RecordWriter) -> None:
        """Nothing written yet."""
        super().__init__(message_writer)
        self._writer = message_writer
        self._last: bytes | None = None

    @override
    def write_state(self, state: TapState) -> None:
        line = bytes(serialize_jsonl({"type": "STATE", "value": state}))
        if line != self._last:
            self._writer.write_line(line)
            self._last = line
