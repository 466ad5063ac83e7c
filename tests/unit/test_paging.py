"""OffsetPaginator: stops, loop guard, and no skipped or doubled ids when offsets shift."""

from __future__ import annotations

import pytest

from tap_mindzpay.read.paging import OffsetPaginator, PaginationError


def drain(paginator: OffsetPaginator, pages, *, limit: int = 1000) -> list[int]:
    """Run a paginator against `pages(offset, limit) -> (ids, total)`; return emitted ids."""
    emitted: list[int] = []
    for _ in range(limit):
        if paginator.finished:
            return emitted
        ids, total = pages(paginator.current_value, paginator.page_size)
        start = paginator.advance(ids, total)
        emitted.extend(ids[start:])
    pytest.fail("paginator did not finish")


def static_list(ids: list[int]):
    def pages(offset: int, limit: int) -> tuple[list[int], int]:
        return ids[offset : offset + limit], len(ids)

    return pages


def test_pages_a_static_list_once_in_order():
    ids = list(range(1, 251))
    paginator = OffsetPaginator(100)
    assert drain(paginator, static_list(ids)) == ids
    # 100 + 99 + 51 (one record of overlap per page after the first).
    assert paginator.pages == 3


def test_stops_on_short_page_without_total():
    ids = list(range(1, 151))

    def pages(offset: int, limit: int) -> tuple[list[int], None]:
        return ids[offset : offset + limit], None

    assert drain(OffsetPaginator(100), pages) == ids


def test_stops_on_empty_first_page():
    paginator = OffsetPaginator(100)
    assert drain(paginator, static_list([])) == []
    assert paginator.pages == 1


def test_stops_when_meta_total_is_reached_on_a_full_page():
    ids = list(range(1, 201))
    paginator = OffsetPaginator(100)
    assert drain(paginator, static_list(ids)) == ids
    assert paginator.pages == 3  # 0..99, 99..198, 198..199 ends at total


def test_resumes_after_bookmark_from_offset_hint():
    ids = list(range(10, 3010, 10))
    paginator = OffsetPaginator(50, after_id=1000, offset_hint=90)
    assert drain(paginator, static_list(ids)) == [i for i in ids if i > 1000]
    assert paginator.pages == 5


def test_stale_hint_past_the_bookmark_backs_off_and_skips_nothing():
    ids = list(range(1, 1001))
    # The hint says offset 900, but the bookmark (id 500) is at offset 499.
    paginator = OffsetPaginator(100, after_id=500, offset_hint=900)
    assert drain(paginator, static_list(ids)) == list(range(501, 1001))
    assert paginator.backoffs >= 1


def test_without_hint_rereads_from_start_and_emits_only_above_bookmark():
    ids = list(range(1, 301))
    assert drain(OffsetPaginator(100, after_id=250), static_list(ids)) == list(range(251, 301))


def test_deletions_while_paging_shift_offsets_but_skip_nothing():
    live = list(range(1, 501))
    deleted_per_page = iter([0, 30, 0, 150, 5, 0, 0, 0, 0, 0, 0, 0])

    def pages(offset: int, limit: int) -> tuple[list[int], int]:
        # Support deletes records before the client's position between two requests.
        for _ in range(next(deleted_per_page, 0)):
            if offset > 0 and live:
                del live[0]
        return live[offset : offset + limit], len(live)

    paginator = OffsetPaginator(100)
    emitted = drain(paginator, pages)
    assert emitted == sorted(set(emitted)), "emitted twice or out of order"
    assert set(live) <= set(emitted), "a record that survived the whole sync was skipped"
    assert paginator.backoffs > 0, "the shift was not detected"


def test_inserts_while_paging_are_picked_up_once():
    live = list(range(1, 301))
    next_id = iter(range(1000, 2000))

    def pages(offset: int, limit: int) -> tuple[list[int], int]:
        live.extend(next(next_id) for _ in range(7))  # new ids land at the end
        return live[offset : offset + limit], len(live)

    paginator = OffsetPaginator(100)
    emitted = drain(paginator, pages)
    assert emitted == sorted(set(emitted))
    assert set(range(1, 301)) <= set(emitted)


