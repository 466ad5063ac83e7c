"""AdaptiveLimit: slow start, additive increase, one halving per window, ceilings, waiting."""

from __future__ import annotations

import threading

import pytest

from tap_mindzpay.http.concurrency import (
    INITIAL_LIMIT,
    LATENCY_SLACK_SECONDS,
    LATENCY_TOLERANCE,
    PROBE_ROUNDS,
    AdaptiveLimit,
    Slot,
)

OK = 200
LATENCY = 0.1


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limit_of(ceiling: int = 32, **options: object) -> tuple[AdaptiveLimit, FakeClock]:
    clock = FakeClock()
    return AdaptiveLimit(ceiling, clock=clock, **options), clock  # type: ignore[arg-type]


def take(limit: AdaptiveLimit, count: int) -> list[Slot]:
    return [limit.acquire() for _ in range(count)]


def round_trip(
    limit: AdaptiveLimit,
    clock: FakeClock,
    *,
    latency: float = LATENCY,
    status: int = OK,
    announced: float | None = None,
) -> None:
    """A full window: as many requests as the limit allows, answered after ``latency``."""
    slots = take(limit, limit.limit)
    clock.now += latency
    for slot in slots:
        limit.release(slot, status, announced)


def test_slow_start_doubles_the_limit_each_round_up_to_max_concurrency() -> None:
    limit, clock = limit_of(32)
    seen = [limit.limit]
    for _ in range(4):
        round_trip(limit, clock)
        seen.append(limit.limit)
    assert seen == [8, 16, 32, 32, 32]  # from INITIAL_LIMIT
    assert limit.peak == 32
    assert limit.decreases == 0


def test_a_429_halves_the_limit_once_for_every_request_of_its_window() -> None:
    limit, clock = limit_of(32, initial=16)
    round_trip(limit, clock, status=429)  # sixteen 429s from one window
    assert limit.limit == 8
    assert limit.decreases == 1
    slots = take(limit, 8)
    limit.release(slots[0], 503)  # a request sent after the halving: a new signal
    assert limit.limit == 4
    for slot in slots[1:]:
        limit.release(slot, 429)  # sent under 8, answered after the cut to 4: counted already
    assert (limit.limit, limit.decreases) == (4, 2)


def test_after_a_decrease_the_limit_grows_by_one_per_round() -> None:
    limit, clock = limit_of(32, initial=16)
    round_trip(limit, clock, status=429)
    seen = [limit.limit]
    for _ in range(4):
        round_trip(limit, clock)
        seen.append(limit.limit)
    assert seen == [8, 9, 10, 11, 12]


def test_next_to_the_limit_last_refused_the_limit_grows_once_per_probe_rounds() -> None:
    limit, clock = limit_of(32, initial=12)
    round_trip(limit, clock, status=429)  # refused at 12
    rounds = 0
    while limit.limit < 11:
        round_trip(limit, clock)
        rounds += 1
    assert rounds == 11 - 6  # one step a round up to one below the refused level
    for step in (12, 13):
        for _ in range(PROBE_ROUNDS):
            assert limit.limit < step
            round_trip(limit, clock)
        assert limit.limit == step
    round_trip(limit, clock)  # past the level refused: one step a round again
    assert limit.limit == 14


def test_answers_to_requests_sent_before_a_decrease_do_not_grow_the_limit() -> None:
    limit, clock = limit_of(32, initial=8)
    slots = take(limit, 8)
    clock.now += LATENCY
    limit.release(slots[0], 429)
    for slot in slots[1:]:
        limit.release(slot, OK)
    assert limit.limit == 4  # halved once


def test_a_round_whose_fastest_answer_queued_halves_the_limit() -> None:
    limit, clock = limit_of(8)
    round_trip(limit, clock)  # 4 -> 8
    round_trip(limit, clock)  # at the ceiling
    assert limit.limit == 8
    slow = LATENCY * LATENCY_TOLERANCE + LATENCY_SLACK_SECONDS + 0.01
    round_trip(limit, clock, latency=slow)
    assert (limit.limit, limit.decreases) == (4, 1)


