"""The Singer SDK's standard tap tests, run against a sandbox process (every stream included).

They run the fast record path (``fastpath``), record limit included; the last test checks that
the limit stops it where it stops the SDK's own loop.

The SDK builds the test class at import time (it instantiates the tap to list the streams), so the
sandbox has to be up before that: the shared frozen sandbox is started here on import and stopped
when the test process exits.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from helpers.sandbox import shared_sandbox
from helpers.streams import MINDZPAY_STREAMS
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_mindzpay.client import MindzPayStream
from tap_mindzpay.streams import STREAM_TYPES
from tap_mindzpay.tap import TapMindzPay

if TYPE_CHECKING:
    from collections.abc import Generator

    import pytest

SANDBOX = shared_sandbox()

TestTapMindzPay = get_tap_test_class(
    TapMindzPay,
    config=SANDBOX.tap_config(),
    parse_env_config=False,
    # Enough records per stream to cross a page boundary and reach every account's children.
    suite_config=SuiteConfig(max_records_limit=250),
)
#: Attributes no record of the standard suite's sync (a first sync, 250 records a stream) has a
#: value of, so its attribute tests have nothing to check: a row is marked deleted by a later
#: sync's sweep (tests/e2e/test_sweep_resend.py), a first listing has no previous status, and
#: none of the sample's payments or contacts is linked to a subscription or unsubscribed.
NEVER_SET_IN_THE_SAMPLE = (
    "._sdc_deleted_at",
    "invoice_status_changes.from_status",
    "payments.subscription_id",
    "emails.unsubscribed_at",
)


def _own_values(name: str) -> None:
    """Attribute test ``name``, each case on its own values, without the never-set attribute.

    The SDK runs every case of an attribute test on one template object whose attribute values
    are a cached property: the first case's values stand in for every later case's (a case run
    after one of another attribute passes or fails on that attribute's values, so by order).
    Each case here starts without them.
    """
    run = getattr(TestTapMindzPay, name)

    def own(config: Any, resource: Any, runner: Any, stream: Any, attribute_name: str) -> None:
        vars(run.__self__).pop("non_null_attribute_values", None)
        run(config, resource, runner, stream, attribute_name)

    setattr(TestTapMindzPay, name, staticmethod(own))
    params = TestTapMindzPay.params[name]
    params[:] = [p for p in params if not p.id.endswith(NEVER_SET_IN_THE_SAMPLE)]


for _name in [name for name in TestTapMindzPay.params if name.startswith("test_tap_stream_attr")]:
    _own_values(_name)


def _dry_run(monkeypatch: pytest.MonkeyPatch, limit: int, *, fast: bool) -> tuple[list[str], str]:
    """A dry run of every stream at ``limit`` records, in process: (fast-loop streams, stdout)."""
    monkeypatch.setattr(MindzPayStream, "fast_records", fast)
    taken: list[str] = []
    original = MindzPayStream._sync_records_fast  # noqa: SLF001 - the path under test

    def spy(self: MindzPayStream, *args: Any) -> Generator[dict[str, Any], Any, Any]:
        taken.append(self.name)
        return (yield from original(self, *args))

    monkeypatch.setattr(MindzPayStream, "_sync_records_fast", spy)
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    tap = TapMindzPay(config=SANDBOX.tap_config(), parse_env_config=False)
    with contextlib.redirect_stdout(out):
        assert tap.run_sync_dry_run(dry_run_record_limit=limit)
    out.flush()
    out.seek(0)
    return taken, out.read()


def _records(stdout: str) -> list[str]:
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return [
        f"{m['stream']} {json.dumps(m['record'], sort_keys=True)}"
        for m in lines
        if m["type"] == "RECORD"
    ]


def test_the_record_limit_stops_the_fast_record_path_where_it_stops_the_sdk_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The standard suite above runs with a record limit (max_records_limit); so does --test.
    limit = 5
    taken, fast_out = _dry_run(monkeypatch, limit, fast=True)
    assert set(taken) >= set(MINDZPAY_STREAMS)
    fast_records = _records(fast_out)
    # Each stream's partitions (invoice_status_changes is written from the invoices' sync):
    # keyed by the context its parent hands down (an account, a course, a campaign, ...).
    context_keys = {
        t.name: tuple(t.parent_stream_type.child_context)
        for t in STREAM_TYPES
        if t.parent_stream_type is not None and issubclass(t.parent_stream_type, MindzPayStream)
    }
    per_partition = Counter(
        (stream, tuple(record.get(key) for key in context_keys.get(stream, ())))
        for stream, record in (
            (line.split(" ", 1)[0], json.loads(line.split(" ", 1)[1])) for line in fast_records
        )
        if stream != "invoice_status_changes"
    )
    assert max(per_partition.values()) == limit  # the limit was reached, and never passed
    monkeypatch.undo()
    taken_sdk, sdk_out = _dry_run(monkeypatch, limit, fast=False)
    assert taken_sdk == []
    assert fast_records == _records(sdk_out)
