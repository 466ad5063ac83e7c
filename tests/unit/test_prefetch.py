"""PagePrefetcher: pages fetched ahead come out in order, shifted lists lose and repeat nothing,
and a stop signal stops the taking thread before the next page."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING

import pytest

from tap_mindzpay.read import childpages, prefetch
from tap_mindzpay.read.paging import ListPage, OffsetPaginator
from tap_mindzpay.read.prefetch import (
    PROBE_BELOW_SECONDS,
    PROBE_PAGES,
    TRIAL_PAGES,
    PagePrefetcher,
    PageSlots,
)
from tap_mindzpay.run.stopping import StopControl

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


class ListServer:
    """An id-ascending list served by offset from any thread; deletes records on request."""

    def __init__(self, ids: list[int], delay: float = 0.0) -> None:
        self.ids = list(ids)
        self.delay = delay
        self.lock = threading.Lock()
        self.requested: list[int] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        #: offset -> ids removed just before the page at that offset is served (once).
        self.delete_before: dict[int, list[int]] = {}

    def fetch(self, offset: int) -> tuple[list[dict[str, int]], int]:
        with self.lock:
            self.requested.append(offset)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            for gone in self.delete_before.pop(offset, []):
                self.ids.remove(gone)
        time.sleep(self.delay)
        with self.lock:
            self.in_flight -= 1
            page = self.ids[offset : offset + 10]
            return [{"id": i} for i in page], len(self.ids)


def emitted(prefetcher: PagePrefetcher) -> list[int]:
    return [r["id"] for _, records, _, start in prefetcher.pages() for r in records[start:]]


def prefetcher(
    server: ListServer,
    depth: int,
    fetch: Callable[[int], tuple[list[dict[str, int]], int]] | None = None,
    **kwargs: object,
) -> PagePrefetcher:
    """Pages of ``server`` (through ``fetch`` if given), 10 a page."""
    paginator = OffsetPaginator(10, **kwargs)  # type: ignore[arg-type]
    return PagePrefetcher(
        paginator,
        fetch or server.fetch,
        lambda record: record["id"],
        depth=depth,
        stop_check=lambda: None,
        waiting=nullcontext,
    )


def test_prefetched_pages_come_out_in_list_order_with_up_to_depth_requests_in_flight():
    server = ListServer(list(range(1, 501)), delay=0.01)
    pages = prefetcher(server, depth=8)
    assert emitted(pages) == list(range(1, 501))
    # Every page takes longer to serve than to use: the pages ahead grow from 2 towards the
    # depth, never past it.
    assert 4 < server.peak_in_flight <= 8
    # The offsets the serial paginator would request (9 new records per page after the first),
    # each once: nothing fetched ahead went unused.
    assert sorted(server.requested) == list(range(0, 496, 9))
    assert pages.wasted == 0


def test_depth_one_requests_one_page_at_a_time_in_the_calling_thread():
    server = ListServer(list(range(1, 101)))
    callers: set[str] = set()

    def fetch(offset: int) -> tuple[list[dict[str, int]], int]:
        callers.add(threading.current_thread().name)
        return server.fetch(offset)

    pages = prefetcher(server, depth=1, fetch=fetch)
    assert emitted(pages) == list(range(1, 101))
    assert callers == {threading.current_thread().name}
    assert server.peak_in_flight == 1


def test_records_deleted_while_pages_are_fetched_ahead_shift_nothing_into_loss_or_repeat():
    ids = list(range(1, 301))
    server = ListServer(ids, delay=0.002)
    # Support deletes two records well before our position while later pages are in flight:
    # whichever pages were served before and after a deletion, one pair of them has a gap.
    gone = {offset: [ids[offset - 40], ids[offset - 39]] for offset in (45, 99, 180)}
    server.delete_before = {offset: list(names) for offset, names in gone.items()}
    deleted = {i for names in gone.values() for i in names}
    pages = prefetcher(server, depth=6)
    out = emitted(pages)
    assert len(out) == len(set(out)), "a record was emitted twice"
    assert out == sorted(out)
    # Every record that was never deleted is emitted; a deleted one may have been read first.
    assert set(ids) - deleted <= set(out)
    assert pages.paginator.backoffs > 0
    assert pages.wasted > 0


def test_resumed_after_a_bookmark_emits_only_later_ids():
    server = ListServer(list(range(1, 201)))
    pages = prefetcher(server, depth=4, after_id=150, offset_hint=140)
    assert emitted(pages) == list(range(151, 201))
    assert min(server.requested) == 140


class Stopped(SystemExit):
    pass


def test_a_stop_signal_stops_before_the_next_page_and_drops_what_was_fetched_ahead():
    server = ListServer(list(range(1, 1001)), delay=0.005)
    signalled = threading.Event()

    def stop_check() -> None:
        if signalled.is_set():
            raise Stopped(143)

    pages = PagePrefetcher(
        OffsetPaginator(10),
        server.fetch,
        lambda record: record["id"],
        depth=8,
        stop_check=stop_check,
        waiting=nullcontext,
    )
    taken: list[int] = []

    def take_four_pages_then_signal() -> None:
        for index, (_, records, _, start) in enumerate(pages.pages()):
            taken.extend(r["id"] for r in records[start:])
            if index == 3:
                signalled.set()

    with pytest.raises(Stopped):
        take_four_pages_then_signal()
    # Four pages taken (10 + 3 x 9 records), none after the signal.
    assert taken == list(range(1, 38))
    assert 0 < pages.wasted <= 8
    time.sleep(0.05)  # the workers already running finish; none is started after the stop
    # A dropped page was requested, or cancelled before its worker took it.
    assert 4 <= len(server.requested) <= 4 + pages.wasted


def test_a_worker_stopped_by_the_signal_makes_the_taking_thread_stop_itself():
    signalled = threading.Event()
    stops: list[str] = []

    def fetch(offset: int) -> tuple[list[dict[str, int]], int]:
        if offset > 0:
            signalled.wait(5)
            raise Stopped(143)  # this worker's request path saw the signal
        return [{"id": i} for i in range(1, 11)], 100

    def stop_check() -> None:
        if signalled.is_set():
            stops.append(threading.current_thread().name)
            raise Stopped(143)

    @contextmanager
    def waiting() -> Iterator[None]:
        signalled.set()  # the signal lands while the taking thread waits for a page
        yield

    pages = PagePrefetcher(
        OffsetPaginator(10),
        fetch,
        lambda record: record["id"],
        depth=4,
        stop_check=stop_check,
        waiting=waiting,
    )
    iterator = pages.pages()
    next(iterator)
    with pytest.raises(Stopped):
        next(iterator)
    # The taking thread ran its own stop (the one that writes STATE), not only the worker's.
    assert stops == [threading.current_thread().name]


def test_pages_served_faster_than_used_never_keep_more_than_four_ahead():
    server = ListServer(list(range(1, 1001)))

    def slow_use() -> list[int]:
        out = []
        for _, records, _, start in pages.pages():
            time.sleep(0.005)  # using a page takes longer than serving one
            out.extend(r["id"] for r in records[start:])
        return out

    pages = prefetcher(server, depth=8)
    assert slow_use() == list(range(1, 1001))
    assert pages.ahead_now <= 4
    assert server.peak_in_flight <= 4


def test_planned_offsets_are_the_serial_requests_and_stop_at_total():
    paginator = OffsetPaginator(10)
    # Pages 0, 9, 18, 27 and 36 (36 + 10 = 46 is past 40); with 37 records page 27 ends it.
    assert paginator.planned_offsets(40, 0, 10) == [9, 18, 27, 36]
    assert paginator.planned_offsets(37, 0, 10) == [9, 18, 27]
    assert paginator.planned_offsets(40, 0, 2) == [9, 18]
    assert OffsetPaginator(1).planned_offsets(3, 0, 5) == [1, 2]


def test_a_stop_signal_wakes_a_worker_thread_sleeping_before_a_retry():
    stop = StopControl(logging.getLogger("test"))
    worker = threading.Thread(target=stop.sleep, args=(3600,))  # an hour's backoff
    worker.start()
    stop.handle(15, None)
    worker.join(600)  # a guard against a hang, not a bound: the sleep would last an hour
    assert not worker.is_alive(), "the worker still sleeps"
    assert stop.signal == 15


def test_pages_are_fetched_by_at_most_depth_threads_which_end_with_the_read():
    server = ListServer(list(range(1, 2001)), delay=0.002)
    fetchers: set[int] = set()

    def fetch(offset: int) -> tuple[list[dict[str, int]], int]:
        fetchers.add(threading.get_ident())
        return server.fetch(offset)

    pages = prefetcher(server, depth=4, fetch=fetch)
    assert emitted(pages) == list(range(1, 2001))
    # 223 pages, each requested once, by reused workers: never more threads than the depth,
    # plus the calling thread for its first request.
    assert sorted(server.requested) == list(range(0, 1999, 9))
    assert 1 < len(fetchers) <= 4 + 1
    deadline = time.monotonic() + 5
    while any(t.name.startswith("page-") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "page workers still alive after the read ended"
        time.sleep(0.01)


def test_a_page_fetch_that_fails_in_a_worker_raises_in_the_taking_thread():
    server = ListServer(list(range(1, 201)))

    def fetch(offset: int) -> tuple[list[dict[str, int]], int]:
        if offset == 45:
            msg = "page 45 refused"
            raise RuntimeError(msg)
        return server.fetch(offset)

    pages = prefetcher(server, depth=4, fetch=fetch)
    seen: list[int] = []

    def take_all() -> None:
        for _, records, _, start in pages.pages():
            seen.extend(r["id"] for r in records[start:])

    with pytest.raises(RuntimeError, match="page 45 refused"):
        take_all()
    assert seen == list(range(1, 47))  # the pages at offsets 0 to 36


def test_a_cheap_api_gets_a_trial_of_serial_paging_and_the_pages_are_the_same():
    server = ListServer(list(range(1, 3001)))  # instant requests: serial is worth a trial
    pages = prefetcher(server, depth=8)
    assert emitted(pages) == list(range(1, 3001))
    assert pages.trials >= 1
    assert pages.serial_pages > 1
    assert sorted(server.requested) == list(range(0, 2999, 9))  # each page once
    timed_serial, timed_ahead = pages.timed[True][1], pages.timed[False][1]
    assert timed_serial >= TRIAL_PAGES
    assert timed_ahead >= PROBE_PAGES - 1


def test_a_far_api_is_always_paged_ahead():
    server = ListServer(list(range(1, 601)), delay=PROBE_BELOW_SECONDS * 1.5)
    pages = prefetcher(server, depth=8)
    assert emitted(pages) == list(range(1, 601))
    assert pages.serial_pages == 1  # the first page only: it tells meta.total
    assert pages.trials == 0


def test_a_far_api_is_asked_for_every_page_meta_total_leaves_at_once():
    # 100 ids, 10 a page anchored on the last id of the previous one: the first page and ten
    # more. Each of the ten waits until all ten are requested: a prefetcher that grew its depth
    # from 2 would never get there (the barrier breaks after the hang guard and the read fails).
    server = ListServer(list(range(1, 101)), delay=PROBE_BELOW_SECONDS * 1.5)
    rest = threading.Barrier(10, timeout=120)

    def fetch(offset: int) -> tuple[list[dict[str, int]], int]:
        if offset:
            rest.wait()
        return server.fetch(offset)

    pages = prefetcher(server, depth=16, fetch=fetch)
    assert emitted(pages) == list(range(1, 101))
    assert sorted(server.requested) == list(range(0, 91, 9))  # each page once
    assert pages.wasted == 0


def test_a_first_page_fetched_ahead_elsewhere_tells_its_time_and_the_rest_comes_at_once():
    # The first page is handed over at once, as a child list's page fetched ahead by its
    # parent's read is, with the time its request took: a far API's. The ten pages left then
    # each wait until all ten are requested (a read that took the hand-over for a cheap API
    # would ask for 2 and the barrier would break after the hang guard).
    server = ListServer(list(range(1, 101)))
    rest = threading.Barrier(10, timeout=120)

    def fetch(offset: int) -> ListPage:
        if not offset:
            return ListPage(*server.fetch(0), seconds=PROBE_BELOW_SECONDS * 1.5)
        rest.wait()
        return ListPage(*server.fetch(offset))

    pages = prefetcher(server, depth=16, fetch=fetch)
    assert emitted(pages) == list(range(1, 101))
    assert pages.request_seconds == PROBE_BELOW_SECONDS * 1.5
    assert sorted(server.requested) == list(range(0, 91, 9))  # each page once
    assert pages.trials == 0


def test_a_trial_of_serial_paging_that_loses_goes_back_to_paging_ahead(
    monkeypatch: pytest.MonkeyPatch,
):
    # 4 ms a request, nothing to do with a page: ahead overlaps the requests, serial cannot.
    # (Cheap enough for trials however late a loaded machine wakes the sleepers.)
    monkeypatch.setattr(prefetch, "PROBE_BELOW_SECONDS", 0.5)
    server = ListServer(list(range(1, 1801)), delay=0.004)
    pages = prefetcher(server, depth=8)
    assert emitted(pages) == list(range(1, 1801))
    assert pages.trials >= 1
    assert pages.per_page(serial=False) < pages.per_page(serial=True)  # type: ignore[operator]
    # Back ahead after each losing trial (and the next trial twice as late).
    assert pages.ahead_now > 0
    assert pages.serial_pages <= 1 + pages.trials * (TRIAL_PAGES + 1)


# -- ChildPages: child lists' first pages fetched ahead ---------------------------------------


class ChildLists:
    """Child lists' first pages served from any thread, counting requests and peak in flight."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.requested: list[str] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self.release = threading.Event()
        self.release.set()

    def fetch(self, key: str) -> Callable[[], str]:
        def page() -> str:
            with self.lock:
                self.requested.append(key)
                self.in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            self.release.wait()
            time.sleep(self.delay)
            with self.lock:
                self.in_flight -= 1
            return f"page of {key}"

        return page

    def plan(self, keys: list[str]) -> list[tuple[str, str, Callable[[], str]]]:
        return [(key, f"GET {key}", self.fetch(key)) for key in keys]


