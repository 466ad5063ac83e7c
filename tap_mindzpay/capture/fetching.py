"""Per-record requests made concurrently and handed out in id order (refreshes, deletion checks).

``RecordRequests`` is what the capture engine calls for them: a phase's ids asked for in order,
an id still failing after its retries deferred (``deferral``). ``UnlistedChecks`` asks for each
id a sweep did not list, and says in one warning line when they are a large share of the
partition.

A window of requests runs ahead of the one handed out next, with no barrier between chunks, so
the workers never wait for the slowest request of a chunk. Every request goes through the
stream's one request path, so the rate budget and the retries hold for all of them together.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from tap_mindzpay.capture import deferral

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from tap_mindzpay.capture.codec import StatusMap
    from tap_mindzpay.capture.deferral import Deferred

T = TypeVar("T")

#: Requests in flight per worker ahead of the one handed out next.
WINDOW_PER_WORKER = 4
#: Share of a partition's known ids a sweep may not list before it says so in a warning.
#: Support deletes a few records a month; a tenth of a partition unlisted at once is more
#: likely a list read differently (a permission, a filter, a cap) than real deletions.
UNLISTED_WARN_SHARE = 0.10


class Fetching(NamedTuple):
    """How per-record requests run: at most ``max_concurrency`` at once.

    ``on_stop`` is called when a stop is asked in a worker (``SystemExit``): it writes the
    STATE that matches what was handed out; ``name`` prefixes the workers' thread names.
    """

    max_concurrency: int
    on_stop: Callable[[], None]
    name: str


def fetched_in_order(
    ids: Sequence[int], fetch: Callable[[int], T], how: Fetching
) -> Iterator[tuple[int, T]]:
    """``(id, fetch(id))`` for every id, in the order given, fetched by a pool of workers.

    A stop asked in a worker cancels what is still queued, calls ``how.on_stop`` and stops
    the run.
    """
    if not ids:
        return
    workers = max(1, min(how.max_concurrency, len(ids)))
    window = workers * WINDOW_PER_WORKER
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=how.name) as pool:
        ahead: deque[tuple[int, Future[T]]] = deque()
        queue = iter(ids)
        for record_id in queue:
            ahead.append((record_id, pool.submit(fetch, record_id)))
            if len(ahead) >= window:
                break
        while ahead:
            record_id, future = ahead.popleft()
            try:
                record = future.result()
            except SystemExit:
                for _, waiting in ahead:
                    waiting.cancel()
                how.on_stop()
                raise
            following = next(queue, None)
            if following is not None:
                ahead.append((following, pool.submit(fetch, following)))
            yield record_id, record


class UnlistedChecks:
    """The ids a sweep did not list, each asked for by id: absence alone never deletes.

    Args:
        confirm: The record by a GET of its id (``None``: 404, deleted; ``Deferred``: it
            still failed after its retries, so the id is neither deleted nor kept as seen).
        warn: Where the one warning line goes (``None``: nowhere).
        where: The stream and account named in it.
        known: Ids the partition held before the sweep (the share's denominator).
    """

    def __init__(
        self,
        confirm: Callable[[int], dict[str, Any] | Deferred | None],
        warn: Callable[[str], None] | None,
        where: str,
        known: int,
    ) -> None:
        """No id asked yet."""
        self.confirm, self.warn, self.where, self.known = confirm, warn, where, known
        self.gone = self.present = self.deferred = 0

    def answers(
        self, unlisted: Sequence[int], how: Fetching
    ) -> Iterator[tuple[int, dict[str, Any] | Deferred | None]]:
        """``(id, record, None or Deferred)`` of each unlisted id, then the warning if due."""
        for record_id, record in fetched_in_order(unlisted, self.confirm, how):
            if record is None:
                self.gone += 1
            elif not isinstance(record, dict):  # Deferred
                self.deferred += 1
            else:
                self.present += 1
            yield record_id, record
        if unlisted and self.warn is not None and len(unlisted) > UNLISTED_WARN_SHARE * self.known:
            self.warn(
                f"{self.where}: the sweep did not list {len(unlisted):,} of {self.known:,} known "
                f"ids ({len(unlisted) / max(1, self.known):.0%}); a GET of each found "
                f"{self.gone:,} deleted (marked _sdc_deleted_at) and {self.present:,} still "
                "there (kept)"
            )


@dataclass(frozen=True)
class RecordRequests:
    """The per-record requests of one partition's phases (its refreshes, its unlisted ids).

    Each phase asks ``max_concurrency`` at once and hands the answers out in id order. An id
    whose request still fails after its retries is deferred (warned about, counted
    ``deferred``), so one record the API cannot answer never blocks the run.
    """

    max_concurrency: int
    #: Writes the STATE that matches what was handed out, when a stop is asked in a worker.
    on_stop: Callable[[], None]
    #: Adds ``n`` to one of the partition's counts (``deferred``, ``unlisted``, ...).
    count: Callable[[str, int], None]
    #: One warning line (a deferred id, a sweep that would delete a large share).
    warn: Callable[[str], None]
    #: The stream and account the warnings name.
    where: str
    #: The last status seen of an id (``None``: none): what an id not confirmed either way keeps.
    last_status: Callable[[int], object]

    def refreshes(
        self, ids: Sequence[int], refresh: Callable[[int], dict[str, Any] | None]
    ) -> Iterator[tuple[int, dict[str, Any] | None]]:
        """``(id, refresh(id))`` of the ids in order (``None``: 404), the deferred ones left out."""
        deferrals = self._deferrals()
        outcomes = fetched_in_order(ids, partial(deferral.call, refresh), self._fetching("refresh"))
        for record_id, outcome in outcomes:
            if not deferrals.deferred(outcome, record_id):
                yield record_id, outcome

    def confirmed(
        self,
        unlisted: Sequence[int],
        confirm: Callable[[int], dict[str, Any] | None],
        known: int,
        statuses: StatusMap,
    ) -> Iterator[tuple[int, dict[str, Any] | None]]:
        """``(id, record or None: 404)`` of each id a sweep did not list, asked for by id.

        An id not confirmed either way (deferred) is neither deleted nor handed out: it keeps
        its last status in ``statuses`` (the sweep's new map), and the next sweep asks again.
        ``known``: ids the partition held before the sweep (the warning's denominator).
        """
        checks = UnlistedChecks(partial(deferral.call, confirm), self.warn, self.where, known)
        deferrals = self._deferrals()
        for record_id, record in checks.answers(unlisted, self._fetching("confirm")):
            if not deferrals.deferred(record, record_id):
                yield record_id, record
            elif (status := self.last_status(record_id)) is not None:
                statuses.set(record_id, status)
        if unlisted:
            self.count("unlisted", len(unlisted))
            self.count("unlisted_present", checks.present)

    def _deferrals(self) -> deferral.Deferrals:
        """The deferred ids of one phase: warned about and counted (``deferred``)."""
        return deferral.Deferrals(self.where, self.warn, lambda: self.count("deferred", 1))

    def _fetching(self, name: str) -> Fetching:
        """How one phase's requests run: ``max_concurrency`` at once; a stop writes STATE."""
        return Fetching(self.max_concurrency, self.on_stop, name)
