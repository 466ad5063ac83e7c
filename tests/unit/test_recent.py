"""NewestFirstPaginator: the bookmark stop, and no lost change while the list moves under it."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from tap_mindzpay.read.paging import PaginationError
from tap_mindzpay.read.recent import Key, NewestFirstPaginator

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)


class MovingList:
    """A platform list in memory, sorted by (updated_at, id) descending, as the sandbox pages it.

    `between_pages` runs after every page served: edits (a record jumps to the newest end),
    sign-ups (new records at the newest end) and deletions (the rest shifts towards the start).
    """

    def __init__(self, size: int, seed: int) -> None:
        self.updated = {i: T0 + timedelta(seconds=i) for i in range(1, size + 1)}
        self.now = T0 + timedelta(seconds=size)
        self.next_id = size + 1
        self.rng = random.Random(seed)  # noqa: S311 - test data, not secrets
        self.moves = 0

    def keys(self) -> list[Key]:
        return sorted(((u, i) for i, u in self.updated.items()), reverse=True)

    def page(self, offset: int, limit: int) -> tuple[list[Key], int]:
        keys = self.keys()
        served = keys[offset : offset + limit]
        for _ in range(self.moves):
            self.move()
        return served, len(keys)

    def move(self) -> None:
        kind = self.rng.randrange(3)
        self.now += timedelta(seconds=self.rng.choice([0, 1]))  # edits in the same second too
        ids = sorted(self.updated)
        if kind == 0 and ids:
            self.updated[self.rng.choice(ids)] = self.now
        elif kind == 1:
            self.updated[self.next_id] = self.now
            self.next_id += 1
        elif ids:
            del self.updated[self.rng.choice(ids)]


def read(paginator: NewestFirstPaginator, world: MovingList) -> list[Key]:
    """Run a paginator against `world`; return the keys it emitted."""
    emitted: list[Key] = []
    for _ in range(10_000):
        if paginator.finished:
            return emitted
        keys, total = world.page(paginator.current_value, paginator.page_size)
        start, end = paginator.advance(keys, total)
        emitted.extend(keys[start:end])
    pytest.fail("paginator did not finish")


def test_reads_a_static_list_once_newest_first():
    world = MovingList(250, seed=1)
    paginator = NewestFirstPaginator(100)
    assert read(paginator, world) == world.keys()
    assert paginator.pages == 3  # 100 + 99 + 51: one record of overlap per page
    assert paginator.newest == T0 + timedelta(seconds=250)


def test_stops_at_the_first_record_older_than_the_bookmark_and_keeps_the_bookmark_instant():
    world = MovingList(1000, seed=1)
    since = T0 + timedelta(seconds=960)
    paginator = NewestFirstPaginator(100, since=since)
    emitted = read(paginator, world)
    assert [i for _, i in emitted] == list(range(1000, 959, -1))  # 960 itself read again
    assert paginator.pages == 1


def test_nothing_new_reads_one_page_and_emits_nothing_newer():
    world = MovingList(1000, seed=1)
    paginator = NewestFirstPaginator(100, since=T0 + timedelta(seconds=1000))
    assert [i for _, i in read(paginator, world)] == [1000]
    assert paginator.pages == 1


def two_reads(seed: int) -> tuple[MovingList, dict[int, datetime], int]:
    """A read while the list moves after every page, then a read from its bookmark.

    Returns the list, what the two reads emitted folded by id (the last read wins), and how
    often the first read stepped back.
    """
    world = MovingList(400, seed=seed)
    world.moves = 3
    first = NewestFirstPaginator(20)
    emitted = read(first, world)
    world.moves = 0
    emitted += read(NewestFirstPaginator(20, since=first.newest), world)
    return world, {record_id: updated for updated, record_id in emitted}, first.backoffs


@pytest.mark.parametrize("seed", range(40))
def test_a_list_that_moves_while_paging_loses_no_change_by_the_next_read(seed: int):
    """Edits, sign-ups and deletions after every page: this read and the next hold them all."""
    world, folded, _ = two_reads(seed)
    assert {i: folded.get(i) for i in world.updated} == world.updated


def test_deletions_while_paging_make_the_guard_step_back():
    assert sum(two_reads(seed)[2] for seed in range(40)) > 0


def test_a_deletion_before_the_position_is_seen_by_the_overlap_and_re_read():
    world = MovingList(10, seed=3)
    keys = world.keys()
    paginator = NewestFirstPaginator(5)
    assert paginator.advance(keys[0:5], 10) == (0, 5)
    del world.updated[keys[1][1]]  # the rest shifts by one: keys[5] now sits at offset 4
    page, total = world.page(paginator.current_value, 5)
    assert page[0] == keys[5]
    start, end = paginator.advance(page, total)
    assert start == end  # unanchored: nothing emitted, step back
    assert (paginator.backoffs, paginator.current_value) == (1, 0)
    emitted = keys[0:5]
    while not paginator.finished:
        page, total = world.page(paginator.current_value, 5)
        start, end = paginator.advance(page, total)
        emitted += page[start:end]
    assert emitted == keys  # each once, the deleted one read before it went


def test_a_page_not_sorted_newest_first_is_an_error():
    paginator = NewestFirstPaginator(10)
    with pytest.raises(PaginationError, match="not sorted by updated_at descending"):
        paginator.advance([(T0, 1), (T0 + timedelta(seconds=1), 2)], 2)


def test_newest_first_read_does_not_end_on_a_page_capped_below_the_limit():
    records = [(T0 + timedelta(seconds=i), i) for i in range(200, 0, -1)]
    paginator = NewestFirstPaginator(100)
    emitted = []
    while not paginator.finished:
        offset = paginator.current_value
        page = records[offset : offset + 37]
        start, end = paginator.advance(page, len(records), 37)
        emitted += page[start:end]
    assert emitted == records
    assert paginator.served == 37
