"""ChildPages: the first page of each child list of a page of parents, fetched ahead.

The SDK syncs a parent record's child lists (a course's grades, a campaign's links) inline, one
after another; the parent's read plans them here (``childlists.ChildLists`` tells them from its
records) so that they are requested while the children of the parents before are synced.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tap_mindzpay.read.prefetch import FetchWorkers, PageSlots

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
    from contextlib import AbstractContextManager
    from typing import TypeAlias

    from singer_sdk.helpers.types import Context

    #: A child list's first page as its read will ask for it: ``(key, signature, fetch)``.
    Planned: TypeAlias = tuple[Hashable, Hashable, Callable[[], Any]]
    #: The first pages a fetched page plans in turn: those of its own child lists (a course's
    #: grades page plans each grade's lessons).
    Expand: TypeAlias = Callable[[Any], Iterable["Expanding"]]
    #: A planned first page and what it plans once fetched.
    Expanding: TypeAlias = tuple[Hashable, Hashable, Callable[[], Any], Expand | None]


def frozen(context: Mapping[str, Any] | None) -> Hashable:
    """A partition context as a key (contexts are flat: ids)."""
    return tuple(sorted((context or {}).items()))


def request_signature(url: str, params: Mapping[str, Any], *, decoding: bool) -> Hashable:
    """What a list request is: a page fetched ahead stands in only for the same request."""
    return url, tuple(sorted(params.items())), decoding


class AheadList(Protocol):
    """A list whose first page a read before it may fetch ahead (a stream, for ``open_for``)."""

    #: Where that read leaves this list's first pages (``None``: nowhere).
    first_pages: ChildPages | None

    def first_page_fetch(self, context: Context | None, /) -> Planned:
        """``(key, signature, fetch)`` of this list's first page for ``context``."""


def open_for(
    lists: Sequence[AheadList],
    depth: int,
    slots: PageSlots,
    on_close: Callable[[int, int], None] = lambda _taken, _wasted: None,
) -> ChildPages:
    """First pages of ``lists`` fetched ahead: a ``ChildPages`` each of them takes from."""
    pages = ChildPages(depth, slots, on_close)
    for ahead in lists:
        ahead.first_pages = pages
    return pages


def close_for(pages: ChildPages | None, lists: Iterable[AheadList]) -> None:
    """``pages`` closed, and no longer where ``lists`` look for their first pages."""
    if pages is None:
        return
    pages.close()
    for ahead in lists:
        if ahead.first_pages is pages:
            ahead.first_pages = None


@dataclass
class _Planned:
    """A child list's first page the parent's read planned: which, how asked, its future."""

    key: Hashable
    signature: Hashable
    fetch: Callable[[], Any]
    #: What the page plans once fetched (its own child lists' first pages), or ``None``.
    expand: Expand | None = None
    future: Future[Any] | None = None
    expanded: bool = False

    def expandable(self) -> bool:
        """Whether the page is here, whole, and has child lists not planned yet."""
        future = self.future
        return (
            self.expand is not None
            and not self.expanded
            and future is not None
            and future.done()
            and not future.cancelled()
            and future.exception() is None
        )