def _take(pages: childpages.ChildPages, key: str, signature: str | None = None) -> object:
    return pages.take(key, signature or f"GET {key}", lambda: None, nullcontext)


def test_child_pages_are_handed_to_the_child_syncs_that_ask_for_them_in_order():
    lists = ChildLists(delay=0.01)
    pages = childpages.ChildPages(4, PageSlots(4))
    keys = [f"course {n} {child}" for n in range(10) for child in ("grades", "teachers")]
    pages.plan(lists.plan(keys))
    assert [_take(pages, key) for key in keys] == [f"page of {key}" for key in keys]
    pages.close()
    assert sorted(lists.requested) == sorted(keys)
    assert lists.peak_in_flight <= 4
    assert (pages.taken, pages.wasted) == (len(keys), 0)


def test_a_child_not_synced_for_a_parent_drops_its_page_and_the_next_page_of_parents_the_rest():
    lists = ChildLists()
    pages = childpages.ChildPages(8, PageSlots(8))
    pages.plan(lists.plan(["a grades", "a teachers", "b grades", "b teachers"]))
    assert _take(pages, "a grades") == "page of a grades"
    # "a teachers" is not synced (not selected, or its parent filtered out by a stream map).
    assert _take(pages, "b grades") == "page of b grades"
    pages.plan(lists.plan(["c grades"]))  # the next page of parents: "b teachers" is dropped
    assert _take(pages, "b teachers") is None
    assert _take(pages, "c grades") == "page of c grades"
    pages.close()
    assert (pages.taken, pages.wasted) == (3, 2)


