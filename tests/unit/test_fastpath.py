"""The fast record path is taken only where the SDK's record steps are the identity.

Which streams take it (`identity_record_path`, `MindzPayStream._record_writer`) under the
default settings, stream maps, flattening, a catalog deselecting a property, and the plain-SDK
switches; and `RecordWriter` writes the SDK's own bytes for RECORD and STATE messages.
"""

from __future__ import annotations

import io
import json
import sys
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from helpers.streams import MINDZPAY_STREAMS
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.io_base import SingerWriter
from singer_sdk.singerlib import Catalog
from singer_sdk.singerlib.messages import RecordMessage, StateMessage

from tap_mindzpay import client
from tap_mindzpay.fastpath import identity_record_path
from tap_mindzpay.recordwriter import PIPE_BUF, RecordWriter
from tap_mindzpay.tap import TapMindzPay

CONFIG = {"api_url": "http://127.0.0.1:9/api/v2", "client_id": "app", "client_secret": "s"}
STREAMS = MINDZPAY_STREAMS
EXTRACTED = datetime(2026, 11, 29, 20, 0, 1, 123456, tzinfo=timezone.utc)


def make_tap(catalog: dict[str, Any] | None = None, **config: Any) -> TapMindzPay:
    return TapMindzPay(config={**CONFIG, **config}, catalog=catalog, parse_env_config=False)


def fast(tap: TapMindzPay) -> dict[str, bool]:
    streams = tap.streams
    return {
        name: cast_stream(streams[name])._record_writer() is not None  # noqa: SLF001
        for name in STREAMS
    }


def cast_stream(stream: object) -> client.MindzPayStream:
    assert isinstance(stream, client.MindzPayStream)
    return stream


def catalog_deselecting(stream: str, prop: str | None) -> dict[str, Any]:
    """The discovered catalog, every stream selected, ``prop`` of ``stream`` deselected."""
    catalog = make_tap().catalog_dict
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if not meta["breadcrumb"]:
                meta["metadata"]["selected"] = True
            elif entry["tap_stream_id"] == stream and meta["breadcrumb"] == ["properties", prop]:
                meta["metadata"]["selected"] = False
    return catalog


def test_every_stream_takes_the_fast_path_with_default_settings():
    tap = make_tap()
    assert isinstance(tap.message_writer, RecordWriter)
    assert fast(tap) == dict.fromkeys(STREAMS, True)
    assert all(identity_record_path(tap.streams[name]) for name in STREAMS)


def test_a_stream_map_sends_that_stream_and_only_it_to_the_sdk_path():
    tap = make_tap(stream_maps={"invoices": {"file_url": None}})
    assert fast(tap) == {**dict.fromkeys(STREAMS, True), "invoices": False}


def test_an_aliased_or_filtered_stream_takes_the_sdk_path():
    tap = make_tap(
        stream_maps={
            "payments": {"__alias__": "payments_renamed"},
            "subscriptions": {"__filter__": "id % 2 == 0"},
        }
    )
    assert fast(tap) == {
        "accounts": True,
        "invoices": True,
        "payments": False,
        "subscriptions": False,
    }


def test_a_stream_map_copying_a_stream_takes_the_sdk_path_for_the_source():
    tap = make_tap(stream_maps={"invoices_copy": {"__source__": "invoices"}})
    assert fast(tap)["invoices"] is False


def test_flattening_sends_every_stream_to_the_sdk_path():
    tap = make_tap(flattening_enabled=True, flattening_max_depth=1)
    assert fast(tap) == dict.fromkeys(STREAMS, False)


def test_a_deselected_property_sends_its_stream_to_the_sdk_path():
    tap = make_tap(catalog=catalog_deselecting("invoices", "file_url"))
    assert fast(tap) == {**dict.fromkeys(STREAMS, True), "invoices": False}


def test_a_catalog_schema_other_than_the_streams_gets_the_sdks_conformance():
    catalog = catalog_deselecting("invoices", None)
    entry = next(e for e in catalog["streams"] if e["tap_stream_id"] == "payments")
    del entry["schema"]["properties"]["fee"]
    tap = make_tap(catalog=catalog)
    payments = cast_stream(tap.streams["payments"])
    payments._conform_to_catalog_schema()  # noqa: SLF001 - what _sync_records runs first
    assert payments.TYPE_CONFORMANCE_LEVEL.name == "RECURSIVE"
    assert not identity_record_path(payments)
    assert fast(tap)["payments"] is False


