"""ChildPages: the first page of each child list of a page of parents, fetched ahead.

The SDK syncs a parent record's child lists (a course's grades, a campaign's links) inline, one
after another; the parent's read plans them here so that they are requested while the children
of the parents before are synced.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tap_mindzpay.read.prefetch import FetchWorkers

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
    from contextlib import AbstractContextManager

    from singer_sdk.helpers.types import Context

#: A child list's first page as its read will ask for it: ``(key, signature, fetch)``.
Planned = tuple["Hashable", "Hashable", "Callable[[], Any]"]


def frozen(context: Mapping[str, Any] | None) -> Hashable:
    """A partition context as a key (contexts are flat: ids)."""
    return tuple(sorted((context or {}).items()))


def request_signature(url: str, params: Mapping[str, Any], *, decoding: bool) -> Hashable:
    """What a list request is: a page fetched ahead stands in only for the same request."""
    return url, tuple(sorted(params.items())), decoding


class FirstPage(Protocol):
    """A child list's first page for one child context: ``(key, signature, fetch)``."""

    def __call__(self, context: Context | None, /) -> Planned:
        """What ``ChildPages.plan`` takes for the child list of ``context``."""


class AheadList(Protocol):
    """A list whose first page a read before it may fetch ahead (a stream, for ``open_for``)."""

    #: Where that read leaves this list's first pages (``None``: nowhere).
    first_pages: ChildPages | None

    def first_page_fetch(self, context: Context | None, /) -> Planned:
        """``(key, signature, fetch)`` of this list's first page for ``context``."""


def open_for(lists: Sequence[AheadList], depth: int, slots: threading.Semaphore) -> ChildPages:
    """First pages of ``lists`` fetched ahead: a ``ChildPages`` each of them takes from."""
    pages = ChildPages(depth, slots)
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
    future: Future[Any] | None = None


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
    parents is planned or the read ends (``close``). So at most ``depth`` pages wait in memory.

    A page is taken only for the same request the child would make (``signature``: URL,
    parameters, decoding); otherwise the child requests it itself. Either way the records,
    their order and the state are those of the serial read.
    """

    def __init__(self, depth: int, slots: threading.Semaphore) -> None:
        """Nothing planned; no thread runs until the first page is requested ahead."""
        self.depth = max(1, depth)
        self._slots = slots
        self._workers = FetchWorkers(self.depth, name="child-page")
        self._planned: deque[_Planned] = deque()
        self._keys: set[Hashable] = set()
        self._submitted = 0  # the planned entries at the head that have a future
        #: Pages taken by a child sync, and pages requested ahead but never taken.
        self.taken = 0
        self.wasted = 0

    def plan(self, fetches: Iterable[Planned]) -> None:
        """``(key, signature, fetch)`` of the next child lists, in the order they will sync."""
        self._drop()
        self._planned.extend(_Planned(*fetch) for fetch in fetches)
        self._keys.update(entry.key for entry in self._planned)
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
        its way happens inside ``waiting`` (a signal then stops the run at once).
        """
        if key not in self._keys:
            return None
        entry = self._pop_until(key)
        self._fill()
        if entry.future is None or entry.signature != signature:
            self._cancel(entry)
            return None
        stop_check()
        self.taken += 1
        try:
            with waiting():
                return entry.future.result()
        except BaseException:
            # A worker stopped by a signal: stop here, in this thread, after a STATE.
            stop_check()
            raise

    def close(self) -> None:
        """Drop every page not taken; let the idle workers end."""
        self._drop()
        self._workers.close()

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

    def _fill(self) -> None:
        """Request the next planned pages, up to ``depth`` waiting and the run's free slots."""
        planned = self._planned
        while self._submitted < min(self.depth, len(planned)) and self._slots.acquire(
            blocking=False
        ):
            entry = planned[self._submitted]
            future: Future[Any] = Future()
            future.add_done_callback(lambda _: self._slots.release())
            entry.future = future
            self._workers.submit(future, entry.fetch)
            self._submitted += 1

    def _cancel(self, entry: _Planned) -> None:
        if entry.future is not None:
            entry.future.cancel()
            self.wasted += 1

    def _drop(self) -> None:
        while self._planned:
            self._cancel(self._planned.popleft())
        self._keys.clear()
        self._submitted = 0


@dataclass(frozen=True)
class ChildLists:
    """The child lists the SDK will sync for the records of one parent list, told from the records.

    The SDK syncs the children of each kept record (``keeps``) with the child context it builds
    from the parent's context and the record (``context_of``: child context key -> field), one
    child stream after another (``first_pages``, in the SDK's order). ``plan`` hands the first
    page of each to ``pages`` for a page of parents. A record whose context cannot be told (a
    field missing) is left out: its children request their first page themselves.
    """

    pages: ChildPages
    keeps: Callable[[Mapping[str, Any]], bool]
    context_of: Mapping[str, str]
    first_pages: tuple[FirstPage, ...]
    #: The parent list's partition.
    context: Context | None = None

    def plan(self, records: list[dict[str, Any]]) -> None:
        """The first pages of the child lists of ``records``, requested ahead."""
        self.pages.plan(self._first_pages(records))

    def _first_pages(self, records: list[dict[str, Any]]) -> Iterator[Planned]:
        for record in records:
            if not self.keeps(record):
                continue  # skipped as malformed: the SDK syncs no children of it
            merged = {**(self.context or {}), **record}  # as ``Stream._process_record`` does
            try:
                child_context = {key: merged[field] for key, field in self.context_of.items()}
            except KeyError:
                continue
            for first_page in self.first_pages:
                yield first_page(child_context)
