"""The whole-row warehouse check finds each kind of wrong cell (it can fail, and says why)."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from .streams import STREAM_SCHEMAS
from .warehouse import DELETED_AT, Snapshot, Tables

BRT = timezone(timedelta(hours=-3))
ACCOUNT = {
    "id": 1,
    "key": "acc_1",
    "name": "Escola",
    "document": "123",
    "status": "accepted",
    "created_at": "2025-11-01T09:00:00-03:00",
    "updated_at": "2025-11-01T09:00:00-03:00",
}
SUBSCRIPTION = {
    "id": 7,
    "account_id": 1,
    "plan_id": 3,
    "customer_email": "a@b.c",
    "active": False,
    "status": "canceled",
    "interval": "months",
    "frequency": 1,
    "amount": "19.90",
    "next_charge_at": None,
    "canceled_at": "2026-01-02T10:00:00-03:00",
    "created_at": "2026-01-01T10:00:00-03:00",
    "updated_at": "2026-01-02T10:00:00-03:00",
}


def _row() -> dict[str, Any]:
    """SUBSCRIPTION as a warehouse returns it (UTC instants, Decimal, the derived columns)."""
    return {
        **SUBSCRIPTION,
        "account_key": "acc_1",
        "amount": Decimal("19.90"),
        "canceled_at": datetime(2026, 1, 2, 13, 0, tzinfo=timezone.utc),
        "created_at": datetime(2026, 1, 1, 13, 0, tzinfo=timezone.utc),
        "updated_at": datetime(2026, 1, 2, 13, 0, tzinfo=timezone.utc),
        DELETED_AT: None,
        "_sdc_batched_at": datetime(2026, 12, 1, tzinfo=timezone.utc),
    }


def _snapshot(rows: list[dict[str, Any]], deleted: list[dict[str, Any]] = ()) -> Snapshot:
    columns = set(rows[0]) if rows else set(STREAM_SCHEMAS["subscriptions"]["properties"])
    tables = Tables(("s",), {"subscriptions": rows}, {"subscriptions": columns})
    return Snapshot({"accounts": [ACCOUNT], "subscriptions": [SUBSCRIPTION]}, list(deleted), tables)


def test_a_faithful_row_passes_in_any_zone():
    row = _row()
    row["created_at"] = row["created_at"].astimezone(BRT)  # same instant, another zone
    check = _snapshot([row]).check("subscriptions")
    assert check.ok, check.summary()
    assert check.compared == 1


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("amount", Decimal("19.91")),  # a cent off
        ("created_at", datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc)),  # offset dropped
        ("active", 0),  # an int for a boolean
        ("next_charge_at", datetime(2026, 2, 1, tzinfo=timezone.utc)),  # a value for a null
        ("account_key", "acc_2"),  # another account
        (DELETED_AT, datetime(2026, 1, 3, tzinfo=timezone.utc)),  # a live row marked deleted
    ],
)
def test_each_kind_of_wrong_cell_is_found(column: str, value: Any):
    row = _row()
    row[column] = value
    check = _snapshot([row]).check("subscriptions")
    assert not check.ok
    assert [cell[1] for cell in check.wrong_values] == [column], check.summary()


def test_a_missing_column_and_an_extra_column_are_found():
    row = _row()
    del row["plan_id"]
    row["surprise"] = 1
    check = _snapshot([row]).check("subscriptions")
    assert check.missing_columns == ["plan_id"]
    assert check.extra_columns == ["surprise"]
    assert not check.ok


def test_a_kept_deleted_row_without_its_marker_is_reported():
    gone = {**_row(), "id": 8}
    deleted = [{"stream": "subscriptions", "id": 8, "deleted_at": "2026-01-03T00:00:00-03:00"}]
    check = _snapshot([_row(), gone], deleted).check("subscriptions")
    assert check.deleted_kept == [8]
    assert check.deleted_unmarked == [8]
    marked = copy.deepcopy(gone)
    marked[DELETED_AT] = datetime(2026, 1, 3, 3, 0, tzinfo=timezone.utc)
    assert _snapshot([_row(), marked], deleted).check("subscriptions").deleted_unmarked == []


def test_emitted_records_compare_by_key_instant_and_every_cell():
    sent = {
        "invoice_id": 5,
        "account_key": "acc_1",
        "from_status": 1,
        "from_status_label": "Em processo de emissão",
        "to_status": 2,
        "to_status_label": "Emitida",
        "observed_at": "2026-11-01T09:16:00-03:00",
        "via": "refresh",
    }
    landed = {**sent, "observed_at": datetime(2026, 11, 1, 12, 16, tzinfo=timezone.utc)}
    changes = "invoice_status_changes"
    tables = Tables(("s",), {changes: [landed]}, {changes: set(landed)})
    snapshot = Snapshot({"accounts": [ACCOUNT]}, [], tables, {changes: [sent]})
    assert snapshot.check_emitted(changes).ok
    tables.records[changes] = [{**landed, "via": "sweep"}]
    assert [c[1] for c in snapshot.check_emitted(changes).wrong_values] == ["via"]
    tables.records[changes] = [landed, landed]
    assert snapshot.check_emitted(changes).duplicated
