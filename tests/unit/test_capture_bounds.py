"""The capture state holds ids of 64 bits at a cost by ids held, and refuses bombs in one line."""

from __future__ import annotations

import base64
import json
import random
import tracemalloc
import zlib

import pytest

from tap_mindzpay.capture import packing
from tap_mindzpay.capture.codec import IdSet, StatusMap
from tap_mindzpay.capture.packing import pack, pack_columns
from tap_mindzpay.capture.state import CaptureState, CaptureStateError, Flight, stamp_of
from tap_mindzpay.capture.statecheck import StateError, parse_state_text

STAMP = "2026-11-01T09:00:00-03:00"
#: Ids from a platform whose ids come from another range: past 32 bits, far apart.
SPARSE = [3, 17, 2**32, 2**32 + 5, 2**40, 2**40 + 999_983, 2**62 + 1, 2**63 - 1]


def test_status_map_round_trips_ids_of_64_bits_spread_over_the_whole_range():
    statuses = StatusMap()
    for index, record_id in enumerate(SPARSE):
        statuses.set(record_id, index % 3)
    encoded = statuses.encode()
    assert set(encoded) == {"labels", "ids", "codes"}  # sparse: a dense map would be 2**63 B
    again = StatusMap.decode(json.loads(json.dumps(encoded)))
    assert list(again) == SPARSE
    assert [again.get(i) for i in SPARSE] == [(True, i % 3) for i in range(len(SPARSE))]
    assert again.get(2**40 + 1) == (False, None)
    assert len(again) == len(SPARSE)


def test_status_map_memory_grows_with_ids_held_not_with_their_range():
    tracemalloc.start()
    try:
        statuses, seen = StatusMap(), IdSet()
        for index in range(2_000):
            record_id = 2**40 + index * 10_000_019  # a range of 2e10 ids
            statuses.set(record_id, 2)
            seen.add(record_id)
        held_bytes = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # About a hundred bytes per lone id; a byte per id of the range would be 20 GB.
    assert held_bytes < 2_000 * 250
    assert list(seen) == list(statuses)


def test_dense_ids_are_still_written_one_byte_per_id_from_base():
    statuses = StatusMap()
    for record_id in range(1_000, 3_000):
        statuses.set(record_id, record_id % 4)
    encoded = statuses.encode()
    assert encoded["base"] == 1_000
    assert len(zlib.decompress(base64.b64decode(str(encoded["codes"])))) == 2_000
    assert list(StatusMap.decode(encoded)) == list(range(1_000, 3_000))


def test_negative_ids_are_refused_with_one_line():
    with pytest.raises(ValueError, match=r"outside 0\.\.2"):
        StatusMap().set(-5, 2)
    with pytest.raises(ValueError, match=r"outside 0\.\.2"):
        IdSet().add(2**64)


def test_in_flight_of_64_bit_ids_and_minutes_before_1970_round_trip():
    statuses = StatusMap()
    flights = {
        7: Flight(stamp_of(STAMP), -5_000, 0, 2**40 + 3),
        2**40: Flight(stamp_of(STAMP), 29_000_000, -1, 0),
        2**63 - 1: Flight(stamp_of(None), 0, 29_000_001, 12),
    }
    for record_id in flights:
        statuses.set(record_id, 0)
    state = CaptureState(flights, None, None, statuses)
    partition: dict = {}
    state.write(partition)
    again = CaptureState.read(json.loads(json.dumps(partition)), "x")
    assert again.in_flight == flights


def test_in_flight_written_in_the_narrower_older_layout_still_reads():
    ids, stamps, since, checked = [5, 9], [1, 2], [100, 200], [0, 300]
    links = [-(2**63), 4]
    deltas = [5, 4]
    columns = pack_columns([deltas, stamps, since, checked, links], "IIIIq")
    statuses = StatusMap()
    for record_id in ids:
        statuses.set(record_id, 0)
    in_flight = {"count": 2, "columns": columns}
    raw = {"version": 2, "statuses": statuses.encode(), "in_flight": in_flight}
    state = CaptureState.read({"capture": raw}, "x")
    assert state.in_flight == {5: Flight(1, 100, 0, 0), 9: Flight(2, 200, 300, 13)}


def test_an_in_flight_id_without_a_status_is_read_with_status_none():
    state = CaptureState({4: Flight(1, 10, 0, 0)}, None, None, StatusMap())
    partition: dict = {}
    state.write(partition)
    partition["capture"]["statuses"] = None  # as an earlier version wrote mid-sweep
    again = CaptureState.read(partition, "x")
    assert again.statuses is not None
    assert again.statuses.get(4) == (True, None)


def _bomb(size: int) -> str:
    """Packed text that decompresses to `size` zero bytes (about a thousandth of it packed)."""
    inflate = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    parts = [inflate.compress(chunk) for _ in range(size >> 20)]
    return base64.b64encode(b"".join([*parts, inflate.flush()])).decode()


BOMB = _bomb(packing.MAX_UNPACKED_BYTES + (1 << 20))


