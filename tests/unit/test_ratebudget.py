"""RateBudget: waits for the window reset instead of running into 429s; Retry-After pauses all."""

from __future__ import annotations

import threading

import pytest

from tap_mindzpay.ratebudget import RESET_SLACK_SECONDS, RateBudget


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
