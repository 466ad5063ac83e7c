"""The tap's streams as the tests read them: names, kinds, parents, keys, from the tap itself.

No test writes a list of streams out: a stream added to ``tap_mindzpay.streams.STREAM_TYPES``
reaches every test that loops over streams. The sandbox's own table of what it serves
(``tap_mindzpay.sandbox.world.ALL_STREAMS``) is a second thing, the API's resources;
``tests/test_stream_tables.py`` checks that the two agree.
"""

from __future__ import annotations

from tap_mindzpay.derived import DerivedStream
from tap_mindzpay.platform import PlatformStream
from tap_mindzpay.schemas.school import STREAM_SCHEMAS
from tap_mindzpay.streams import STREAM_TYPES, AccountsStream

#: Every stream the tap declares, in its sync order.
STREAM_NAMES = tuple(t.name for t in STREAM_TYPES)
#: The parent of the MindzPay lists.
ACCOUNTS = AccountsStream.name
#: The MindzPay lists synced per account (by name: invoices, payments, subscriptions).
ACCOUNT_STREAMS = tuple(
    sorted(
        t.name
        for t in STREAM_TYPES
        if t.parent_stream_type is AccountsStream and not issubclass(t, DerivedStream)
    )
)
#: The MindzPay streams: accounts and their lists.
MINDZPAY_STREAMS = (ACCOUNTS, *ACCOUNT_STREAMS)
#: The Mindz platform streams (platform-wide, or nested per parent).
PLATFORM_STREAMS = tuple(t.name for t in STREAM_TYPES if issubclass(t, PlatformStream))
#: The streams the sandbox has truth for: every stream the API lists.
TRUTH_STREAMS = (*MINDZPAY_STREAMS, *PLATFORM_STREAMS)
#: Streams the tap writes from what it observes, never listed by the API.
DERIVED_STREAMS = tuple(t.name for t in STREAM_TYPES if issubclass(t, DerivedStream))
#: Streams whose records in flight the tap refreshes (change capture).
CAPTURE_STREAMS = tuple(t.name for t in STREAM_TYPES if t.capture_rule is not None)
#: The history of invoice status transitions, written while the invoices sync.
[CHANGES_STREAM] = {
    t.capture_rule.changes_stream
    for t in STREAM_TYPES
    if t.capture_rule is not None and t.capture_rule.changes_stream
}
#: The request-stats template of each platform list (the sandbox names them by the same path).
LIST_TEMPLATES = {
    t.name: f"GET {t.path}" for t in STREAM_TYPES if issubclass(t, PlatformStream) and t.path
}
#: The parent of each nested platform stream.
PARENTS = {
    t.name: t.parent_stream_type.name
    for t in STREAM_TYPES
    if issubclass(t, PlatformStream) and t.parent_stream_type is not None
}
#: The primary key of each stream.
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {t.name: tuple(t.primary_keys) for t in STREAM_TYPES}
#: The schema of each stream as the tap declares it (its properties are a table's columns).
__all__ = [
    "ACCOUNTS",
    "ACCOUNT_STREAMS",
    "CAPTURE_STREAMS",
    "CHANGES_STREAM",
    "DERIVED_STREAMS",
    "LIST_TEMPLATES",
    "MINDZPAY_STREAMS",
    "PARENTS",
    "PLATFORM_STREAMS",
    "PRIMARY_KEYS",
    "STREAM_NAMES",
    "STREAM_SCHEMAS",
    "TRUTH_STREAMS",
]