def test_a_child_asking_for_another_request_than_the_one_fetched_ahead_requests_it_itself():
    lists = ChildLists()
    pages = childpages.ChildPages(2, PageSlots(2))
    pages.plan(lists.plan(["a grades", "b grades"]))
    assert _take(pages, "a grades", signature="GET a grades, other params") is None
    assert _take(pages, "unplanned") is None
    assert _take(pages, "b grades") == "page of b grades"
    pages.close()


def test_child_pages_in_flight_share_the_runs_slots_across_nested_parents():
    lists = ChildLists()
    lists.release.clear()
    slots = PageSlots(3)
    outer = childpages.ChildPages(3, slots)
    inner = childpages.ChildPages(3, slots)
    outer.plan(lists.plan(["c1 grades", "c1 teachers", "c2 grades", "c2 teachers"]))
    inner.plan(lists.plan(["g1 lessons", "g2 lessons"]))
    deadline = time.monotonic() + 5
    while len(lists.requested) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    assert lists.requested.count("g1 lessons") == 0  # no slot left: requested by its sync
    assert lists.peak_in_flight == 3
    lists.release.set()
    assert _take(inner, "g1 lessons") is None
    assert _take(outer, "c1 grades") == "page of c1 grades"
    outer.close()
    inner.close()
    assert lists.peak_in_flight == 3


