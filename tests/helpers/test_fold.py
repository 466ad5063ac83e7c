"""The folding and truth comparison every end-to-end test relies on, on hand-made records."""

from __future__ import annotations

from decimal import Decimal

import pytest

from helpers.fold import compare_with_truth, fold, fold_messages, values_equal

TRUTH = [
    {"id": 1, "amount": "10.50", "status": 2, "updated_at": "2026-11-23T18:16:17-03:00"},
    {"id": 2, "amount": "0.10", "status": 0, "updated_at": "2026-11-23T18:20:00-03:00"},
]


def test_fold_keeps_the_last_record_of_each_key() -> None:
    folded = fold([{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 1, "v": "c"}], ["id"])
    assert folded == {(1,): {"id": 1, "v": "c"}, (2,): {"id": 2, "v": "b"}}


def test_fold_messages_uses_schema_key_properties_per_stream() -> None:
    messages = [
        {"type": "SCHEMA", "stream": "s", "schema": {}, "key_properties": ["a", "b"]},
        {"type": "RECORD", "stream": "s", "record": {"a": 1, "b": 1, "v": 1}},
        {"type": "STATE", "value": {}},
        {"type": "RECORD", "stream": "s", "record": {"a": 1, "b": 1, "v": 2}},
        {"type": "RECORD", "stream": "s", "record": {"a": 1, "b": 2, "v": 3}},
    ]
    assert fold_messages(messages)["s"] == {
        (1, 1): {"a": 1, "b": 1, "v": 2},
        (1, 2): {"a": 1, "b": 2, "v": 3},
    }


def test_fold_rejects_records_with_null_primary_key() -> None:
    with pytest.raises(AssertionError, match="null primary key"):
        fold([{"id": None}], ["id"])


def test_money_compares_as_decimal_whatever_its_json_spelling() -> None:
    assert values_equal("10.50", Decimal("10.5"))
    assert values_equal("10.50", "10.50")
    assert values_equal("10.00", 10)
    assert not values_equal("10.50", Decimal("10.51"))
    assert not values_equal("0.10", 0.1000001)


def test_timestamps_compare_as_same_instant_and_same_offset() -> None:
    assert values_equal("2026-11-23T18:16:17-03:00", "2026-11-23T18:16:17.000-03:00")
    # Same instant, but the offset was lost on the way: a finding under the house style.
    assert not values_equal("2026-11-23T18:16:17-03:00", "2026-11-23T21:16:17+00:00")
    assert values_equal("2026-11-23T18:16:17-03:00", "2026-11-23T21:16:17+00:00", same_offset=False)
    assert not values_equal("2026-11-23T18:16:17-03:00", "2026-11-23T18:16:17")


def test_booleans_and_integers_are_not_interchangeable() -> None:
    assert not values_equal(True, 1)  # noqa: FBT003
    assert not values_equal(0, False)  # noqa: FBT003
    assert values_equal(None, None)
    assert not values_equal(None, 0)


def test_comparison_reports_missing_extra_and_stale_records_precisely() -> None:
    landed = fold(
        [
            {"id": 1, "amount": Decimal("10.5"), "status": 1, "updated_at": TRUTH[0]["updated_at"]},
            {"id": 3, "amount": Decimal(1), "status": 0, "updated_at": TRUTH[1]["updated_at"]},
        ],
        ["id"],
    )
    comparison = compare_with_truth("invoices", landed, TRUTH, ["id"])
    assert not comparison.ok
    assert comparison.missing == [(2,)]
    assert comparison.extra == [(3,)]
    assert [(m.key, m.field, m.expected, m.actual) for m in comparison.stale] == [
        ((1,), "status", 2, 1)
    ]
    assert "missing 1, extra 1, stale 1" in comparison.summary()


def test_comparison_passes_equal_records_and_allows_fields_the_tap_adds() -> None:
    landed = fold([{**row, "status_label": "x"} for row in TRUTH], ["id"])
    comparison = compare_with_truth("invoices", landed, TRUTH, ["id"])
    assert comparison.ok, comparison.summary()
    assert comparison.added_fields == {"status_label"}


def test_comparison_flags_a_truth_field_absent_from_the_record() -> None:
    landed = fold([{k: v for k, v in row.items() if k != "amount"} for row in TRUTH], ["id"])
    comparison = compare_with_truth("invoices", landed, TRUTH, ["id"])
    assert {m.field for m in comparison.stale} == {"amount"}
