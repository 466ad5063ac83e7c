"""Every private singer-sdk name the tap touches, with the signature it was written against.

The tap builds on the SDK's public API; where it cannot, the private name is listed here, and
``tests/test_sdk_private.py`` fails, naming it, when the installed SDK lacks it or changes its
signature. It also fails when a module of the tap touches a private SDK name missing here.

Overridden (two):

* ``Stream._sync_records``: the fast record path (``fastpath``), measured by ``make bench``
  (figure 6) and kept only while it buys at least 20% of throughput;
* ``Stream._increment_stream_state``: records of the change-capture phases are older than the
  bookmark and must not move it; a platform stream (``platform``) reads newest first and moves
  its ``updated_at`` bookmark once, when that read is complete.

The rest are called or read: the fast record path repeats the SDK's loop step for step
(``fastpath``), a derived stream writes its records from another stream's sync
(``client.DerivedStream``), a checkpoint writes STATE at once (``client``), and the settings
are validated on the SDK's own config dict (``cli``). The tap's STATE writer subclasses the
SDK's, from a private module (``recordwriter.EncodedStateWriter``).

The state keys the SDK owns and the tap reads or writes by hand (``STATE_KEYS``) are listed
too, and the SDK source the fast record path repeats (``COPIED_SOURCE``) is pinned by a hash:
an SDK release that changes that loop fails a test before the copy goes stale.
"""

from __future__ import annotations

from typing import Final

#: Keys of the SDK's state the tap reads or writes by hand (``singer_sdk.helpers._state``).
BOOKMARKS = "bookmarks"
PARTITIONS = "partitions"
CONTEXT = "context"
REPLICATION_KEY = "replication_key"
REPLICATION_KEY_VALUE = "replication_key_value"
PROGRESS_MARKERS = "progress_markers"
STATE_KEYS: Final = (
    BOOKMARKS,
    PARTITIONS,
    CONTEXT,
    REPLICATION_KEY,
    REPLICATION_KEY_VALUE,
    PROGRESS_MARKERS,
)

#: SDK source the fast record path (``fastpath``) repeats step for step: the SHA-256 of
#: ``inspect.getsource`` of each, as written against singer-sdk 0.54.
COPIED_SOURCE: Final[dict[str, str]] = {
    "singer_sdk.streams.core:Stream._sync_records": (
        "8928dc7f50e9bf57cc98734b30e3953b0e19007f85fe020a0c80ccdbcf5d329f"
    ),
    # The integer bookmark moved in place (``FastRecordSync._sync_partition_fast``).
    "singer_sdk.helpers._state:increment_state": (
        "a312fcce304394bc52c5e0b72bb588a36d36ba9836c6f9055e95c8008bf63bf5"
    ),
}

#: Private methods of ``singer_sdk.streams.core.Stream`` the tap overrides, and their signatures.
OVERRIDDEN: Final[dict[str, str]] = {
    "_sync_records": (
        "(self, context: 'types.Context | None' = None, *, write_messages: 'bool' = True) "
        "-> 't.Generator[dict, t.Any, t.Any]'"
    ),
    "_increment_stream_state": (
        "(self, latest_record: 'types.Record', *, context: 'types.Context | None' = None) -> 'None'"
    ),
}

#: Private methods of ``singer_sdk.streams.core.Stream`` the tap calls, and their signatures.
CALLED: Final[dict[str, str]] = {
    "_check_max_record_limit": "(self, current_record_index: 'int') -> 'None'",
    "_finalize_state": "(self, state: 'dict | None' = None) -> 'None'",
    "_get_state_partition_context": (
        "(self, context: 'types.Context | None') -> 'types.Context | None'"
    ),
    "_process_record": (
        "(self, record: 'types.Record', child_context: 'types.Context | None' = None, "
        "partition_context: 'types.Context | None' = None) -> 'None'"
    ),
    "_write_record_message": "(self, record: 'types.Record') -> 'None'",
    "_write_schema_message": "(self) -> 'None'",
    "_write_starting_replication_value": "(self, context: 'types.Context | None') -> 'None'",
    "_write_state_message": "(self) -> 'None'",
}

#: Private attributes the tap reads: ``Stream`` instance attributes, and ``Tap._config`` (the
#: dict behind ``Tap.config``, whose defaults the settings validation fills in).
STREAM_ATTRIBUTES: Final = ("_tap", "_stream_version", "_input_schema")
TAP_ATTRIBUTES: Final = ("_config",)

#: Private names imported from SDK modules: module -> name, and the class's signature.
IMPORTED: Final[dict[tuple[str, str], str]] = {
    ("singer_sdk.plugin_base", "_ConfigInput"): (
        "(config: 'dict[str, t.Any]' = <factory>, parse_env: 'bool' = False) -> None"
    ),
    # From a private module: the tap's STATE writer (``recordwriter.EncodedStateWriter``) is
    # the SDK's, comparing encoded lines instead of deep copies.
    (
        "singer_sdk.helpers._state",
        "StateWriter",
    ): "(message_writer: 'GenericSingerWriter') -> 'None'",
}