def test_a_child_page_that_failed_in_a_worker_raises_in_the_child_sync_after_a_stop_check():
    checks: list[str] = []

    def failing() -> str:
        msg = "HTTP 403"
        raise RuntimeError(msg)

    pages = childpages.ChildPages(2, PageSlots(2))
    pages.plan([("a grades", "GET a grades", failing)])
    with pytest.raises(RuntimeError, match="HTTP 403"):
        pages.take("a grades", "GET a grades", lambda: checks.append("stop?"), nullcontext)
    pages.close()
    assert checks == ["stop?", "stop?"]


def test_closed_child_pages_leave_no_worker_thread_behind():
    before = set(threading.enumerate())  # (another test's idle workers are not this one's)
    lists = ChildLists(delay=0.01)
    pages = childpages.ChildPages(4, PageSlots(4))
    pages.plan(lists.plan([f"c{n} grades" for n in range(8)]))
    assert _take(pages, "c0 grades") == "page of c0 grades"
    pages.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(
        t.name.startswith("child-page") for t in set(threading.enumerate()) - before
    ):
        time.sleep(0.01)
    assert not [t.name for t in set(threading.enumerate()) - before if t.name.startswith("child")]


def _expanding(
    lists: ChildLists, keys: list[str], below: dict[str, list[str]]
) -> list[tuple[str, str, Callable[[], str], Callable[[object], object] | None]]:
    """``keys`` planned with what each one's page plans in turn (``below``: key -> its lists)."""

    def expand(key: str) -> Callable[[object], object] | None:
        if key not in below:
            return None
        return lambda page: _expanding(lists, below[key], below) if page == f"page of {key}" else []

    return [(key, f"GET {key}", lists.fetch(key), expand(key)) for key in keys]


