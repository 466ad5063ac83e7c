"""AdaptiveLimit: how many requests the run keeps in flight, learnt from the API's answers.

One limit per run (``services``), shared by every stream and thread: a request takes a slot
right before it is sent and gives it back with its answer (or its failure), so at most ``limit``
requests are in flight across the list pages fetched ahead, the child lists' first pages and the
refresh workers. The slot is never held while a request waits for a token, for the rate budget
or before a retry.

How the limit moves is TCP's congestion control (AIMD), with the congestion signals an API
gives:

* **slow start**: the limit starts at ``INITIAL_LIMIT`` and grows by one per answer, so it
  doubles every round of answers, up to the first congestion signal;
* **additive increase**: after that, one more per ``limit`` answers (one per round);
* **multiplicative decrease**: halve on a 429 or a 503 (the API says it is overloaded), or when
  a round's fastest answer took more than ``LATENCY_TOLERANCE`` times the fastest of the last
  ``BASELINE_SAMPLES`` answers plus ``LATENCY_SLACK_SECONDS`` (requests queue at the API before
  it refuses them: TCP Vegas's signal). Only answers to requests sent after the last decrease
  count, so a burst of 429s from one window halves the limit once;
* **probing**: one step below the limit the API last refused (a 429 or a 503), and from there
  to one above it, the limit grows only once per ``PROBE_ROUNDS`` rounds: a platform that caps
  the requests it serves at once refuses at the same level every time, and going there once a
  round would cost a refusal (and the ``Retry-After`` pause of every thread) every few rounds;
* it grows only while it is used (half of it in flight in the round), never above the setting
  ``max_concurrency`` nor the ``X-RateLimit-Limit`` the API announces, never below one.

Why this and not a gradient limiter (Netflix concurrency-limits' Gradient2, which moves the
limit by the ratio of a long to a short latency average every sample): halving on a refusal
is the one reaction an API that limits concurrent requests rewards, and a round's *fastest*
answer against the recent fastest is robust to the mix of a run's requests (a list page of 100
records takes longer than a Refresh); averages are not. The tolerance is wide on purpose: latency is
only the early signal (a 429 or a 503 is the sure one), and a needless halving costs half the
throughput for as many rounds as the limit had lost.

With ``adaptive`` off the limit stays at its ceiling: ``max_concurrency`` requests in flight
across the run, capped by the announced rate limit.

Evidence for the default (on, from 8), figure (AC) (``benchmarks/figures_concurrency.py``), 100 ms a
request, a full sync with 500 Refreshes: against a platform serving 8 requests at once, 12.3 s and 6
429s where the fixed limit of 32 takes 93.5 s and meets 669 (each one pauses every thread for its
``Retry-After``); against a platform without such a limit, 3.1 s against 3.0 s: the slow start's two
round trips to 32, once per run (make bench of 2026-12-07 03:06; from 4, the same figures were 13.4
s and 9 429s, and 3.6 s against 3.3 s).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from functools import partial
from http import HTTPStatus
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

#: The limit a run starts with: about what a browser (6) or a requests pool (10) keeps open to
#: one host, so what a web API serves; two round trips of slow start to 32, where 4 took three.
#: A platform that serves fewer answers 429 once and the limit halves.
INITIAL_LIMIT = 8
#: A round whose fastest answer is slower than this times the recent fastest is congested.
LATENCY_TOLERANCE = 2.0
#: Added to the tolerated latency: on a near API (a few milliseconds) scheduling jitter alone
#: doubles a latency without anything queueing at the API.
LATENCY_SLACK_SECONDS = 0.02
#: Answers whose fastest is the latency of an API that does not queue: a few rounds' worth, so
#: it follows a change of the requests' mix (or of the network) within seconds.
BASELINE_SAMPLES = 256
#: Rounds per step of growth next to the limit the API last refused.
PROBE_ROUNDS = 8
#: How often a request waiting for a slot looks for a stop signal.
POLL_SECONDS = 0.1
#: Answers that say the API is overloaded.
CONGESTED_STATUSES = frozenset({HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE})


def _nothing() -> None:
    """No stop to look for."""


@dataclass(frozen=True, slots=True)
class Slot:
    """One request in flight: its place in the order of sending and when it was sent."""

    seq: int
    sent: float


class AdaptiveLimit:
    """Thread-safe limit of requests in flight; see the module docstring.

    Args:
        ceiling: The most in flight (setting ``max_concurrency``).
        adaptive: Learn the limit (``False``: stay at the ceiling).
        initial: The limit before the first answer.
        clock: Monotonic clock in seconds (injectable for tests).
        poll_seconds: How often a waiting request calls its ``poll``.
    """

    def __init__(
        self,
        ceiling: int,
        *,
        adaptive: bool = True,
        initial: int = INITIAL_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        """A limit of ``initial`` (the ceiling if not ``adaptive``), nothing in flight."""
        self._most = max(1, ceiling)
        self._ceiling = self._most
        self._adaptive = adaptive
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._cond = threading.Condition()
        #: Requests in flight may not exceed it.
        self.limit = min(max(1, initial), self._most) if adaptive else self._most
        #: The highest limit of the run, and how many times it was cut.
        self.peak = self.limit
        self.decreases = 0
        self._slow_start = True
        self._in_flight = 0
        #: The most in flight since the round began: whether the limit is in use.
        self._busiest = 0
        self._next_seq = 0
        #: Answers to requests sent before this one were sent under a limit already cut.
        self._recovery_seq = 0
        self._grown = 0
        #: The limit the API last refused (a 429 or a 503), until the limit grows past it.
        self._refused_at: int | None = None
        self._round_left = self.limit
        self._round_fastest = float("inf")
        self._latencies: deque[float] = deque(maxlen=BASELINE_SAMPLES)
        #: The requests waiting for a slot, by ticket, in the order they asked.
        self._queue: deque[int] = deque()
        self._tickets = 0

    @property
    def in_flight(self) -> int:
        """Requests holding a slot now."""
        with self._cond:
            return self._in_flight

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot now."""
        with self._cond:
            return len(self._queue)

    def acquire(self, poll: Callable[[], None] = _nothing) -> Slot:
        """Wait for room under the limit and take a slot; ``poll`` is called while waiting.

        Slots go in the order they were asked for: the requests fetched ahead are planned in
        the order the run needs them, so the first needed is sent first.

        ``poll`` runs every ``poll_seconds`` outside the lock; it stops the wait by raising
        (a stop signal: ``StopControl.check``).
        """
        with self._cond:
            if self._in_flight < self.limit and not self._queue:
                return self._take()
            ticket = self._tickets
            self._tickets += 1
            self._queue.append(ticket)
        try:
            while True:
                poll()
                with self._cond:
                    if self._cond.wait_for(partial(self._turn_of, ticket), self._poll_seconds):
                        self._queue.popleft()
                        self._cond.notify_all()  # the next in line may have room too
                        return self._take()
        except BaseException:
            with self._cond:
                if ticket in self._queue:
                    self._queue.remove(ticket)
                    self._cond.notify_all()
            raise

    def _turn_of(self, ticket: int) -> bool:
        """Whether ``ticket`` is first in line and a slot is free (caller holds the lock)."""
        return self._queue[0] == ticket and self._in_flight < self.limit

    def _take(self) -> Slot:
        """One more in flight (caller holds the lock)."""
        self._in_flight += 1
        self._busiest = max(self._busiest, self._in_flight)
        self._next_seq += 1
        return Slot(self._next_seq, self._clock())

    def release(self, slot: Slot, status: int | None, announced: float | None = None) -> None:
        """Give back ``slot`` and learn from its answer.

        Args:
            slot: What ``acquire`` returned.
            status: The answer's HTTP status; ``None`` if none came (a reset, a timeout: no
                latency to learn from, and not a sign of load by itself).
            announced: ``X-RateLimit-Limit`` as last announced, if it was: a ceiling.
        """
        with self._cond:
            self._in_flight = max(0, self._in_flight - 1)
            if announced is not None and announced >= 1:
                self._ceiling = min(self._most, int(announced))
                self.limit = min(self.limit, self._ceiling)
            if self._adaptive and status is not None:
                if status in CONGESTED_STATUSES:
                    if slot.seq > self._recovery_seq:
                        self._refused_at = self.limit
                        self._decrease()
                elif slot.seq > self._recovery_seq:
                    self._answered(self._clock() - slot.sent)
            self._cond.notify_all()

    def _answered(self, latency: float) -> None:
        """A timely answer of the current window: room to grow, a latency sample."""
        # Grow only a limit in use (half of it in flight this round): an idle one proves nothing.
        if self._busiest * 2 >= self.limit:
            if self._slow_start:
                self._grow()
            else:
                self._grown += 1
                near = self._refused_at is not None and self.limit + 1 >= self._refused_at
                if self._grown >= self.limit * (PROBE_ROUNDS if near else 1):
                    self._grow()
        self._latencies.append(latency)
        self._round_fastest = min(self._round_fastest, latency)
        self._round_left -= 1
        if self._round_left > 0:
            return
        if self._round_fastest > min(self._latencies) * LATENCY_TOLERANCE + LATENCY_SLACK_SECONDS:
            self._decrease()  # even the fastest answer of the round queued at the API
        else:
            self._start_round()

    def _grow(self) -> None:
        self._grown = 0
        self.limit = min(self.limit + 1, self._ceiling)
        self.peak = max(self.peak, self.limit)
        if self._refused_at is not None and self.limit > self._refused_at:
            self._refused_at = None  # past the level refused: the API serves more now

    def _decrease(self) -> None:
        """Halve the limit; answers to what was sent before count for this decrease."""
        self.limit = max(1, self.limit // 2)
        self.decreases += 1
        self._slow_start = False
        self._grown = 0
        self._recovery_seq = self._next_seq
        self._start_round()

    def _start_round(self) -> None:
        self._round_left = self.limit
        self._round_fastest = float("inf")
        self._busiest = self._in_flight