def test_page_size_one_pages_without_overlap():
    ids = [3, 5, 8]
    assert drain(OffsetPaginator(1), static_list(ids)) == ids


def test_loop_guard_trips_when_the_api_ignores_offset_and_has_no_total():
    def pages(_offset: int, limit: int) -> tuple[list[int], None]:
        return list(range(1, limit + 1)), None  # always the first page

    with pytest.raises(PaginationError, match="no progress"):
        drain(OffsetPaginator(10), pages)


def test_unsorted_page_is_an_error():
    with pytest.raises(PaginationError, match="not sorted"):
        OffsetPaginator(10).advance([3, 2, 1], 3)


def capped_list(ids: list[int], cap: int, *, report_limit: bool):
    """A list whose API serves at most `cap` records a page, saying so in meta.limit or not."""

    def pages(offset: int, limit: int) -> tuple[list[int], int, int | None]:
        served = min(limit, cap)
        return ids[offset : offset + served], len(ids), served if report_limit else None

    return pages


def drain_capped(paginator: OffsetPaginator, pages) -> list[int]:
    emitted: list[int] = []
    for _ in range(1000):
        if paginator.finished:
            return emitted
        ids, total, limit = pages(paginator.current_value, paginator.page_size)
        start = paginator.advance(ids, total, limit)
        emitted.extend(ids[start:])
    pytest.fail("paginator did not finish")


@pytest.mark.parametrize("report_limit", [True, False])
def test_a_page_short_of_meta_total_is_not_the_end_when_the_api_caps_limit(report_limit):
    ids = list(range(1, 301))
    paginator = OffsetPaginator(100)
    assert drain_capped(paginator, capped_list(ids, 37, report_limit=report_limit)) == ids
    assert paginator.served == 37
    # 37 new ids on the first page, 36 on each after it (one record of overlap).
    assert paginator.pages == 1 + -(-(300 - 37) // 36)


def test_prefetch_plan_steps_by_the_page_size_the_api_serves():
    paginator = OffsetPaginator(100)
    paginator.advance(list(range(1, 38)), 300, 37)
    assert paginator.current_value == 36
    assert paginator.planned_offsets(300, 36, 3) == [72, 108, 144]


def test_a_cap_of_one_record_per_page_still_reads_every_id():
    ids = list(range(5, 25))
    paginator = OffsetPaginator(100)
    assert drain_capped(paginator, capped_list(ids, 1, report_limit=True)) == ids
    assert paginator.pages == len(ids)


def test_an_api_that_serves_nothing_before_meta_total_stops_with_one_error():
    def pages(offset: int, _limit: int) -> tuple[list[int], int, None]:
        return ([1, 2, 3] if offset == 0 else []), 500, None

    with pytest.raises(PaginationError, match="made no progress"):
        drain_capped(OffsetPaginator(3), pages)


@pytest.mark.parametrize(
    ("ids", "after_id", "past"),
    [
        (list(range(1, 301)), 300, False),  # caught up: the newest id is the bookmark
        (list(range(1, 301)), 250, False),  # new records after the bookmark
        (list(range(1, 301)), 301, True),  # the newest listed id is below the bookmark
        (list(range(1, 301)), 10**12, True),  # a state from another platform
        ([], 5, True),  # the list is empty (meta.total 0)
        (list(range(1, 301)), None, False),  # no bookmark: nothing to be past
    ],
)
def test_a_finished_read_says_whether_the_bookmark_is_past_every_listed_id(ids, after_id, past):
    paginator = OffsetPaginator(100, after_id=after_id, offset_hint=250)
    drain(paginator, static_list(ids))
    assert paginator.bookmark_past_the_list is past
    assert paginator.newest_listed == (ids[-1] if ids else None)


def test_an_unfinished_read_never_says_the_bookmark_is_past_the_list():
    paginator = OffsetPaginator(100, after_id=10**12)
    paginator.advance(list(range(1, 101)), 300)
    assert not paginator.finished
    assert not paginator.bookmark_past_the_list
