"""The ``--state`` input checked before any request: a bad state stops the run, never resets it.

A state the tap cannot use (not JSON, not an object, bookmarks of the wrong shape, an id
bookmark that is not an integer, an ``updated_at`` bookmark that is not a timestamp, a
``capture`` section of an unknown version or with garbage in ``in_flight`` or ``statuses``) would
end in a Python traceback or, worse, in a silent full resync.
``StateError`` carries one line naming the problem and where it is, and what to do.

The state shape is documented in ``client`` (partition keys) and ``capture.state`` (the
``capture`` section), whose reader this check runs on every partition. Partition contexts that
match no current account are left alone: an account may have been removed, that is not an error.
"""

from __future__ import annotations

import binascii
import json
import zlib
from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import FatalAPIError

from tap_mindzpay.capture import codec
from tap_mindzpay.capture import state as capture
from tap_mindzpay.sdk_private import (
    BOOKMARKS,
    CONTEXT,
    PARTITIONS,
    PROGRESS_MARKERS,
    REPLICATION_KEY,
    REPLICATION_KEY_VALUE,
)
from tap_mindzpay.timestamps import parse_timestamp

if TYPE_CHECKING:
    from collections.abc import Mapping

#: The replication key to expect when the tap's streams are not given (any).
_ANY_KEY = "\x00any"
#: Names of foreign streams quoted in the message.
SHOWN_NAMES = 5
FIX = (
    "fix or remove it (meltano state edit/clear, or drop --state for a deliberate full sync); "
    "the tap will not guess"
)


class StateError(FatalAPIError):
    """The ``--state`` input cannot be used; the message says where and what to do."""


def parse_state_text(
    text: str, source: str, streams: Mapping[str, str | None] | None = None
) -> dict[str, Any]:
    """The state object in ``text`` (the contents of ``source``); see ``check_state``.

    Raises:
        StateError: ``text`` is empty, not JSON, or not a JSON object.
    """
    if not text.strip():
        msg = f"state {source} is empty, not a JSON object; {FIX}"
        raise StateError(msg)
    try:
        value = json.loads(text)
    except ValueError as exc:
        msg = f"state {source} is not JSON ({exc}); {FIX}"
        raise StateError(msg) from None
    except (RecursionError, MemoryError) as exc:
        msg = f"state {source} is nested or sized beyond any state ({type(exc).__name__}); {FIX}"
        raise StateError(msg) from None
    return require_usable(value, source, streams)


def require_usable(
    state: object, source: str, streams: Mapping[str, str | None] | None = None
) -> dict[str, Any]:
    """``state`` if the tap can resume from it (see ``check_state``).

    Raises:
        StateError: The first problem ``check_state`` found, with where and what to do.
    """
    problems = check_state(state, streams)
    if problems or not isinstance(state, dict):
        msg = f"state {source}: {problems[0]}; {FIX}"
        raise StateError(msg)
    return state


def check_state(state: object, streams: Mapping[str, str | None] | None = None) -> list[str]:
    """Every problem of ``state`` (an already decoded JSON value), one line each.

    ``streams`` (each stream of the tap and its replication key) also refuses a state written
    by another tap: bookmarks for streams this tap does not have, or by another replication
    key. Carried forward, such bookmarks would start a silent full sync that saves them again.
    """
    if not isinstance(state, dict):
        return [f"must be a JSON object with 'bookmarks', not {_kind(state)}"]
    bookmarks = state.get(BOOKMARKS, {})
    if not isinstance(bookmarks, dict):
        return [f"'bookmarks' must be an object of streams, not {_kind(bookmarks)}"]
    if streams is not None and (foreign := _foreign_streams(bookmarks, streams)):
        return [foreign]
    problems: list[str] = []
    for stream, stream_state in bookmarks.items():
        where = f"bookmarks.{stream}"
        if not isinstance(stream_state, dict):
            problems.append(f"{where} must be an object, not {_kind(stream_state)}")
            continue
        key = streams[stream] if streams is not None else _ANY_KEY
        problems += _check_keys(stream_state, where, key) + _check_partition(stream_state, where)
        partitions = stream_state.get(PARTITIONS, [])
        if not isinstance(partitions, list):
            problems.append(f"{where}.partitions must be a list, not {_kind(partitions)}")
            continue
        for index, partition in enumerate(partitions):
            problems += _check_partition_entry(partition, f"{where}.partitions[{index}]", key)
    return problems


def _check_partition_entry(partition: object, spot: str, key: str | None) -> list[str]:
    """One entry of a stream's ``partitions`` list."""
    if not isinstance(partition, dict):
        return [f"{spot} must be an object, not {_kind(partition)}"]
    if not isinstance(partition.get(CONTEXT), dict):
        return [f"{spot}.context must be an object"]
    account = partition[CONTEXT].get("account_key") or partition[CONTEXT]
    spot = f"{spot} (account {account})"
    return _check_keys(partition, spot, key) + _check_partition(partition, spot)


def _foreign_streams(bookmarks: Mapping[str, Any], streams: Mapping[str, str | None]) -> str | None:
    """The problem of bookmarks for streams this tap does not have, if there are any."""
    foreign = [str(name) for name in bookmarks if name not in streams]
    if not foreign:
        return None
    shown = ", ".join(foreign[:SHOWN_NAMES]) + (", ..." if len(foreign) > SHOWN_NAMES else "")
    return (
        f"bookmarks for streams this tap does not have ({shown}); written by another tap? "
        f"This tap's streams are {', '.join(streams)}"
    )


