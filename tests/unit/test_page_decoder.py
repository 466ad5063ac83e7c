"""PageDecoder: list pages decoded with declared properties only and money as Decimal."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import msgspec
import pytest

from tap_mindzpay.conform import RecordShaper
from tap_mindzpay.decoding import UNDECLARED_CHECK_EVERY

PROPERTIES = {
    "id": {"type": ["integer"]},
    "amount": {"type": ["string", "null"]},
    "active": {"type": ["boolean", "null"]},
    "created_at": {"type": ["string", "null"], "format": "date-time"},
    "updated_at": {"type": ["string", "null"], "format": "date-time"},
}


def shaper(**config: object) -> RecordShaper:
    return RecordShaper(
        stream="invoices",
        properties=PROPERTIES,
        money_fields=("amount",),
        config=config,
        per_account=True,
        logger=logging.getLogger("test-page-decoder"),
    )


def page(*records: dict[str, object], total: int = 2) -> bytes:
    return json.dumps({"data": list(records), "meta": {"total": total, "limit": 100}}).encode()


RECORD = {"id": 1, "amount": "10.50", "active": 1, "created_at": "2026-01-01T00:00:00-03:00"}


def test_a_page_keeps_declared_properties_in_order_and_decodes_money():
    extra = {**RECORD, "nested": {"deep": [1, {"x": "y"}]}, "updated_at": None, "tags": ["a"]}
    body = shaper().page_decoder.decode(page(extra, {"id": 2, "amount": None}))
    assert body["meta"] == {"total": 2, "limit": 100}
    first, second = body["data"]
    assert list(first) == ["id", "amount", "active", "created_at", "updated_at"]
    assert first["amount"] == Decimal("10.50")
    assert str(first["amount"]) == "10.50"  # the exact text, as Decimal(str) gives
    assert second == {"id": 2, "amount": None}


def test_a_typed_page_shapes_to_the_record_a_plain_page_shapes_to():
    raw = {**RECORD, "amount": "1e3", "updated_at": "2026-01-02T00:00:00-03:00", "x": [1]}
    typed = shaper().page_decoder.decode(page(raw))["data"][0]
    plain = msgspec.json.decode(page(raw))["data"][0]
    assert shaper().shape(typed, conform=True) == shaper().shape(plain, conform=True)


@pytest.mark.parametrize(
    "body",
    [
        page({**RECORD, "amount": "dez reais"}),  # a malformed amount
        page({**RECORD, "amount": True}),
        b'{"data": [1, 2]}',  # records that are not objects
        b'{"data": {"id": 1}}',  # not a list
        b"[]",  # not an envelope
    ],
)
def test_a_page_not_of_the_declared_form_raises_for_the_plain_decoder_to_take(body: bytes):
    with pytest.raises(msgspec.DecodeError):
        shaper().page_decoder.decode(body)
    msgspec.json.decode(body)  # while it is JSON, which the plain path then judges


def test_undeclared_properties_are_warned_about_from_the_first_page_and_every_nth(
    caplog: pytest.LogCaptureFixture,
):
    decoder = shaper().page_decoder
    with caplog.at_level(logging.WARNING, logger="test-page-decoder"):
        decoder.decode(page({**RECORD, "extra_a": 1}))
        for _ in range(UNDECLARED_CHECK_EVERY - 1):
            decoder.decode(page({**RECORD, "extra_b": 1}))  # not read for names
        decoder.decode(page({**RECORD, "extra_c": 1}))  # the next read
        decoder.decode(page({**RECORD, "extra_a": 1}))  # a set already warned about
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 2
    assert "['extra_a']" in warned[0]
    assert "['extra_c']" in warned[1]
    # A new list read reads its first page again.
    decoder.restart()
    with caplog.at_level(logging.WARNING, logger="test-page-decoder"):
        decoder.decode(page({**RECORD, "extra_d": 1}))
    assert "['extra_d']" in caplog.records[-1].getMessage()
