"""Per-id calls that may be deferred: one record the API cannot answer never blocks a run.

A call for one record (a Refresh, a Get by id) that still fails after the request path's
retries (``max_retries``; say a 500 every time, for one invoice the platform cannot process)
is **deferred**: one warning names the id, the caller leaves that id's state as it was (so the
next run tries it again) and goes on. Several deferrals in a row (``DEFERRALS_IN_A_ROW``) are
the API being down, not one record: the last error stops the run.

Any phase that reads records one by one uses it: ``call`` in the worker thread, ``deferred``
(the outcome, its id) in the thread that hands records out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from typing_extensions import TypeIs

from tap_mindzpay.errors import RetriesExhaustedError

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")

#: Consecutive ids whose call failed after every retry before the run stops.
DEFERRALS_IN_A_ROW = 5


@dataclass(frozen=True)
class Deferred:
    """A per-id call that still failed after the request path's retries."""

    error: RetriesExhaustedError


def call(fetch: Callable[[int], T], record_id: int) -> T | Deferred:
    """``fetch(record_id)``, or ``Deferred`` if it still fails after its retries."""
    try:
        return fetch(record_id)
    except RetriesExhaustedError as error:
        return Deferred(error)


class Deferrals:
    """The deferred ids of one partition's phase: warned about, counted, bounded in a row.

    Args:
        where: Names the partition in warnings (``stream invoices, account acc_...``).
        warn: Logs one warning line.
        count: Counts one deferred id (the run summary's ``deferred``).
    """

    def __init__(self, where: str, warn: Callable[[str], None], count: Callable[[], None]) -> None:
        """No deferral yet."""
        self._where = where
        self._warn = warn
        self._count = count
        self._in_a_row = 0

    def deferred(self, outcome: T | Deferred, record_id: int) -> TypeIs[Deferred]:
        """Whether ``outcome`` is ``Deferred``: then warn and count; the caller skips the id.

        Raises:
            RetriesExhaustedError: ``DEFERRALS_IN_A_ROW`` ids in a row failed (the API is down).
        """
        if not isinstance(outcome, Deferred):
            self._in_a_row = 0
            return False
        self._in_a_row += 1
        if self._in_a_row >= DEFERRALS_IN_A_ROW:
            raise outcome.error
        self._count()
        self._warn(
            f"{self._where}: id {record_id} still fails after its retries "
            f"(last: {outcome.error.problem}); deferred: it stays in the state and is tried "
            "again next run"
        )
        return True
