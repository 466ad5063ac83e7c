"""RateBudget: one client-side request budget per tap, shared by every request and thread.

MindzPay limits requests per access token and reports the window on every response
(``X-RateLimit-Limit``, ``X-RateLimit-Remaining``, ``X-RateLimit-Reset`` = seconds until the
window resets); a 429 carries ``Retry-After``. The budget mirrors that window: a request may
start while the window has room for it (requests still in flight count against the room);
when the room is used up every caller waits for the reset instead of running into 429s, and a
``Retry-After`` pauses every caller, not just the one that got the 429.

Every header that drives a wait is read by ``retry.header_wait``: seconds or an epoch, at most
``retry.MAX_WAIT_SECONDS``, unusable values ignored; the first such problem of each header is
logged once per run, as one warning line.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from tap_mindzpay.endpoints import (
    HEADER_LIMIT,
    HEADER_REMAINING,
    HEADER_RESET,
    HEADER_RETRY_AFTER,
)
from tap_mindzpay.http.retry import HeaderWait, header_seconds, header_wait

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

#: Waiting past the announced reset by this much absorbs rounding of the header to seconds.
RESET_SLACK_SECONDS = 0.05
LOGGER = logging.getLogger("tap-mindzpay.ratebudget")


class RateBudget:
    """Thread-safe pacing from the API's rate-limit headers.

    Use ``acquire()`` before sending a request and ``observe(headers)`` (always, also after a
    failure, with ``None`` if no response came) when it finishes. ``pause(seconds)`` applies a
    ``Retry-After`` to every caller.

    Args:
        clock: Monotonic clock in seconds (injectable for tests).
        sleep: Sleep function (injectable for tests).
        logger: Where an unusable or capped wait header is warned about.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        logger: logging.Logger = LOGGER,
    ) -> None:
        """Create an empty budget: unknown limits until the first response is observed."""
        self._clock = clock
        self._sleep = sleep
        self._logger = logger
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self._remaining: float | None = None
        self._reset_at = 0.0
        self._paused_until = 0.0
        self._in_flight = 0
        self.waited_seconds = 0.0
        self.limit: float | None = None

    def _wait_needed(self, now: float) -> float:
        if now < self._paused_until:
            return self._paused_until - now
        if self._remaining is not None and self._remaining - self._in_flight <= 0:
            if now < self._reset_at:
                return self._reset_at - now
            # The window has reset: its new size is unknown until the next response.
            self._remaining = None
        return 0.0

    def acquire(self) -> None:
        """Block until one more request fits in the budget, then reserve it."""
        while True:
            with self._lock:
                wait = self._wait_needed(self._clock())
                if wait <= 0:
                    self._in_flight += 1
                    return
                self.waited_seconds += wait
            self._sleep(wait)

    def observe(self, headers: Mapping[str, str] | None) -> None:
        """Release one reservation and learn the window from a response's headers.

        Args:
            headers: The response headers, or ``None`` when the request failed without one.
        """
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            if headers is None:
                return
            remaining = header_seconds(headers, HEADER_REMAINING)
            reset = self._bounded(header_wait(headers, HEADER_RESET), HEADER_RESET)
            limit = header_seconds(headers, HEADER_LIMIT)
            if limit is not None:
                self.limit = limit
            if remaining is None:
                return
            now = self._clock()
            reset_at = now + (reset or 0.0) + RESET_SLACK_SECONDS
            if self._remaining is None or reset_at > self._reset_at + 1.0:
                # First figure, or a new window: take it as it is.
                self._remaining = remaining
                self._reset_at = reset_at
            else:
                # Responses of one window may arrive out of order: the smallest is the truth.
                self._remaining = min(self._remaining, remaining)
                # Every estimate is at or after the true reset (headers round up): the earliest
                # is still safe and does not idle the rest of the window.
                self._reset_at = min(self._reset_at, reset_at)

    def retry_after(self, headers: Mapping[str, str]) -> float | None:
        """The bounded ``Retry-After`` of a response (warned about once if unusable)."""
        wait = header_wait(headers, HEADER_RETRY_AFTER)
        with self._lock:
            return self._bounded(wait, HEADER_RETRY_AFTER)

    def _bounded(self, wait: HeaderWait, name: str) -> float | None:
        """The wait's seconds; its problem logged once per header (caller holds the lock)."""
        if wait.problem is not None and name not in self._warned:
            self._warned.add(name)
            self._logger.warning(
                "MindzPay sent %s (further such values are handled alike, silently)",
                wait.problem,
            )
        return wait.seconds

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` (a ``Retry-After``)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))
