"""When to try a request again: exponential backoff with jitter, at least ``Retry-After``.

Shared by the request path (``requester``) and the token endpoint (``auth``); the connection
check reads ``Retry-After`` here too, and the rate budget its numeric headers.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from tap_mindzpay.endpoints import HEADER_RETRY_AFTER

if TYPE_CHECKING:
    from collections.abc import Mapping

BACKOFF_BASE_SECONDS = 0.5
#: A Retry-After beyond this is treated as this (a sync should not sleep for hours).
RETRY_AFTER_CAP_SECONDS = 300.0


def header_seconds(headers: Mapping[str, str], name: str) -> float | None:
    """A header holding a number of seconds (or any count), if present and not negative."""
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number >= 0 else None


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds (the delta-seconds form), if present and sane."""
    return header_seconds(headers, HEADER_RETRY_AFTER)


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
