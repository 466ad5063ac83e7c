"""PagePrefetcher: the pages an ``OffsetPaginator`` asks for next, fetched ahead in parallel.

The paginator (``paging``) decides which offset to read and what of a page to emit; this module
only hides the latency of the requests it plans, in its order, so its guards are untouched.
``FetchWorkers`` (the reused threads) also serve ``childpages``.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from time import monotonic
from typing import TYPE_CHECKING, Any, Protocol

from tap_mindzpay.read.paging import ListPage

if TYPE_CHECKING:
    from collections.abc import Iterator
    from contextlib import AbstractContextManager

    from tap_mindzpay.read.paging import OffsetPaginator


#: A request of the calling thread alone under this many seconds may be worth making serially
#: (``PagePrefetcher``); above it pages are always fetched ahead.
PROBE_BELOW_SECONDS = 0.010
#: Pages one way before a trial of the other (doubled after each trial the other way loses).
PROBE_PAGES = 32
#: Pages timed in a trial before the two ways are compared.
TRIAL_PAGES = 8


#: The list page at one offset: its records, ``meta.total`` and ``meta.limit``.
PageFetch = Callable[[int], "ListPage"]


class PagePrefetcher:
    """Fetches the pages an ``OffsetPaginator`` will ask for next, ahead of it, in parallel.

    Once a page has told ``meta.total``, pages at the offsets the paginator plans
    (``planned_offsets``) are requested ahead, as many as ``ahead_now`` (up to ``depth``: against
    a far API every page left at once; else more while the API is what the stream waits for,
    fewer while the records' processing is), by a
    pool of daemon threads (``FetchWorkers``) through ``fetch`` (the stream's one request path,
    so every request is under the rate budget). The pages are taken strictly in the paginator's
    order and pass through its id guards exactly as pages fetched one by one do: a page is a
    snapshot of the list at its offset, and the guards hold for snapshots taken in any order.
    When the paginator asks for an offset other than the next prefetched one (a shift made it
    back off, or the list ended early), every prefetched page is dropped (``wasted`` counts
    them) and planning starts again from that offset.

    ``depth`` 1 fetches every page in the calling thread, one at a time.

    Fetching ahead pays only when a request is mostly waiting (for the network, for the
    server): the interpreter decodes one page at a time whichever thread asks, and the threads
    hand it over at every page. So while the calling thread's own requests are cheap (under
    ``PROBE_BELOW_SECONDS``, as against a local or nearby API), the prefetcher tries the other
    way after ``PROBE_PAGES`` pages one way (serial: the calling thread asks for each page when
    it needs it), compares the mean time per page of both ways over ``TRIAL_PAGES`` pages of
    the trial, and keeps the faster; a trial that loses doubles the pages before the next. A
    request slower than that (a far API) always fetches ahead. Either way the pages, their
    order and the id guards are the same.

    Args:
        paginator: Plans the offsets and picks the records to emit.
        fetch: Records and ``meta.total`` of the page at an offset.
        record_id: The id of a record (raises on a record without one).
        depth: Pages requested at once (setting ``max_concurrency``).
        stop_check: Called in the calling thread before each page is taken: stops the run
            there if a signal asked for it.
        waiting: A context in which the calling thread waits for a page (a signal then stops
            the run at once; ``StopControl.waiting``).
    """

    def __init__(  # noqa: PLR0913 - explicit parts, no stream reached into
        self,
        paginator: OffsetPaginator,
        fetch: PageFetch,
        record_id: Callable[[Any], int],
        *,
        depth: int,
        stop_check: Callable[[], None],
        waiting: Callable[[], AbstractContextManager[None]],
    ) -> None:
        """Keep the parts; nothing is requested until ``pages`` is iterated."""
        self.paginator = paginator
        self._fetch = fetch
        self._record_id = record_id
        self.depth = max(1, depth)
        self._stop_check = stop_check
        self._waiting = waiting
        self._ahead: deque[tuple[int, Future[ListPage]]] = deque()
        #: Pages kept requested ahead now: doubled (up to ``depth``) whenever the next page was
        #: not there when wanted (the API is the bottleneck), one less when it was (the records'
        #: processing is: more threads would only contend for the interpreter).
        self.ahead_now = min(2, self.depth)
        self.wasted = 0
        self._workers = FetchWorkers(self.depth)
        #: Seconds of the calling thread's last own request; seconds and pages (a request or
        #: the wait for it, plus the records' processing) serially (True) and ahead (False).
        self.request_seconds: float | None = None
        self.timed: dict[bool, list[float]] = {True: [0.0, 0], False: [0.0, 0]}
        #: Pages the calling thread requested itself; trials of serial paging made.
        self.serial_pages = 0
        self.trials = 0
        self._stretch = PROBE_PAGES
        self._trial = False
        self._since_switch = 0
        self._timed_since_switch = 0
        self._took: bool | None = None  # how the last page came: True serial, False ahead

    def pages(self) -> Iterator[tuple[int, list[Any], int | None, int]]:
        """``(offset, records, meta.total, index of the first record to emit)`` of each page."""
        paginator = self.paginator
        started: float | None = None
        try:
            while not paginator.finished:
                now = monotonic()
                if started is not None and self._took is not None and paginator.pages > 1:
                    timed = self.timed[self._took]  # (not the first page: it connects)
                    timed[0] += now - started
                    timed[1] += 1
                    self._timed_since_switch += 1
                started = now
                self._stop_check()
                offset = paginator.current_value
                if self._ahead and self._ahead[0][0] != offset:
                    self._drop()
                # (A fetch may answer a plain (records, total) pair: no meta.limit then.)
                records, total, limit, _ = ListPage(*self._take(offset))
                start = paginator.advance([self._record_id(r) for r in records], total, limit)
                if self.depth > 1 and total is not None and not paginator.finished:
                    self._choose(total)
                    self._plan(paginator.current_value, total)
                yield offset, records, total, start
        finally:
            self._drop()
            self._workers.close()

    def _take(self, offset: int) -> ListPage:
        """The page at ``offset``: prefetched, or requested now in this thread."""
        if not self._ahead:
            began = monotonic()
            page = self._fetch(offset)
            # A page requested ahead by another read (``childpages``) tells its own time.
            ahead = ListPage(*page).seconds
            self.request_seconds = monotonic() - began if ahead is None else ahead
            self.serial_pages += 1
            self._took = True
            return page
        _, future = self._ahead.popleft()
        # Pages still ahead when serial paging began are not timed as either way.
        self._took = False if self.ahead_now else None
        if self.ahead_now:
            if future.done():
                self.ahead_now = max(min(2, self.depth), self.ahead_now - 1)
            else:
                self.ahead_now = min(self.depth, self.ahead_now * 2)
        try:
            with self._waiting():
                return future.result()
        except BaseException:
            # A worker stopped by a signal: stop here, in this thread, after a STATE.
            self._stop_check()
            raise

    def per_page(self, *, serial: bool) -> float | None:
        """Mean seconds per page of this read, serially or ahead (``None``: none timed yet)."""
        seconds, pages = self.timed[serial]
        return seconds / pages if pages else None

    def _choose(self, total: int) -> None:
        """Serial or ahead for the next pages (see the class docstring)."""
        self._since_switch += 1
        cheap = self.request_seconds is not None and self.request_seconds < PROBE_BELOW_SECONDS
        if not cheap:
            # A slow request: hide it. Every page ``meta.total`` says is left (up to ``depth``)
            # is requested at once: a short list costs one round trip after its first page.
            left = max(min(2, self.depth), self._pages_left(total))
            if self.ahead_now:
                self.ahead_now = max(self.ahead_now, left)
            else:
                self._switch(ahead=left)
            self._trial = False
            return
        if self._trial:
            if self._timed_since_switch >= TRIAL_PAGES:
                serial, ahead = self.per_page(serial=True), self.per_page(serial=False)
                if serial is not None and ahead is not None:
                    serial_won = serial <= ahead
                    tried_serial = not self.ahead_now
                    if serial_won != tried_serial:
                        self._stretch *= 2  # the trial lost: back, and try again later
                        self._switch(ahead=0 if serial_won else min(2, self.depth))
                    self._trial = False
        elif self._since_switch >= self._stretch:
            self._trial = True
            self.trials += 1
            self._switch(ahead=min(2, self.depth) if not self.ahead_now else 0)

    def _pages_left(self, total: int) -> int:
        """Pages the paginator will still ask for if nothing shifts, up to ``depth``."""
        paginator = self.paginator
        return 1 + len(paginator.planned_offsets(total, paginator.current_value, self.depth - 1))

    def _switch(self, *, ahead: int) -> None:
        self.ahead_now = ahead
        self._since_switch = self._timed_since_switch = 0

    def _plan(self, offset: int, total: int) -> None:
        """Request the pages from ``offset`` on that are not requested yet, up to ``depth``."""
        ahead = self._ahead
        if ahead and ahead[0][0] != offset:
            self._drop()
        if not self.ahead_now:
            return  # serial: the calling thread requests each page when it needs it
        if not ahead:
            ahead.append((offset, self._submit(offset)))
        wanted = self.ahead_now - len(ahead)
        if wanted > 0:
            for planned in self.paginator.planned_offsets(total, ahead[-1][0], wanted):
                ahead.append((planned, self._submit(planned)))

    def _submit(self, offset: int) -> Future[ListPage]:
        future: Future[ListPage] = Future()
        self._workers.submit(future, lambda: self._fetch(offset))
        return future

    def _drop(self) -> None:
        while self._ahead:
            _, future = self._ahead.popleft()
            future.cancel()
            self.wasted += 1


class FetchWorkers:
    """Daemon threads that run page fetches, started as needed up to ``size`` and then reused.

    One thread per page would cost a thread start per request, and a start waits for the new
    thread to get the interpreter lock from the threads already fetching. Daemon threads: a
    run stopped by a signal exits without waiting for a page it will not use. ``close`` lets
    the idle ones end.
    """

    def __init__(self, size: int, name: str = "page") -> None:
        """No thread runs until the first ``submit``."""
        self.size = max(1, size)
        self._name = name
        self._tasks: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._threads = 0
        self._outstanding = 0

    def submit(self, future: Future[Any], work: Callable[[], Any]) -> None:
        """Run ``work`` in a worker and settle ``future`` with its result (unless cancelled)."""
        with self._lock:
            self._outstanding += 1
            start = self._outstanding > self._threads and self._threads < self.size
            if start:
                self._threads += 1
                number = self._threads
        self._tasks.put((future, work))
        if start:
            threading.Thread(target=self._run, name=f"{self._name}-{number}", daemon=True).start()

    def close(self) -> None:
        """Let every worker end once it is idle (the tasks queued before still run)."""
        with self._lock:
            threads, self._threads = self._threads, 0
        for _ in range(threads):
            self._tasks.put(None)

    def _run(self) -> None:
        while (task := self._tasks.get()) is not None:
            future, work = task
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(work())
                    except BaseException as error:  # noqa: BLE001 - handed to the taker
                        future.set_exception(error)
            finally:
                with self._lock:
                    self._outstanding -= 1


class Refills(Protocol):
    """What waits for a ``PageSlots`` slot: it requests its next page once one comes back."""

    def refill(self) -> None:
        """Request what is planned next, as slots allow."""


class PageSlots:
    """The run's first pages in flight ahead at once, shared by every ``childpages.ChildPages``.

    A page that comes back gives its slot to the pages that found none, in the order they
    asked (``take``): the top-level lists planned at the run's first list page do not wait for
    their own next event while the slots go to the child lists planned before them.
    """

    def __init__(self, size: int) -> None:
        """``size`` slots free, nobody waiting."""
        self._free = threading.Semaphore(max(1, size))
        self._lock = threading.Lock()
        self._waiting: list[Refills] = []

    def take(self, pages: Refills) -> bool:
        """A slot for ``pages``; else ``False``, and ``pages`` refills once one comes back."""
        with self._lock:
            if self._free.acquire(blocking=False):
                return True
            if pages not in self._waiting:
                self._waiting.append(pages)
            return False

    def give_back(self, *, refill: bool) -> None:
        """A slot free again; with ``refill``, the pages waiting for one request their next."""
        with self._lock:
            self._free.release()
            waiting, self._waiting = (self._waiting, []) if refill else ([], self._waiting)
        for pages in waiting:
            pages.refill()
