"""Unit tests of the STATE cadence and the API's clock."""

from __future__ import annotations

from datetime import datetime, timezone

from tap_mindzpay.http.servertime import ServerClock
from tap_mindzpay.run.cadence import MIN_RECORDS, StateCadence


def test_small_state_is_due_every_500_records():
    cadence = StateCadence()
    cadence.sized("invoices", "acc_1", 1_000)
    assert not cadence.offer(MIN_RECORDS - 1)
    assert cadence.offer(1)
    cadence.written()
    assert not cadence.offer(MIN_RECORDS - 1)


def test_large_state_waits_for_half_its_bytes_in_records():
    cadence = StateCadence()
    cadence.sized("invoices", "acc_1", 800_000)
    cadence.sized("payments", "acc_1", 200_000)  # every partition's section counts
    assert not cadence.offer(499_999)
    assert cadence.offer(1)


def test_server_clock_follows_the_date_header_and_ignores_garbage():
    clock = ServerClock()
    before = datetime.now(timezone.utc)
    assert clock.now() >= before  # the machine's clock until a Date arrives
    clock.observe({"Date": "Sun, 01 Nov 2026 13:00:00 GMT"})
    clock.observe({"Date": "yesterday"})
    clock.observe(None)
    assert clock.now() == datetime(2026, 11, 1, 13, tzinfo=timezone.utc)
