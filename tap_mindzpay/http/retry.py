"""When to try a request again, and how long a header may make the tap wait.

Exponential backoff with jitter, at least ``Retry-After``; shared by the request path
(``requester``) and the token endpoint (``auth``); the connection check reads ``Retry-After``
here too, and the rate budget its numeric headers.

A header that drives a sleep (``X-RateLimit-Reset``, ``Retry-After``) is read by
``header_wait``: as delta seconds, as an HTTP date, or as a Unix epoch (a number beyond a day
that lies within a day of the response's ``Date`` or of the machine's clock: many APIs send
the reset moment rather than the seconds until it; it counts from the clock it is near).
Whatever it says, the tap waits at most ``MAX_WAIT_SECONDS``; a value that is not a finite
number of seconds at or above zero (``inf``, ``nan``, ``-5``, text) is ignored. Either way
the caller gets a one-line ``problem`` to warn about.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from tap_mindzpay.endpoints import HEADER_RETRY_AFTER

if TYPE_CHECKING:
    from collections.abc import Mapping

BACKOFF_BASE_SECONDS = 0.5
#: A Retry-After beyond this is treated as this (a sync should not sleep for hours).
RETRY_AFTER_CAP_SECONDS = 300.0
#: The longest wait any one header can impose. Rate-limit windows of real APIs are a minute
#: to an hour; a quarter of an hour keeps a scheduled run (and the queue behind it) moving,
#: and a window still closed after it earns a 429, which the retry policy then handles.
MAX_WAIT_SECONDS = 900.0
#: No delta-seconds value of a rate-limit header is this large; a number beyond it that lies
#: within this distance of the server's time is an epoch.
EPOCH_THRESHOLD_SECONDS = 86_400.0


@dataclass(frozen=True)
class HeaderWait:
    """How long a header asks the tap to wait, bounded.

    Attributes:
        seconds: The wait in seconds (at most ``MAX_WAIT_SECONDS``), or ``None`` when the
            header is absent or unusable.
        problem: Why the value was capped or ignored (one line for a warning), else ``None``.
    """

    seconds: float | None
    problem: str | None = None


def header_seconds(headers: Mapping[str, str], name: str) -> float | None:
    """A header holding a count (``X-RateLimit-Remaining``), if a finite number >= 0."""
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def server_epoch(headers: Mapping[str, str]) -> float:
    """The response's ``Date`` as a Unix time, or the machine's clock without a readable one."""
    text = headers.get("Date")
    if text:
        try:
            return parsedate_to_datetime(text).timestamp()
        except (TypeError, ValueError):
            pass
    return time.time()


def header_wait(headers: Mapping[str, str], name: str) -> HeaderWait:
    """The bounded wait a header asks for (see the module docstring)."""
    raw = headers.get(name)
    if raw is None:
        return HeaderWait(None)
    shown = raw.strip()[:40]
    try:
        value = float(raw)
    except ValueError:
        delta = _http_date_delta(raw, headers)
        if delta is None:
            return HeaderWait(None, f"{name} {shown!r} is not a number of seconds; ignored")
        value = delta
    if not math.isfinite(value) or value < 0:
        return HeaderWait(None, f"{name} {shown!r} is not a wait in seconds; ignored")
    if value > EPOCH_THRESHOLD_SECONDS:
        for now in (server_epoch(headers), time.time()):
            if abs(value - now) <= EPOCH_THRESHOLD_SECONDS:
                value = max(0.0, value - now)  # a moment, not a duration
                break
    if value > MAX_WAIT_SECONDS:
        problem = (
            f"{name} {shown!r} asks for a wait of {value:,.0f} s; waiting at most "
            f"{MAX_WAIT_SECONDS:.0f} s"
        )
        return HeaderWait(MAX_WAIT_SECONDS, problem)
    return HeaderWait(value)


def _http_date_delta(raw: str, headers: Mapping[str, str]) -> float | None:
    """Seconds until an HTTP date (RFC 9110 allows it in ``Retry-After``), else ``None``."""
    try:
        moment = parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, moment - server_epoch(headers))


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds, bounded (``header_wait``), if present and usable."""
    return header_wait(headers, HEADER_RETRY_AFTER).seconds


def backoff_seconds(attempt: int, retry_after: float | None = None, *, cap: float) -> float:
    """Wait before retry ``attempt`` (1-based): doubling up to ``cap``, jittered; or Retry-After.

    The wait is drawn from the upper half of the doubled interval, and is never shorter than
    ``Retry-After`` (itself capped at ``RETRY_AFTER_CAP_SECONDS``).
    """
    ceiling = min(cap, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
    wait = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography
    if retry_after is not None:
        wait = max(wait, min(retry_after, RETRY_AFTER_CAP_SECONDS))
    return wait
