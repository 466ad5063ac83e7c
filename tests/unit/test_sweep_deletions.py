"""The sweep deletes an unlisted id only once a GET answers 404, and never for start_date."""

from __future__ import annotations

import threading
from typing import Any

from tap_mindzpay.capture.codec import StatusMap
from tap_mindzpay.capture.engine import DELETED_AT, Engine
from tap_mindzpay.capture.state import CaptureState

STAMP = "2026-11-01T10:00:00-03:00"


def _record(record_id: int, status: int = 2, created: str = STAMP) -> dict[str, Any]:
    return {"id": record_id, "status": status, "updated_at": STAMP, "created_at": created}


class Api:
    """What a GET by id answers (``None``: 404), and which ids were asked, from any thread."""

    def __init__(self, records: dict[int, dict[str, Any]]) -> None:
        self.records = records
        self.asked: list[int] = []
        self.lock = threading.Lock()

    def get(self, record_id: int) -> dict[str, Any] | None:
        with self.lock:
            self.asked.append(record_id)
        return self.records.get(record_id)


def _engine(known: list[int], listed: list[dict[str, Any]], api: Api, **options: Any) -> Engine:
    statuses = StatusMap()
    for record_id in known:
        statuses.set(record_id, 2)
    state = CaptureState(sweep_hwm=STAMP, sweep_at="2026-11-01T13:00:00+00:00", statuses=statuses)
    return Engine(
        state=state,
        in_flight_rule=lambda r: r.get("status") == 0,
        fetch=lambda _id: None,
        page_all=lambda: iter(listed),
        checkpoint=lambda **_: None,
        confirm=api.get,
        max_concurrency=3,
        **options,
    )


def test_an_unlisted_id_is_deleted_only_when_its_get_answers_404():
    known = list(range(1, 11))
    listed = [_record(i) for i in known if i not in (4, 7)]
    api = Api({7: _record(7, status=0)})  # 4 is gone; 7 is there (the list missed it)
    engine = _engine(known, listed, api)
    out = list(engine.sweep(emit_all=False))
    assert sorted(api.asked) == [4, 7]
    deletions = [r for r in out if DELETED_AT in r]
    assert [r["id"] for r in deletions] == [4]
    assert _record(7, status=0) in out  # emitted as it is
    statuses = engine.state.statuses
    assert statuses is not None
    assert 7 in statuses
    assert 4 not in statuses
    assert 7 in engine.state.in_flight  # kept in flight: its status 0 may still move
    assert engine.counts["unlisted"] == 2
    assert engine.counts["unlisted_present"] == 1
    assert engine.counts["deleted"] == 1


def test_a_sweep_missing_over_a_tenth_of_a_partition_says_so_in_one_warning():
    known = list(range(1, 101))
    listed = [_record(i) for i in known[:80]]
    api = Api({i: _record(i) for i in range(81, 101) if i % 2})
    warnings: list[str] = []
    engine = _engine(known, listed, api, warn=warnings.append, where="stream invoices, account a")
    out = list(engine.sweep(emit_all=False))
    assert len(warnings) == 1
    assert warnings[0] == (
        "stream invoices, account a: the sweep did not list 20 of 100 known ids (20%); a GET of "
        "each found 10 deleted (marked _sdc_deleted_at) and 10 still there (kept)"
    )
    assert len([r for r in out if DELETED_AT in r]) == 10


def test_a_sweep_missing_a_few_ids_warns_of_nothing():
    known = list(range(1, 101))
    warnings: list[str] = []
    engine = _engine(known, [_record(i) for i in known[1:]], Api({}), warn=warnings.append)
    out = list(engine.sweep(emit_all=False))
    assert [r["id"] for r in out if DELETED_AT in r] == [1]
    assert warnings == []


def test_records_before_start_date_are_never_deleted_nor_emitted():
    old = "2025-01-01T00:00:00-03:00"
    known = [1, 2, 3, 4]
    listed = [_record(1, created=old), _record(2, created=old), _record(3), _record(4)]
    api = Api({})
    engine = _engine(known, listed, api, predates_start=lambda r: r["created_at"] == old)
    out = list(engine.sweep(emit_all=True))
    assert [r["id"] for r in out] == [3, 4]
    assert api.asked == []  # they were listed: nothing to confirm, nothing deleted
    assert list(engine.state.statuses or []) == [3, 4]


def test_a_state_written_at_any_record_of_a_sweep_or_an_upgrade_reads_back():
    # A state from before change capture (no statuses), upgraded by a sweep: records enter the
    # in-flight set as the sweep reads them, and the SDK may write STATE after any of them.
    listed = [_record(i, status=i % 3) for i in range(1, 40)]
    engine = Engine(
        state=CaptureState(),
        in_flight_rule=lambda r: r.get("status") == 0,
        fetch=lambda _id: None,
        page_all=lambda: iter(listed),
        checkpoint=lambda **_: None,
    )
    read_back = 0
    for record in listed[:10]:
        engine.observe_new(record)
        partition: dict[str, Any] = {}
        engine.state.write(partition)
        assert CaptureState.read(partition, "x").in_flight == engine.state.in_flight
        read_back += 1
    for _ in engine.sweep(emit_all=True):
        partition = {}
        engine.state.write(partition)
        again = CaptureState.read(partition, "x")
        assert again.in_flight == engine.state.in_flight
        read_back += 1
    assert read_back == 10 + len(listed)