def test_latency_within_the_tolerance_is_not_congestion() -> None:
    limit, clock = limit_of(8)
    round_trip(limit, clock)
    tolerated = LATENCY * LATENCY_TOLERANCE + LATENCY_SLACK_SECONDS - 0.01
    for _ in range(5):
        round_trip(limit, clock, latency=tolerated)
    assert (limit.limit, limit.decreases) == (8, 0)


def test_one_slow_answer_in_a_round_is_not_congestion() -> None:
    limit, clock = limit_of(8, initial=8)
    round_trip(limit, clock)
    slots = take(limit, 8)
    clock.now += LATENCY
    for slot in slots[:-1]:
        limit.release(slot, OK)
    clock.now += 10 * LATENCY  # a list page of a big account, say
    limit.release(slots[-1], OK)
    assert limit.decreases == 0


def test_the_limit_never_exceeds_the_rate_limit_the_api_announces() -> None:
    limit, clock = limit_of(32, initial=16)
    round_trip(limit, clock, announced=6)
    assert limit.limit == 6
    for _ in range(10):
        round_trip(limit, clock, announced=6)
        assert limit.limit <= 6
    assert limit.limit == 6


def test_the_limit_never_goes_below_one() -> None:
    limit, clock = limit_of(32)
    for _ in range(6):
        round_trip(limit, clock, status=429)
    assert limit.limit == 1
    assert limit.decreases == 6


def test_a_limit_not_in_use_does_not_grow() -> None:
    limit, clock = limit_of(32)
    for _ in range(50):  # one request at a time: the main thread paging alone
        slot = limit.acquire()
        clock.now += LATENCY
        limit.release(slot, OK)
    assert limit.limit == INITIAL_LIMIT


def test_a_failure_without_an_answer_frees_the_slot_and_teaches_nothing() -> None:
    limit, _ = limit_of(32)
    slots = take(limit, INITIAL_LIMIT)
    for slot in slots:
        limit.release(slot, None)
    assert (limit.limit, limit.in_flight, limit.decreases) == (INITIAL_LIMIT, 0, 0)


def test_a_fixed_limit_stays_at_max_concurrency_whatever_the_answers() -> None:
    limit, clock = limit_of(12, adaptive=False)
    assert limit.limit == 12
    round_trip(limit, clock, status=429)
    round_trip(limit, clock, latency=10.0)
    assert (limit.limit, limit.decreases) == (12, 0)
    round_trip(limit, clock, announced=5)
    assert limit.limit == 5


def test_a_full_limit_waits_polling_until_a_slot_is_given_back() -> None:
    limit, _ = limit_of(32, initial=1)
    held = limit.acquire()
    polls: list[int] = []

    def poll() -> None:
        polls.append(limit.in_flight)
        limit.release(held, OK)  # another thread's answer comes in

    limit.acquire(poll)
    assert polls == [1]
    assert limit.in_flight == 1


def test_a_stop_signal_ends_the_wait_for_a_slot() -> None:
    limit, _ = limit_of(32, initial=1)
    limit.acquire()

    def stop() -> None:
        raise SystemExit(143)

    with pytest.raises(SystemExit):
        limit.acquire(stop)
    assert limit.in_flight == 1
    assert limit.waiting == 0  # out of the line: the next one asking is not held behind it


def test_slots_go_in_the_order_they_were_asked_for() -> None:
    limit, _ = limit_of(32, initial=1, poll_seconds=0.01)
    held = limit.acquire()
    got: list[str] = []
    taken = threading.Semaphore(0)

    def ask(name: str) -> None:
        slot = limit.acquire()
        got.append(name)
        taken.release()
        limit.release(slot, None)

    threads = []
    for count, name in enumerate("abcde", start=1):
        threads.append(threading.Thread(target=ask, args=(name,)))
        threads[-1].start()
        while limit.waiting < count:  # in line before the next one asks
            threading.Event().wait(0.001)
    limit.release(held, None)
    for _ in "abcde":
        taken.acquire()
    for thread in threads:
        thread.join()
    assert got == list("abcde")
