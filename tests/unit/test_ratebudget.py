"""RateBudget: waits for the window reset instead of running into 429s; Retry-After pauses all."""

from __future__ import annotations

import logging
import threading
from email.utils import parsedate_to_datetime

import pytest

from tap_mindzpay.http.ratebudget import RESET_SLACK_SECONDS, RateBudget
from tap_mindzpay.http.retry import MAX_WAIT_SECONDS, HeaderWait, header_wait, retry_after_seconds


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def headers(remaining: int, reset: int, limit: int = 10) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset),
    }


def test_unknown_budget_does_not_wait():
    fake = FakeTime()
    budget = RateBudget(clock=fake.clock, sleep=fake.sleep)
    for _ in range(5):
        budget.acquire()
        budget.observe(None)
    assert fake.sleeps == []


def test_exhausted_window_waits_until_reset_and_never_overdraws():
    fake = FakeTime()
    budget = RateBudget(clock=fake.clock, sleep=fake.sleep)
    window_end = fake.now + 30
    sent_in_window = 0
    for remaining in range(9, -1, -1):  # the server counts down 9..0 in a 30 s window
        budget.acquire()
        assert fake.now < window_end
        sent_in_window += 1
        budget.observe(headers(remaining, int(window_end - fake.now)))
    budget.acquire()  # the 11th request must wait for the reset
    assert sent_in_window == 10
    assert fake.now >= window_end
    assert fake.sleeps == [pytest.approx(30 + RESET_SLACK_SECONDS)]
    assert budget.limit == 10


def test_in_flight_requests_count_against_the_remaining_room():
    fake = FakeTime()
    budget = RateBudget(clock=fake.clock, sleep=fake.sleep)
    budget.acquire()
    budget.observe(headers(remaining=2, reset=60))
    budget.acquire()
    budget.acquire()  # two in flight, room for two: both may go
    assert fake.sleeps == []
    budget.acquire()  # a third would overdraw: wait for the reset
    assert fake.sleeps == [pytest.approx(60 + RESET_SLACK_SECONDS)]


def test_out_of_order_responses_keep_the_smallest_remaining():
    fake = FakeTime()
    budget = RateBudget(clock=fake.clock, sleep=fake.sleep)
    budget.acquire()
    budget.acquire()
    budget.observe(headers(remaining=0, reset=20))
    budget.observe(headers(remaining=1, reset=20))  # older answer arriving late
    budget.acquire()
    assert fake.sleeps == [pytest.approx(20 + RESET_SLACK_SECONDS)]


def test_retry_after_pauses_every_caller():
    fake = FakeTime()
    budget = RateBudget(clock=fake.clock, sleep=fake.sleep)
    budget.pause(7)
    budget.acquire()
    budget.observe(None)
    budget.acquire()
    assert fake.sleeps == [7]


def test_concurrent_callers_never_exceed_the_window():
    budget = RateBudget()
    budget.acquire()
    budget.observe(headers(remaining=5, reset=3600))
    started: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        budget.acquire()
        with lock:
            started.append(1)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(0.3)
    assert len(started) == 5  # three callers wait for the reset an hour away


# -- bounded waits: whatever a header says, the tap waits a bounded time -------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30", 30.0),  # delta seconds, the contract's form
        ("0", 0.0),
        (str(MAX_WAIT_SECONDS + 1), MAX_WAIT_SECONDS),  # a long delta: capped
        ("1e300", MAX_WAIT_SECONDS),  # far beyond any epoch: capped, not an epoch
    ],
)
def test_header_wait_reads_delta_seconds_capped(value, seconds):
    assert header_wait({"X-RateLimit-Reset": value}, "X-RateLimit-Reset").seconds == seconds


def test_header_wait_reads_an_epoch_near_the_servers_date_as_a_moment():
    date = "Sun, 06 Dec 2026 02:00:00 GMT"
    epoch = parsedate_to_datetime(date).timestamp()
    wait = header_wait(
        {"Date": date, "X-RateLimit-Reset": str(int(epoch) + 42)}, "X-RateLimit-Reset"
    )
    assert wait == HeaderWait(42.0)
    # An epoch already past is no wait at all.
    past = header_wait(
        {"Date": date, "X-RateLimit-Reset": str(int(epoch) - 5)}, "X-RateLimit-Reset"
    )
    assert past == HeaderWait(0.0)


def test_header_wait_reads_an_http_date_retry_after():
    date = "Sun, 06 Dec 2026 02:00:00 GMT"
    wait = header_wait(
        {"Date": date, "Retry-After": "Sun, 06 Dec 2026 02:00:20 GMT"}, "Retry-After"
    )
    assert wait == HeaderWait(20.0)


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "-5", "soon", ""])
def test_header_wait_ignores_values_that_are_no_wait_with_a_reason(value):
    wait = header_wait({"Retry-After": value}, "Retry-After")
    assert wait.seconds is None
    assert wait.problem is not None
    assert wait.problem.startswith("Retry-After ")
    assert wait.problem.endswith("; ignored")


def test_retry_after_seconds_is_bounded_for_the_token_endpoint_too():
    assert retry_after_seconds({"Retry-After": "inf"}) is None
    assert retry_after_seconds({"Retry-After": "86400000"}) == MAX_WAIT_SECONDS


def test_an_epoch_reset_waits_until_that_moment_not_for_decades():
    fake = FakeTime()
    budget = RateBudget(clock=fake.clock, sleep=fake.sleep)
    date = "Sun, 06 Dec 2026 02:00:00 GMT"
    epoch = int(parsedate_to_datetime(date).timestamp())
    budget.acquire()
    budget.observe(
        {"Date": date, "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(epoch + 7)}
    )
    budget.acquire()
    assert fake.sleeps == [pytest.approx(7 + RESET_SLACK_SECONDS)]


def test_an_infinite_reset_is_ignored_with_one_warning(caplog):
    fake = FakeTime()
    budget = RateBudget(clock=fake.clock, sleep=fake.sleep)
    with caplog.at_level(logging.WARNING, logger="tap-mindzpay.ratebudget"):
        for _ in range(3):
            budget.acquire()
            budget.observe({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "inf"})
    assert max(fake.sleeps, default=0.0) <= RESET_SLACK_SECONDS
    lines = [r.getMessage() for r in caplog.records]
    expected = (
        "MindzPay sent X-RateLimit-Reset 'inf' is not a wait in seconds; ignored "
        "(further such values are handled alike, silently)"
    )
    assert lines == [expected]


def test_a_huge_retry_after_pauses_at_most_the_cap(caplog):
    fake = FakeTime()
    budget = RateBudget(clock=fake.clock, sleep=fake.sleep)
    with caplog.at_level(logging.WARNING, logger="tap-mindzpay.ratebudget"):
        wait = budget.retry_after({"Retry-After": "99999999999"})
    assert wait == MAX_WAIT_SECONDS
    assert len(caplog.records) == 1
    assert "waiting at most 900 s" in caplog.records[0].getMessage()