@pytest.mark.parametrize(
    "capture",
    [
        {"version": 2, "statuses": {"base": 1, "labels": [2], "codes": BOMB}},
        {"version": 2, "statuses": {"labels": [2], "ids": BOMB, "codes": pack(b"\x01")}},
        {"version": 2, "statuses": None, "in_flight": {"count": 3, "columns": BOMB}},
        {"version": 2, "statuses": None, "in_flight": {"count": 10**12, "columns": BOMB}},
        {"version": 1, "known": BOMB},
    ],
    ids=["dense-statuses", "sparse-ids", "in-flight", "huge-count", "v1-known"],
)
def test_a_state_that_would_decompress_past_the_bound_fails_with_one_line(capture):
    with pytest.raises(CaptureStateError) as caught:
        CaptureState.read({"capture": capture}, "stream invoices, account acc_1")
    message = str(caught.value)
    assert "\n" not in message
    assert "stream invoices, account acc_1" in message


def test_a_state_nested_past_the_parser_fails_with_one_line():
    with pytest.raises(StateError, match="nested or sized beyond any state"):
        parse_state_text("[" * 200_000 + "]" * 200_000, "state.json")


@pytest.mark.parametrize("seed", range(6))
def test_status_map_behaves_as_a_dict_of_id_to_status_through_sets_discards_and_encoding(seed):
    rng = random.Random(seed)  # noqa: S311 - seeded test data
    model: dict[int, int] = {}
    statuses = StatusMap()
    base = rng.choice([0, 1_000, 2**32 - 300, 2**40])
    spread = rng.choice([3, 50, 5_000, 10**9])  # dense runs, near-dense, sparse, very sparse
    for _ in range(3_000):
        record_id = base + rng.randrange(spread) * rng.choice([1, 1, 1, 7])
        if rng.random() < 0.2:
            statuses.discard(record_id)
            model.pop(record_id, None)
        else:
            status = rng.randrange(4)
            statuses.set(record_id, status)
            model[record_id] = status
    for candidate in (*model, base - 1, base + spread * 8):
        expected = (candidate in model, model.get(candidate))
        assert statuses.get(candidate) == expected
    assert list(statuses) == sorted(model)
    assert len(statuses) == len(model)
    again = StatusMap.decode(json.loads(json.dumps(statuses.encode())))
    assert [(i, again.get(i)[1]) for i in again] == sorted(model.items())
    assert len(again) == len(model)


def _round_trip(statuses: StatusMap) -> list[tuple[int, object]]:
    again = StatusMap.decode(json.loads(json.dumps(statuses.encode())))
    return [(i, again.get(i)[1]) for i in again]


@pytest.mark.parametrize("seed", range(4))
def test_an_encoding_kept_between_changes_always_says_what_the_map_holds(seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 - seeded test data
    model: dict[int, int] = {}
    statuses = StatusMap()
    for step in range(600):
        record_id = rng.randrange(200) * rng.choice([1, 1, 1000])
        if rng.random() < 0.2:
            statuses.discard(record_id)
            model.pop(record_id, None)
        else:
            statuses.set(record_id, model.setdefault(record_id, rng.randrange(3)))  # often same
            if rng.random() < 0.3:
                model[record_id] = rng.randrange(5)  # a new status, sometimes a new label
                statuses.set(record_id, model[record_id])
        assert _round_trip(statuses) == sorted(model.items()), step
        if step % 97 == 0:  # read back, as the next run does
            statuses = StatusMap.decode(json.loads(json.dumps(statuses.encode())))


def test_a_map_read_and_not_changed_encodes_to_what_it_was_read_from() -> None:
    statuses = StatusMap()
    for record_id in range(100, 3_000):
        statuses.set(record_id, record_id % 3)
    written = json.loads(json.dumps(statuses.encode()))
    read = StatusMap.decode(written)
    for record_id in range(100, 3_000):
        read.set(record_id, record_id % 3)  # what a sweep of an unchanged list does
    assert read.encode() == written
    read.set(5, 1)
    assert read.encode() != written
    assert _round_trip(read) == [(5, 1), *((i, i % 3) for i in range(100, 3_000))]


@pytest.mark.parametrize("seed", range(6))
def test_a_sparse_map_decodes_to_what_setting_its_ids_one_by_one_builds(seed: int) -> None:
    # Ids a few apart (accounts sharing one id sequence), runs of neighbours, chunk edges.
    draw = random.Random(seed)  # noqa: S311 - a seeded world, not a secret
    ids, record_id = [], draw.randrange(1, 10_000)
    for _ in range(3_000):
        record_id += draw.choice([1, 1, 2, 20, 255, 256, 257, 5_000])
        ids.append(record_id)
    one_by_one = StatusMap()
    for record_id in ids:
        one_by_one.set(record_id, draw.choice(["pending", "paid", "canceled"]))
    encoded = one_by_one.encode()
    assert "ids" in encoded, "the ids are spread far enough to be written sparse"
    decoded = StatusMap.decode(json.loads(json.dumps(encoded)))
    assert decoded.chunks == one_by_one.chunks
    assert decoded.lone == one_by_one.lone
    assert len(decoded) == len(one_by_one) == len(ids)
    assert list(decoded.items()) == list(one_by_one.items())
    assert decoded.encode() == encoded


def test_a_sparse_map_with_an_id_past_64_bits_or_an_id_without_status_is_refused() -> None:
    statuses = StatusMap(["paid"])
    statuses.set(5, "paid")
    statuses.set(2**62, "paid")
    encoded = statuses.encode()
    assert "ids" in encoded
    with pytest.raises(ValueError, match="sparse ids must ascend within 64 bits"):
        StatusMap.decode({**encoded, "ids": pack_columns([[5, 2**63]], "Q")})
    with pytest.raises(ValueError, match="each with a status"):
        StatusMap.decode({**encoded, "codes": pack(b"\x01\x00")})