def test_the_plain_sdk_switches_turn_the_fast_path_off(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(client.MindzPayStream, "fast_records", False)
    assert fast(make_tap()) == dict.fromkeys(STREAMS, False)
    monkeypatch.undo()
    monkeypatch.setattr(TapMindzPay, "message_writer_class", SingerWriter)
    assert fast(make_tap()) == dict.fromkeys(STREAMS, False)
    monkeypatch.undo()
    monkeypatch.setattr(client.MindzPayStream, "fast_conformance", False)
    assert fast(make_tap()) == dict.fromkeys(STREAMS, False)


class _Stdout(io.TextIOWrapper):
    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8")

    def value(self) -> bytes:
        self.flush()
        raw = self.buffer
        assert isinstance(raw, io.BytesIO)
        return raw.getvalue()


def written(monkeypatch: pytest.MonkeyPatch, write: Any) -> bytes:
    stdout = _Stdout()
    monkeypatch.setattr(sys, "stdout", stdout)
    write()
    monkeypatch.undo()
    return stdout.value()


@pytest.mark.parametrize("version", [None, 1764446401])
def test_record_writer_writes_the_sdks_record_line_byte_for_byte(
    monkeypatch: pytest.MonkeyPatch, version: int | None
):
    record = {"id": 7, "amount": Decimal("1234.50"), "nfe_id": None, "active": True, "x": 1.5}
    writer = RecordWriter()

    def write_and_flush() -> None:
        writer.write_record("invoices", record, version, EXTRACTED)
        writer.flush_records()

    ours = written(monkeypatch, write_and_flush)
    message = RecordMessage(
        stream="invoices", record=record, version=version, time_extracted=EXTRACTED
    )
    sdk = written(monkeypatch, lambda: MsgSpecWriter().write_message(message))
    assert ours == sdk
    assert b'"amount":1234.50' in ours


class _Writes:
    """A stdout that keeps the bytes of every write that reaches it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.buffer = self

    def write(self, data: bytes | bytearray) -> int:
        self.writes.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


def test_record_lines_reach_stdout_in_whole_lines_of_at_most_pipe_buf_before_any_message(
    monkeypatch: pytest.MonkeyPatch,
):
    stdout = _Writes()
    monkeypatch.setattr(sys, "stdout", stdout)
    writer = RecordWriter()
    for record_id in range(100):
        writer.write_record("invoices", {"id": record_id, "note": "x" * 90}, None, EXTRACTED)
    before_state = list(stdout.writes)
    writer.write_message(StateMessage(value={"bookmarks": {}}))
    monkeypatch.undo()
    assert 0 < len(before_state) < 100  # gathered: fewer writes than records
    assert all(len(chunk) <= PIPE_BUF and chunk.endswith(b"\n") for chunk in stdout.writes)
    lines = b"".join(stdout.writes).splitlines()
    assert [json.loads(line)["record"]["id"] for line in lines[:-1]] == list(range(100))
    assert json.loads(lines[-1])["type"] == "STATE"


def test_record_writer_writes_the_sdks_state_line_byte_for_byte(monkeypatch: pytest.MonkeyPatch):
    value = {
        "bookmarks": {
            "invoices": {
                "partitions": [
                    {
                        "context": {"account_id": 1, "account_key": "acc_x"},
                        "replication_key": "id",
                        "replication_key_value": 300,
                        "offset_hint": 200,
                        "capture": {"version": 1, "in_flight": {"7": [0, None]}},
                    }
                ]
            }
        }
    }
    message = StateMessage(value=value)
    ours = written(monkeypatch, lambda: RecordWriter().write_message(message))
    sdk = written(monkeypatch, lambda: MsgSpecWriter().write_message(message))
    assert ours == sdk
    assert ours.startswith(b'{"type":"STATE","value":{"bookmarks"')


def test_catalog_round_trips_for_the_deselection_fixture():
    # The fixture above really deselects the property (guards the test's own setup).
    catalog = Catalog.from_dict(catalog_deselecting("invoices", "file_url"))
    entry = catalog.get_stream("invoices")
    assert entry is not None
    assert entry.metadata.resolve_selection()[("properties", "file_url")] is False


def test_a_line_longer_than_pipe_buf_is_written_alone_in_order_with_each_records_time(
    monkeypatch: pytest.MonkeyPatch,
):
    stdout = _Writes()
    monkeypatch.setattr(sys, "stdout", stdout)
    writer = RecordWriter()
    later = EXTRACTED.replace(minute=EXTRACTED.minute + 1)
    for record_id in range(30):
        note = "y" * (PIPE_BUF + 100) if record_id == 12 else "x" * 300
        writer.write_record("invoices", {"id": record_id, "note": note}, 3, EXTRACTED)
        writer.write_record("payments", {"id": record_id}, None, later)
    writer.flush_records()
    monkeypatch.undo()
    big = [chunk for chunk in stdout.writes if len(chunk) > PIPE_BUF]
    assert len(big) == 1
    assert big[0].count(b"\n") == 1  # the long line, alone
    assert all(chunk.endswith(b"\n") for chunk in stdout.writes)
    messages = [json.loads(line) for line in b"".join(stdout.writes).splitlines()]
    expected = [
        (stream, record_id, version, when.isoformat().replace("+00:00", "Z"))
        for record_id in range(30)
        for stream, version, when in (("invoices", 3, EXTRACTED), ("payments", None, later))
    ]
    got = [
        (m["stream"], m["record"]["id"], m.get("version"), m["time_extracted"]) for m in messages
    ]
    assert got == expected