class ChildPages:
    """The first pages of a parent page's child lists, fetched ahead of the child syncs.

    The SDK syncs each parent record's children inline, one list after another: a round trip
    each, however few records they hold. For each page of parents the parent's read ``plan``s
    the first page of every child list the SDK will sync for it, in the SDK's order (parent by
    parent, child stream by child stream). Up to ``depth`` of them are requested ahead, by
    reused daemon threads (``FetchWorkers``) through ``fetch`` (the child's own request path:
    same retries, 401 refresh, rate budget and stop points), and no more than the run's
    ``slots`` allow at once across every parent (a nested parent plans its own children
    while its parent's are in flight). When the child sync asks for its first page (``take``)
    it gets the fetched one instead of a request; pages planned before it and not asked for
    (a child not synced for that parent) are dropped, as are the rest when the next page of
    parents is planned or the read ends (``close``). The next ``2 * depth`` to sync are
    requested ahead (``window``), so at most ``4 * depth`` pages wait in memory.

    A page is taken only for the same request the child would make (``signature``: URL,
    parameters, decoding); otherwise the child requests it itself. Either way the records,
    their order and the state are those of the serial read.
    """

    def __init__(
        self,
        depth: int,
        slots: PageSlots,
        on_close: Callable[[int, int], None] = lambda _taken, _wasted: None,
    ) -> None:
        """Nothing planned; no thread runs until the first page is requested ahead.

        ``on_close``: told the pages taken and wasted when closed (the run summary).
        """
        self.depth = max(1, depth)
        self._on_close: Callable[[int, int], None] | None = on_close
        #: The next pages to sync that are requested ahead: ``depth`` for a parent's child
        #: lists, twice that with the lists they plan in turn (``expand``) placed before them.
        #: Twice the window at most wait to be taken (``_fill``).
        self.window = 2 * self.depth
        self._slots = slots
        self._workers = FetchWorkers(self.depth, name="child-page")
        self._planned: deque[_Planned] = deque()
        self._keys: set[Hashable] = set()
        self._submitted = 0  # the planned entries that have a future
        #: Held while the plan changes: a page that arrives requests the next one (``_fill``)
        #: from its worker thread.
        self._lock = threading.RLock()
        #: Pages taken by a child sync, and pages requested ahead but never taken.
        self.taken = 0
        self.wasted = 0

    def plan(self, fetches: Iterable[Planned | Expanding]) -> None:
        """The first pages of the next child lists, in the order they will sync.

        What was planned before and not taken is dropped: the parent's read plans a page of
        parents after the children of the page before are synced.
        """
        entries = [_Planned(*fetch) for fetch in fetches]
        with self._lock:
            self._drop()
            self._planned.extend(entries)
            self._keys.update(entry.key for entry in entries)
            self._fill()

    def plan_next(self, fetches: Iterable[Planned | Expanding]) -> None:
        """The first pages of child lists that sync next, before everything planned so far.

        A nested list's read plans here (its partition's children sync before its parent's next
        child lists); what is planned already (by its parent's page, ``expand``) stays put.
        """
        entries = [_Planned(*fetch) for fetch in fetches]
        with self._lock:
            fresh = [entry for entry in entries if entry.key not in self._keys]
            self._keys.update(entry.key for entry in fresh)
            self._planned.extendleft(reversed(fresh))
            self._fill()

    def take(
        self,
        key: Hashable,
        signature: Hashable,
        stop_check: Callable[[], None],
        waiting: Callable[[], AbstractContextManager[None]],
    ) -> Any | None:  # noqa: ANN401 - what ``fetch`` answered
        """The page planned as ``key`` if it was requested as ``signature``; else ``None``.

        Called by the child's read in the main thread, in place of its first request: the stop
        signal is checked first, as the request path would, and the wait for a page still on
        its way happens inside ``waiting`` (a signal then stops the run at once). What the page
        plans in turn (``expand``) is planned next (when it arrived, ``_arrived``).
        """
        with self._lock:
            if key not in self._keys:
                return None
            entry = self._pop_until(key)
            self._expand_arrived()
            if entry.future is None or entry.signature != signature:
                self._cancel(entry)
                return None
        stop_check()
        self.taken += 1
        try:
            with waiting():
                page = entry.future.result()
        except BaseException:
            # A worker stopped by a signal: stop here, in this thread, after a STATE.
            stop_check()
            raise
        expand = entry.expand if entry.expandable() else None
        if expand is not None:
            entry.expanded = True
            self.plan_next(expand(page))
        else:
            with self._lock:
                self._fill()
        return page

    def close(self) -> None:
        """Drop every page not taken; let the idle workers end; say what was taken, once."""
        with self._lock:
            self._drop()
        self._workers.close()
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close(self.taken, self.wasted)

    def close_when_taken(self) -> None:
        """``close`` once every planned page was taken or dropped (the last planned read ended)."""
        if not self._planned:
            self.close()

    def _pop_until(self, key: Hashable) -> _Planned:
        """The entry planned as ``key``; the ones planned before it are dropped."""
        while True:
            entry = self._planned.popleft()
            self._keys.discard(entry.key)
            if entry.future is not None:
                self._submitted -= 1
            if entry.key == key:
                return entry
            self._cancel(entry)

    def _expand_arrived(self) -> None:
        """Plan what each page fetched so far plans in turn, right after it (the SDK's order)."""
        if not any(entry.expandable() for entry in self._planned):
            self._fill()
            return
        planned: deque[_Planned] = deque()
        for entry in self._planned:
            planned.append(entry)
            expand, future = entry.expand, entry.future
            if expand is not None and future is not None and entry.expandable():
                entry.expanded = True
                for fetch in expand(future.result()):
                    child = _Planned(*fetch)
                    if child.key not in self._keys:
                        self._keys.add(child.key)
                        planned.append(child)
        self._planned = planned
        self._fill()

    def _fill(self) -> None:
        """Request the planned pages among the next ``window`` to sync, in that order.

        By place, not by count: the lists a nested page plans go before pages requested
        already, and are requested at once. At most twice ``window`` pages wait, and no more
        are in flight than the run's free slots.
        """
        for place, entry in enumerate(self._planned):
            if place >= self.window or self._submitted >= 2 * self.window:
                return
            if entry.future is not None:
                continue
            if not self._slots.take(self):
                return
            future: Future[Any] = Future()
            future.add_done_callback(self._arrived)
            entry.future = future
            self._workers.submit(future, entry.fetch)
            self._submitted += 1

    def _arrived(self, future: Future[Any]) -> None:
        """A page requested ahead came (or was dropped): its slot goes to the next one planned.

        In the worker thread that fetched it: what the page plans in turn is planned now, so a
        course's grades page has its lessons requested while the run is busy elsewhere.
        """
        # A page dropped (``_cancel``, in the thread changing the plan) refills nobody: what
        # is planned next may be about to be dropped too.
        arrived = not future.cancelled()
        self._slots.give_back(refill=arrived)
        if arrived:
            with self._lock:
                self._expand_arrived()

    def refill(self) -> None:
        """Request what is planned next, as slots allow (one came back: ``PageSlots``)."""
        with self._lock:
            self._fill()

    def _cancel(self, entry: _Planned) -> None:
        if entry.future is not None:
            entry.future.cancel()
            self.wasted += 1

    def _drop(self) -> None:
        while self._planned:
            self._cancel(self._planned.popleft())
        self._keys.clear()
        self._submitted = 0