def _check_keys(partition: Mapping[str, Any], where: str, replication_key: str | None) -> list[str]:
    """A bookmark by another replication key than the stream's was written by another tap."""
    key = partition.get(REPLICATION_KEY)
    if key is None or replication_key in (key, _ANY_KEY):
        return []
    own = f"by {replication_key}" if replication_key else "without a bookmark"
    return [
        (
            f"{where}.replication_key is {key!r:.40}, but this tap's stream is synced {own}; "
            "written by another tap?"
        )
    ]


def _check_partition(partition: Mapping[str, Any], where: str) -> list[str]:
    value = partition.get(REPLICATION_KEY_VALUE)
    if value is not None:
        if partition.get(REPLICATION_KEY, "id") == "id" and not (_is_int(value) and value >= 0):
            return [f"{where}.replication_key_value must be an integer id >= 0, not {value!r:.60}"]
        if isinstance(value, (bool, dict, list)):
            return [f"{where}.replication_key_value must be a single value, not {_kind(value)}"]
        if partition.get(REPLICATION_KEY) == "updated_at" and not _is_timestamp(value):
            return [
                f"{where}.replication_key_value must be an ISO 8601 timestamp, not {value!r:.60}"
            ]
    hint = partition.get("offset_hint")
    if hint is not None and not (_is_int(hint) and hint >= 0):
        return [f"{where}.offset_hint must be an integer >= 0, not {hint!r:.60}"]
    markers = partition.get(PROGRESS_MARKERS)
    if markers is not None and not isinstance(markers, dict):
        return [f"{where}.progress_markers must be an object, not {_kind(markers)}"]
    return _check_capture(partition, where)


def _check_capture(partition: Mapping[str, Any], where: str) -> list[str]:
    raw = partition.get(capture.CAPTURE_KEY)
    if raw is None:
        return []
    spot = f"{where}.{capture.CAPTURE_KEY}"
    problem = _capture_shape(raw, spot, statuses=False)
    if problem is None:
        # The status map is decoded once, by the read; only a refusal is looked into.
        try:
            capture.CaptureState.read(partition, where)
        except capture.CaptureStateError as exc:
            problem = _capture_shape(raw, spot, statuses=True)
            problem = problem or f"{spot} is unusable ({exc.__cause__ or exc})"
    return [problem] if problem else []


def _capture_shape(raw: object, spot: str, *, statuses: bool) -> str | None:
    """What ``CaptureState.read`` would refuse, named part by part (the status map too)."""
    if not isinstance(raw, dict):
        return f"{spot} must be an object, not {_kind(raw)}"
    version = raw.get("version")
    if version == 1:
        return _v1_shape(raw, spot)
    if version != capture.VERSION:
        return (
            f"{spot}.version is {version!r:.40}; this tap reads version {capture.VERSION} "
            "(and upgrades 1; state written by another tap version?)"
        )
    encoded = raw.get("statuses")
    if statuses and encoded is not None:
        try:
            codec.StatusMap.decode(encoded)
        except (ValueError, TypeError, binascii.Error, zlib.error, MemoryError) as exc:
            return f"{spot}.statuses is not an encoded status map ({exc or type(exc).__name__})"
    in_flight = raw.get("in_flight")
    if in_flight is not None and not (
        isinstance(in_flight, dict)
        and _is_int(in_flight.get("count"))
        and isinstance(in_flight.get("columns"), str)
    ):
        return f"{spot}.in_flight must be an object of count and columns, not {in_flight!r:.60}"
    return None


def _v1_shape(raw: Mapping[str, Any], spot: str) -> str | None:
    """Version 1 (upgraded on read): ``in_flight`` as id -> [status, updated_at], id sets."""
    in_flight = raw.get("in_flight", {})
    if not isinstance(in_flight, dict):
        return f"{spot}.in_flight must be an object of id -> [status, updated_at]"
    for key, value in in_flight.items():
        if not (
            key.isdigit()
            and isinstance(value, list)
            and len(value) == 2  # noqa: PLR2004 - [status, updated_at]
            and (value[1] is None or isinstance(value[1], str))
        ):
            return f"{spot}.in_flight[{key!r:.30}] must be [status, updated_at], not {value!r:.60}"
    known = raw.get("known")
    if known is not None and not isinstance(known, str):
        return f"{spot}.known must be the encoded id set (a string), not {_kind(known)}"
    statuses = raw.get("statuses")
    if statuses is not None and not (
        isinstance(statuses, list)
        and all(
            isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], str)  # noqa: PLR2004 - [status, ids]
            for pair in statuses
        )
    ):
        return f"{spot}.statuses must be a list of [status, encoded id set], not {statuses!r:.60}"
    encoded = [("known", known)]
    encoded += [(f"statuses[{i}]", pair[1]) for i, pair in enumerate(statuses or [])]
    for name, text in encoded:
        if text:
            try:
                codec.decode_ids(text)
            except (ValueError, binascii.Error, zlib.error, MemoryError) as exc:
                return f"{spot}.{name} is not an encoded id set ({exc or type(exc).__name__})"
    return None


def _is_timestamp(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse_timestamp(value)
    except ValueError:
        return False
    return True


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number"}
    if value is None:
        return "null"
    return names.get(type(value), f"a {type(value).__name__}")
