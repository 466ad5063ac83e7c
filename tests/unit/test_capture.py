"""Unit tests of the change-capture state: id sets, validation, upgrade, sweep timing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tap_mindzpay.capture.engine import Engine, later
from tap_mindzpay.capture.state import (
    CaptureState,
    CaptureStateError,
    IdSet,
    decode_ids,
    encode_ids,
)

NOW = datetime(2026, 11, 24, 12, tzinfo=timezone.utc)


def test_id_set_round_trips_through_its_compact_encoding():
    ids = {1, 2, 3, 9, 64, 65, 100_000, 2_000_001}
    encoded = encode_ids(IdSet(ids))
    assert set(decode_ids(encoded)) == ids
    assert encode_ids(ids) == encoded


def test_id_set_add_discard_contains_and_len():
    ids = IdSet([5, 8])
    ids.add(1_000)
    ids.discard(8)
    ids.discard(10**9)
    assert list(ids) == [5, 1_000]
    assert 5 in ids
    assert 8 not in ids
    assert -1 not in ids
    assert len(ids) == 2


def test_encoding_of_100k_dense_ids_is_small():
    assert len(encode_ids(IdSet(range(1, 100_001)))) < 2_000


def test_state_without_capture_is_upgraded_to_empty():
    state = CaptureState.read({"replication_key_value": 10}, "stream invoices, account a")
    assert state.known is None
    assert state.sweep_due(24, NOW)


def test_written_state_reads_back_equal():
    state = CaptureState({7: (1, "2026-11-01T09:00:00-03:00")}, "2026-11-01T10:00:00-03:00")
    state.sweep_at = NOW.isoformat()
    state.known = IdSet([1, 7])
    partition: dict = {}
    state.write(partition)
    again = CaptureState.read(partition, "x")
    assert again.in_flight == state.in_flight
    assert list(again.known or []) == [1, 7]
    assert not again.sweep_due(24, NOW + timedelta(hours=23))
    assert again.sweep_due(24, NOW + timedelta(hours=24))
    assert again.sweep_due(0, NOW)


@pytest.mark.parametrize(
    "capture",
    [
        {"version": 2},
        "not a dict",
        {"version": 1, "in_flight": {"x": [1, None]}},
        {"version": 1, "in_flight": {}, "sweep": {"hwm": "yesterday"}},
        {"version": 1, "in_flight": {}, "known": "%%%"},
    ],
)
def test_bad_capture_state_fails_with_the_stream_and_account_named(capture):
    with pytest.raises(CaptureStateError, match="stream invoices, account acc_1"):
        CaptureState.read({"capture": capture}, "stream invoices, account acc_1")


def test_later_compares_instants_across_offsets():
    assert later("2026-11-01T10:00:00-03:00", "2026-11-01T12:00:00+00:00") == (
        "2026-11-01T10:00:00-03:00"
    )
    assert later(None, "2026-11-01T10:00:00-03:00") == "2026-11-01T10:00:00-03:00"


def _engine(listed: list[dict], *, sweep_follows: bool) -> Engine:
    state = CaptureState(
        sweep_hwm="2026-11-01T00:00:00-03:00", sweep_at="2026-11-01T03:00:00+00:00"
    )
    state.known = IdSet()
    return Engine(
        state=state,
        in_flight_rule=None,
        fetch=lambda _id: None,
        page_all=lambda: iter(listed),
        checkpoint=lambda: None,
        sweep_follows=sweep_follows,
    )


def test_sweep_skips_exactly_the_records_this_run_handed_out_unchanged():
    stamp = "2026-11-01T10:00:00-03:00"  # past the sweep's mark: every record is swept
    sent = [{"id": i, "status": 2, "amount": "10.00", "updated_at": stamp} for i in (1, 2, 3)]
    listed = [
        dict(reversed(list(sent[0].items()))),  # same content, other key order: unchanged
        {**sent[1], "amount": "10.01"},  # an edit not seen by status or updated_at: changed
        {"id": 4, "status": 2, "amount": "5.00", "updated_at": stamp},  # never handed out
        sent[2],
    ]
    engine = _engine(listed, sweep_follows=True)
    for record in sent:
        engine.observe_new(dict(record))
    swept = [r["id"] for r in engine.sweep(emit_all=False)]
    assert swept == [2, 4]
    assert engine.counts == {"already_sent": 2, "swept": 2}
    # Without a sweep to follow, nothing is remembered and nothing skipped.
    engine = _engine(listed, sweep_follows=False)
    for record in sent:
        engine.observe_new(dict(record))
    assert engine.sent == {}
    assert [r["id"] for r in engine.sweep(emit_all=False)] == [1, 2, 4, 3]
