"""The fast record path (issue 5): a RECORD line written straight from the record.

The SDK writes each record in steps that, for most runs of this tap, change nothing: it pops
deselected properties (a walk over every property of every record), conforms types (level
``NONE`` here: ``MindzPayStream.post_process`` conforms flat records itself), passes the record
through each stream map (the SDK's identity map), builds a ``RecordMessage`` and its dict, and
hands that to the writer. ``identity_record_path`` says when all those steps are provably the
identity for a stream:

* no property of the stream is deselected in the catalog (its selection mask is all true);
* the stream's only map is the SDK's default ``SameRecordTransform``, under the stream's own
  name, with flattening off (no ``stream_maps``, no ``__alias__``, no filter, no projection);
* type conformance is ``NONE`` (a flat schema and ``fast_conformance`` on).

Then ``RecordWriter.write_record`` encodes the dict ``RecordMessage.to_dict`` would build
(``type``, ``stream``, ``record``, ``version`` when set, ``time_extracted``) with the SDK's own
msgspec encoder, so the line is the SDK's line, byte for byte apart from the extraction time.
Anything else (stream maps, deselected properties, flattening, another writer) takes the SDK's
path. ``tests/test_fastpath_equivalence.py`` runs both and compares them.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from singer_sdk.contrib.msgspec import MsgSpecWriter, encoder, serialize_jsonl
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib.messages import StateMessage
from typing_extensions import override

if TYPE_CHECKING:
    from datetime import datetime

    from singer_sdk.singerlib.encoding.simple import Message
    from singer_sdk.streams import Stream

_NEWLINE = b"\n"


class RecordWriter(MsgSpecWriter):
    """The SDK's msgspec writer, plus ``write_record`` for the fast record path.

    Every other message (SCHEMA, STATE, RECORDs of the SDK's path) goes through
    ``MsgSpecWriter.write_message`` unchanged, and each line is written and flushed at once, as
    the SDK does, so the order of lines and what a target has seen at any STATE are the SDK's.
    """

    def __init__(self) -> None:
        """Create the writer with its reusable encoding buffer."""
        super().__init__()
        self._line = bytearray(512)
        self._messages: dict[tuple[str, int | None], dict[str, Any]] = {}

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
        """Write one RECORD message: the line of ``RecordMessage(...)`` with these fields."""
        message = self._messages.get((stream, version))
        if message is None:
            # One dict per stream and version, its record and time replaced on each call (the
            # encoder is done with it before the next): no dict built per record.
            message = {"type": "RECORD", "stream": stream, "record": None}
            if version is not None:
                message["version"] = version
            message["time_extracted"] = None
            self._messages[stream, version] = message
        message["record"] = record
        message["time_extracted"] = time_extracted
        line = self._line
        encoder.encode_into(message, line)
        line.extend(_NEWLINE)
        sys.stdout.buffer.write(line)
        sys.stdout.flush()


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
