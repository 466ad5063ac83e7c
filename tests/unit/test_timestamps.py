"""The one timestamp parser: a trailing Z is UTC on every supported Python, offsets are kept."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tap_mindzpay.capture.state import CaptureState
from tap_mindzpay.timestamps import parse_timestamp


def test_a_trailing_z_is_utc() -> None:
    assert parse_timestamp("2026-11-24T19:34:13Z") == datetime(
        2026, 11, 24, 19, 34, 13, tzinfo=timezone.utc
    )
    assert parse_timestamp("2026-11-24T19:34:13.250Z").microsecond == 250_000


def test_an_offset_is_kept_and_no_offset_means_utc() -> None:
    brazil = parse_timestamp("2026-11-01T09:41:00-03:00")
    assert brazil.utcoffset() == timedelta(hours=-3)
    assert parse_timestamp("2026-11-01T09:41:00") == datetime(
        2026, 11, 1, 9, 41, tzinfo=timezone.utc
    )


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z", "Z"])
def test_what_is_not_a_timestamp_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_timestamp(text)


def test_capture_state_with_z_timestamps_reads_and_compares() -> None:
    # The capture state's sweep marks may come back from a state store written with Z.
    partition = {
        "capture": {
            "version": 1,
            "in_flight": {},
            "sweep": {"hwm": "2026-11-01T10:00:00Z", "at": "2026-11-24T19:34:13Z"},
            "known": None,
        }
    }
    state = CaptureState.read(partition, "stream invoices, account acc_x")
    now = datetime(2026, 11, 25, 19, 34, 13, tzinfo=timezone.utc)
    assert state.sweep_due(24, now)
    assert not state.sweep_due(25, now)
