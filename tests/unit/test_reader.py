"""ListReader built from its explicit parts over an in-memory list API: no stream, no HTTP."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pytest

from tap_mindzpay import endpoints
from tap_mindzpay.errors import MalformedRecordError, MindzPayAPIError
from tap_mindzpay.run.progress import PartitionReport
from tests.helpers.listapi import CONTEXT, URL, InMemoryApi, list_source

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tap_mindzpay.read.reader import ListReader

LOGGER = logging.getLogger("tests.reader")
STAMP = "2026-11-01T10:00:00-03:00"
UNTRACKABLE = (
    "is not a positive integer of at most 64 bits, as the API's ids are; the tap cannot track it"
)
IDS = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]


def invoice(record_id: int, status: int = 2) -> dict[str, Any]:
    """An invoice as the API lists it."""
    return {"id": record_id, "status": status, "updated_at": STAMP, "total": record_id * 100}


class ListApi(InMemoryApi):
    """An id-ascending list served by ``limit``/``offset``, and its records by id.

    ``serve_at_most`` caps the page the API serves (``say_limit``: and says so in
    ``meta.limit``); ``after_page`` runs after each list page is cut, with its offset, under
    the lock (a shift between pages); ``body`` replaces every answer when set.
    """

    def __init__(self, records: list[dict[str, Any]]) -> None:
        super().__init__()
        self.records = list(records)
        self.calls: list[tuple[str, str, dict[str, Any] | None, bool]] = []
        self.serve_at_most: int | None = None
        self.say_limit = True
        self.after_page: Callable[[int], None] = lambda _offset: None
        self.body: object = None

    def answer(
        self, method: str, url: str, params: dict[str, Any] | None, *, not_found_ok: bool
    ) -> Any:
        """A list page, a record by id (``None``: 404 with ``not_found_ok``) or ``body``."""
        self.calls.append((method, url, params, not_found_ok))
        if self.body is not None:
            return self.body
        if url == URL:
            return self._page(params or {})
        record_id = int(url.removeprefix(URL + "/").split("/")[0])
        found = next((r for r in self.records if r["id"] == record_id), None)
        if found is None and not not_found_ok:
            msg = f"404 {url}"
            raise MindzPayAPIError(msg)
        return None if found is None else dict(found)

    def _page(self, params: dict[str, Any]) -> dict[str, Any]:
        limit, offset = params["limit"], params["offset"]
        served = min(limit, self.serve_at_most or limit)
        page = [dict(r) for r in self.records[offset : offset + served]]
        meta: dict[str, Any] = {"total": len(self.records), "offset": offset}
        if self.say_limit:
            meta["limit"] = served
        self.after_page(offset)
        return {"data": page, "meta": meta}

    def list_offsets(self) -> list[int]:
        """The offsets of the list requests made, in order."""
        return [params["offset"] for _, url, params, _ in self.calls if url == URL and params]

    def remove(self, *ids: int) -> None:
        """Delete records (the caller holds the lock or is the only thread)."""
        self.records = [r for r in self.records if r["id"] not in ids]


def make_reader(
    api: ListApi,
    page_size: int = 3,
    depth: int = 1,
    on_page: Callable[[], None] = lambda: None,
) -> ListReader:
    """A reader of ``URL`` over ``api``, with a real report on a fixed clock."""
    source = list_source(api, page_size=page_size, depth=depth, logger=LOGGER)
    report = PartitionReport("invoices", "acc_1", clock=lambda: 0.0)
    return source.reader(URL, CONTEXT, report, on_page=on_page)


def flat(pages: Iterator[tuple[int, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """The records of ``(offset, records)`` pages, in order."""
    return [record for _, records in pages for record in records]


def test_new_after_no_bookmark_reads_every_record_in_id_order_one_overlapping_page_at_a_time():
    api = ListApi([invoice(i) for i in IDS])
    reader = make_reader(api)
    pages = list(reader.new_after(None, None))
    assert pages == [
        (0, [invoice(10), invoice(20), invoice(30)]),
        (2, [invoice(40), invoice(50)]),
        (4, [invoice(60), invoice(70)]),
        (6, [invoice(80), invoice(90)]),
        (8, [invoice(100)]),
    ]
    assert api.calls == [
        ("GET", URL, {"limit": 3, "offset": o, "sort_by": "id", "sort_direction": "asc"}, False)
        for o in (0, 2, 4, 6, 8)
    ]
    assert (reader.report.pages, reader.report.done, reader.report.total) == (5, 10, 10)


@pytest.mark.parametrize(
    "hint",
    [None, 0, 1, 3, 4, 5, 9, 10, 50],
    ids=lambda h: f"hint-{h}",
)
def test_new_after_a_bookmark_yields_exactly_the_records_after_it_whatever_the_offset_hint(hint):
    # Id 40 sits at offset 3: a hint of 3 is exact, 0 and 1 are early, 4 and up are past the
    # first new record (stale: records before it were deleted since), 10 and 50 past the end.
    api = ListApi([invoice(i) for i in IDS])
    records = flat(make_reader(api).new_after(40, hint))
    assert records == [invoice(i) for i in IDS if i > 40]


def test_new_after_a_bookmark_past_the_newest_record_reads_nothing_and_says_so(caplog):
    api = ListApi([invoice(i) for i in IDS])
    with caplog.at_level(logging.WARNING, logger="tests.reader"):
        records = flat(make_reader(api).new_after(500, 8))
    assert records == []
    assert [r.getMessage() for r in caplog.records] == [
        (
            "The bookmark of stream invoices, account acc_1 (id 500) is after the newest record "
            "the API listed (id 100); no new record is read until the API's ids pass it - check "
            "that the state belongs to this platform (or the newest records were deleted)"
        )
    ]


@pytest.mark.parametrize("depth", [1, 4])
def test_records_deleted_before_the_position_between_pages_lose_and_repeat_nothing(depth):
    api = ListApi([invoice(i) for i in IDS])

    def delete_after_first_page(offset: int) -> None:
        if offset == 0:
            api.remove(20, 30)  # the list shifts left by two under the reader

    api.after_page = delete_after_first_page
    records = flat(make_reader(api, depth=depth).new_after(None, None))
    # 10, 20 and 30 were read before the deletion; nothing after them is skipped or repeated.
    assert records == [invoice(i) for i in IDS]
    if depth == 1:
        # The page at offset 2 started past 30 (unanchored): the reader backed off to 0.
        assert api.list_offsets() == [0, 2, 0, 2, 4, 6]


def test_records_deleted_after_a_page_at_a_bookmark_hint_lose_nothing_after_the_bookmark():
    api = ListApi([invoice(i) for i in IDS])

    def delete_after_hinted_page(offset: int) -> None:
        if offset == 3:
            api.remove(10, 20, 30, 40)  # everything up to the bookmark's record is gone

    api.after_page = delete_after_hinted_page
    records = flat(make_reader(api).new_after(40, 3))
    assert records == [invoice(i) for i in IDS if i > 40]


@pytest.mark.parametrize("depth", [1, 4])
def test_every_yields_every_record_in_id_order_as_a_sweep(depth):
    api = ListApi([invoice(i) for i in IDS])
    reader = make_reader(api, depth=depth)
    assert list(reader.every()) == [invoice(i) for i in IDS]
    assert sorted(api.list_offsets()) == [0, 2, 4, 6, 8]
    assert (reader.report.phase, reader.report.pages, reader.report.done) == ("sweep", 5, 10)


def test_one_returns_the_record_by_a_get_of_its_id_and_none_on_a_404():
    api = ListApi([invoice(i) for i in IDS])
    reader = make_reader(api)
    assert reader.one(30) == invoice(30)
    assert reader.one(35) is None
    assert api.calls == [("GET", f"{URL}/30", None, True), ("GET", f"{URL}/35", None, True)]
    assert reader.report.refresh_count == 0  # a GET by id is not a refresh


def test_one_unwraps_a_record_answered_in_a_data_envelope():
    api = ListApi([])
    api.body = {"data": invoice(30)}
    assert make_reader(api).one(30) == invoice(30)


def test_refresh_sends_the_rules_method_on_its_suffix_and_counts_each_answer():
    api = ListApi([invoice(i, status=1) for i in IDS])
    reader = make_reader(api)
    assert reader.refresh(30, "POST", endpoints.INVOICE_REFRESH_SUFFIX) == invoice(30, status=1)
    assert reader.refresh(35, "POST", endpoints.INVOICE_REFRESH_SUFFIX) is None
    assert reader.refresh(40, "GET", endpoints.GET_ONE_SUFFIX) == invoice(40, status=1)
    assert api.calls == [
        ("POST", f"{URL}/30/refresh", None, True),
        ("POST", f"{URL}/35/refresh", None, True),
        ("GET", f"{URL}/40", None, True),
    ]
    assert reader.report.refresh_count == 3


@pytest.mark.parametrize(
    "body",
    [[invoice(10)], {"items": [invoice(10)]}, {"data": {"id": 10}}, "<html>busy</html>"],
    ids=["bare-list", "other-key", "data-not-a-list", "text"],
)
def test_a_list_answer_that_is_not_an_envelope_raises_one_line_naming_the_request(body):
    api = ListApi([])
    api.body = body
    with pytest.raises(MindzPayAPIError) as raised:
        list(make_reader(api).new_after(None, None))
    assert str(raised.value) == (
        f"GET {URL} did not return a list envelope {{'data': [...], 'meta': {{...}}}}"
    )


@pytest.mark.parametrize("body", [[invoice(10)], "gone", {"data": [invoice(10)]}])
def test_a_record_answer_that_is_not_a_record_raises_one_line_naming_the_path(body):
    api = ListApi([])
    api.body = body
    reader = make_reader(api)
    with pytest.raises(MindzPayAPIError) as raised:
        reader.refresh(10, "POST", endpoints.INVOICE_REFRESH_SUFFIX)
    assert str(raised.value) == "POST /v1/accounts/1/invoices/10/refresh did not return a record"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"status": 2}, "a record has no integer id: {'status': 2}"),
        ({"id": "30"}, "a record has no integer id: {'id': '30'}"),
        ({"id": True}, "a record has no integer id: {'id': True}"),
        ({"id": 3.0}, "a record has no integer id: {'id': 3.0}"),
        ("30", "a record has no integer id: 30"),
        ({"id": 0}, f"record id 0 {UNTRACKABLE}"),
        ({"id": 2**63}, f"record id {2**63} {UNTRACKABLE}"),
    ],
    ids=["no-id", "text-id", "bool-id", "float-id", "not-a-dict", "zero", "too-large"],
)
def test_a_listed_record_with_a_bad_id_raises_malformed_record_naming_the_stream(bad, message):
    api = ListApi([])
    api.body = {"data": [invoice(5), bad], "meta": {"total": 2, "limit": 3}}
    with pytest.raises(MalformedRecordError) as raised:
        list(make_reader(api).every())
    assert str(raised.value) == f"stream invoices: {message}"


@pytest.mark.parametrize("say_limit", [True, False], ids=["meta-limit", "short-page"])
def test_the_page_step_follows_the_size_the_api_serves_when_it_serves_fewer_than_asked(say_limit):
    api = ListApi([invoice(i) for i in IDS])
    api.serve_at_most = 3
    api.say_limit = say_limit
    reader = make_reader(api, page_size=5)
    assert list(reader.every()) == [invoice(i) for i in IDS]
    # Asked for 5, served 3: each next page starts 3 - 1 (the overlap) further on.
    assert api.list_offsets() == [0, 2, 4, 6, 8]
    assert {params["limit"] for _, _, params, _ in api.calls if params} == {5}


def test_on_page_is_called_once_per_list_page_read_re_reads_included():
    api = ListApi([invoice(i) for i in IDS])

    def delete_after_first_page(offset: int) -> None:
        if offset == 0 and len(api.records) == len(IDS):
            api.remove(20, 30)

    api.after_page = delete_after_first_page
    pages: list[int] = []
    reader = make_reader(api, on_page=lambda: pages.append(len(api.calls)))
    records = flat(reader.new_after(None, None))
    assert records == [invoice(i) for i in IDS]
    # One call per page read, each after its request: the back-off re-read at 0 counts.
    assert pages == [1, 2, 3, 4, 5, 6]
    assert reader.report.pages == 6