def _wait_for_requests(lists: ChildLists, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(lists.requested) < count and time.monotonic() < deadline:
        time.sleep(0.005)


def test_a_nested_lists_first_pages_are_planned_from_its_parents_page_and_taken_in_sdk_order():
    # Courses c1, c2: each has grades (g1.., g2..) with lessons, and teachers. The SDK syncs
    # c1 grades, g11 lessons, g12 lessons, c1 teachers, c2 grades, g21 lessons, c2 teachers.
    lists = ChildLists()
    below = {"c1 grades": ["g11 lessons", "g12 lessons"], "c2 grades": ["g21 lessons"]}
    pages = childpages.ChildPages(8, PageSlots(8))
    pages.plan(_expanding(lists, ["c1 grades", "c1 teachers", "c2 grades", "c2 teachers"], below))
    _wait_for_requests(lists, 4)
    order = [
        "c1 grades",
        "g11 lessons",
        "g12 lessons",
        "c1 teachers",
        "c2 grades",
        "g21 lessons",
        "c2 teachers",
    ]
    assert [_take(pages, key) for key in order] == [f"page of {key}" for key in order]
    pages.close()
    # Every lesson list was requested ahead (c2's as soon as c2's grades had arrived), once.
    assert sorted(lists.requested) == sorted(order)
    assert (pages.taken, pages.wasted) == (len(order), 0)


def _arrived(pages: childpages.ChildPages) -> list[bool]:
    """Whether each planned page is here (its request answered)."""
    planned = pages._planned  # noqa: SLF001 - what arrived is not part of the interface
    return [entry.future is not None and entry.future.done() for entry in planned]


def test_pages_that_arrived_plan_their_lists_before_their_parent_is_taken():
    lists = ChildLists()
    below = {f"c{n} grades": [f"g{n} lessons"] for n in range(1, 4)}
    pages = childpages.ChildPages(8, PageSlots(8))
    pages.plan(_expanding(lists, [f"c{n} grades" for n in range(1, 4)], below))
    deadline = time.monotonic() + 10
    while not all(_arrived(pages)) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert all(_arrived(pages)), "the grades pages never arrived"
    assert _take(pages, "c1 grades") == "page of c1 grades"
    _wait_for_requests(lists, 6)
    # c2's and c3's lessons are on their way before their grades are taken.
    assert {"g2 lessons", "g3 lessons"} <= set(lists.requested)
    for key in ["g1 lessons", "c2 grades", "g2 lessons", "c3 grades", "g3 lessons"]:
        assert _take(pages, key) == f"page of {key}"
    pages.close()
    assert pages.wasted == 0


def test_a_nested_reads_own_plan_goes_next_and_keeps_what_its_parent_planned():
    lists = ChildLists()
    pages = childpages.ChildPages(4, PageSlots(4))
    pages.plan(lists.plan(["c1 grades", "c1 teachers"]))
    assert _take(pages, "c1 grades") == "page of c1 grades"
    # c1's grades read plans its lessons (one planned already would be skipped): before
    # "c1 teachers", which syncs after them.
    pages.plan_next(lists.plan(["g1 lessons", "g2 lessons"]))
    pages.plan_next(lists.plan(["g1 lessons"]))
    for key in ["g1 lessons", "g2 lessons", "c1 teachers"]:
        assert _take(pages, key) == f"page of {key}"
    pages.close()
    assert lists.requested.count("g1 lessons") == 1
    assert pages.wasted == 0


def test_pages_waiting_to_be_taken_stay_within_the_window():
    lists = ChildLists()
    pages = childpages.ChildPages(2, PageSlots(100))
    pages.plan(lists.plan([f"c{n} grades" for n in range(10)]))
    _wait_for_requests(lists, pages.window)
    time.sleep(0.05)  # nothing taken: no page beyond the window is requested meanwhile
    assert len(lists.requested) == pages.window == 4
    assert _take(pages, "c0 grades") == "page of c0 grades"
    _wait_for_requests(lists, pages.window + 1)
    assert len(lists.requested) == pages.window + 1  # one taken, one more requested
    pages.close()
