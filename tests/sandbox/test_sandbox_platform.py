"""The Mindz platform resources of the sandbox over HTTP: lists, gets, links, moves, deletions."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import requests
from helpers import SandboxError, SandboxProcess
from sandbox_api import Api

from tap_mindzpay.sandbox.platform import PLATFORM_STREAMS

pytestmark = pytest.mark.e2e
FIELDS = {
    "users": {
        "id", "email", "first_name", "last_name", "username", "suspended", "gender", "phone",
        "birth_date", "person_type", "cpf_cnpj", "corporate_name", "country", "zip_code",
        "state", "city", "district", "street", "house_number", "complement", "last_login_at",
        "created_at", "updated_at",
    },
    "courses": {
        "id", "name", "slug", "status", "price", "access_days", "teacher_ids", "created_at",
        "updated_at",
    },
    "bundles": {"id", "name", "slug", "price", "course_ids", "created_at", "updated_at"},
    "plans": {
        "id", "name", "description", "interval", "frequency", "max_cycles", "price",
        "access_days", "course_ids", "created_at", "updated_at",
    },
    "enrollments": {
        "id", "user_id", "course_id", "bundle_id", "plan_id", "payment_id", "status",
        "expires_at", "progress", "completed_at", "created_at", "updated_at",
    },
}  # fmt: skip
PLATFORM = PLATFORM_STREAMS


def _order(rows: list[dict[str, Any]], field: str) -> list[int]:
    return [r["id"] for r in sorted(rows, key=lambda r: (r[field], r["id"]))]


@pytest.mark.parametrize("stream", PLATFORM)
def test_platform_list_get_sort_paging_and_errors_follow_the_contract(sandbox, stream):
    api = Api(sandbox)
    truth = api.truth(stream)
    assert truth, stream
    assert all(set(r) == FIELDS[stream] for r in truth), "exactly the contract's fields"
    listed = api.every(f"/{stream}")
    assert listed == truth
    page = api.get(f"/{stream}", limit=7, offset=3)
    assert page["meta"] == {"total": len(truth), "limit": 7, "offset": 3}
    assert [r["id"] for r in page["data"]] == [r["id"] for r in truth[3:10]]
    assert api.get(f"/{stream}")["meta"]["limit"] == 50
    for field in ("created_at", "updated_at", "id"):
        ascending = api.every(f"/{stream}", sort_by=field, sort_direction="asc")
        assert [r["id"] for r in ascending] == _order(truth, field), field
        descending = api.every(f"/{stream}", sort_by=field, sort_direction="desc")
        assert [r["id"] for r in descending] == _order(truth, field)[::-1], field
    one = truth[len(truth) // 2]
    assert api.get(f"/{stream}/{one['id']}") == one
    found = api.every(f"/{stream}", search=str(one["created_at"]))
    assert one["id"] in {r["id"] for r in found}
    status, missing = api.call("GET", f"/{stream}/999999999")
    noun = stream[:-1].capitalize()
    assert (status, missing) == (
        404,
        {"error": {"code": "not_found", "message": f"{noun} not found"}},
    )
    for bad in ({"sort_by": "amount"}, {"limit": 0}, {"limit": 101}, {"sort_direction": "up"}):
        status, body = api.call("GET", f"/{stream}", **bad)
        assert status == 422, bad
        assert body["error"]["code"] == "invalid_parameter"
    response = api.session.get(f"{sandbox.api_url}/{stream}", params={"limit": 1})
    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(
        response.headers
    )
    anonymous = requests.get(f"{sandbox.api_url}/{stream}", timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "invalid_token"
    stats = sandbox.stats()["requests"]
    assert f"GET /{stream}" in stats
    assert f"GET /{stream}/{{{stream[:-1]}_id}}" in stats


def _assert_links_resolve(api: Api) -> Counter[str]:
    """Every link between the nine resources points at a live record; counts what it checked."""
    live = {s: {r["id"]: r for r in api.truth(s)} for s in (*PLATFORM, "payments")}
    users, payments = live["users"], live["payments"]
    checked: Counter[str] = Counter()
    for stream in ("invoices", "payments"):
        for record in api.truth(stream):
            assert record["client_id"] in users, (stream, record["id"], record["client_id"])
            checked[f"{stream}.client_id"] += 1
    for record in api.truth("subscriptions"):
        assert record["plan_id"] in live["plans"], record
        checked["subscriptions.plan_id"] += 1
    for record in live["enrollments"].values():
        targets = [record[k] for k in ("course_id", "bundle_id", "plan_id")]
        assert sum(t is not None for t in targets) == 1, record
        for key, stream in (
            ("course_id", "courses"),
            ("bundle_id", "bundles"),
            ("plan_id", "plans"),
        ):
            assert record[key] is None or record[key] in live[stream], record
        assert record["user_id"] in users, record
        if record["payment_id"] is None:
            checked["enrollments.free"] += 1
        else:
            assert record["payment_id"] in payments, record
            checked["enrollments.payment_id"] += 1
    for record in live["courses"].values():
        assert record["teacher_ids"], record
        assert set(record["teacher_ids"]) <= set(users), record
        checked["courses.teacher_ids"] += 1
    for stream in ("bundles", "plans"):
        for record in live[stream].values():
            assert record["course_ids"], record
            assert set(record["course_ids"]) <= set(live["courses"]), record
            checked[f"{stream}.course_ids"] += 1
    return checked


def test_links_between_mindzpay_and_platform_records_resolve_before_and_after_moves(
    sandbox_factory,
):
    sandbox = sandbox_factory(seed=3, invoices_per_account=200)
    api = Api(sandbox)
    before = _assert_links_resolve(api)
    assert all(before[k] > 0 for k in ("enrollments.free", "enrollments.payment_id")), before
    applied: Counter[str] = Counter()
    for _ in range(3):
        applied.update(sandbox.advance(8 * 3600)["applied"])
    assert applied["lgpd_delete"] > 0
    assert applied["new_invoice"] > 0
    after = _assert_links_resolve(api)
    assert after["enrollments.payment_id"] > before["enrollments.payment_id"], "sales enroll"
    assert after["invoices.client_id"] > before["invoices.client_id"]


def test_moves_change_updated_at_and_move_records_to_the_end_of_an_ascending_list(
    sandbox_factory,
):
    sandbox = sandbox_factory(seed=5, invoices_per_account=600)
    api = Api(sandbox)
    before = {s: {r["id"]: r for r in api.truth(s)} for s in PLATFORM}
    first_pages = {
        s: api.get(f"/{s}", sort_by="updated_at", sort_direction="asc", limit=20)["data"]
        for s in PLATFORM
    }
    applied: Counter[str] = Counter()
    for _ in range(4):
        applied.update(sandbox.advance(6 * 3600)["applied"])
    clock = sandbox.admin("GET", "/_sandbox/health")["clock"]
    for kind in (
        "profile_edit",
        "user_signup",
        "enrollment_progress",
        "enrollment_expires",
        "enrollment_canceled",
        "course_published",
        "course_archived",
        "lgpd_delete",
    ):
        assert applied[kind] > 0, (kind, applied)
    for stream in ("users", "courses", "enrollments"):
        now = {r["id"]: r for r in api.truth(stream)}
        changed = [i for i, r in now.items() if i in before[stream] and r != before[stream][i]]
        assert changed, stream
        for record_id in changed:
            old, new = before[stream][record_id], now[record_id]
            assert new["updated_at"] > old["updated_at"], (stream, record_id)
            assert new["updated_at"] <= clock
        ascending = api.every(f"/{stream}", sort_by="updated_at", sort_direction="asc")
        tail = {
            r["id"] for r in ascending[len(ascending) - len(changed) - _new(now, before[stream]) :]
        }
        assert set(changed) <= tail, f"{stream}: edited records moved to the end of the list"
        moved = {r["id"] for r in first_pages[stream]} & set(changed)
        assert moved, f"{stream}: some of the oldest-updated records changed"
        unchanged = len(ascending) - len(changed) - _new(now, before[stream])
        assert unchanged > 0, stream
        order = [r["id"] for r in ascending]
        assert all(order.index(i) >= unchanged for i in moved), "from page one to the end"
    statuses = Counter(
        (before["courses"][i]["status"], r["status"])
        for i, r in {r["id"]: r for r in api.truth("courses")}.items()
        if r["status"] != before["courses"][i]["status"]
    )
    assert statuses.keys() <= {
        ("draft", "published"),
        ("published", "archived"),
        ("draft", "archived"),
    }
    expired = [
        r
        for r in api.truth("enrollments")
        if r["status"] == "expired"
        and before["enrollments"].get(r["id"], {}).get("status") == "active"
    ]
    assert expired
    assert all(r["expires_at"] <= r["updated_at"] for r in expired)
    payments = {p["id"]: p for p in api.truth("payments")}
    canceled = [
        r
        for r in api.truth("enrollments")
        if r["status"] == "canceled"
        and before["enrollments"].get(r["id"], {}).get("status") != "canceled"
    ]
    assert canceled
    assert {payments[r["payment_id"]]["status"] for r in canceled} <= {"refunded", "chargeback"}


def _new(now: dict[int, Any], before: dict[int, Any]) -> int:
    return len(set(now) - set(before))


def test_lgpd_deletions_leave_the_list_answer_404_and_appear_in_the_truth(sandbox_factory):
    sandbox = sandbox_factory(seed=9, invoices_per_account=100)
    api = Api(sandbox)
    users_before = {r["id"] for r in api.every("/users")}
    applied = sandbox.advance(30 * 3600)["applied"]
    deleted = sandbox.admin("GET", "/_sandbox/deleted/users")["data"]
    assert len(deleted) == applied["lgpd_delete"] > 0
    listed = {r["id"] for r in api.every("/users")}
    truth = {r["id"] for r in api.truth("users")}
    assert listed == truth
    for entry in deleted:
        assert entry["stream"] == "users"
        assert entry["account_key"] is None
        assert entry["id"] in users_before | set(range(max(users_before) + 1, max(truth) + 1))
        assert entry["id"] not in listed
        status, body = api.call("GET", f"/users/{entry['id']}")
        assert (status, body["error"]["code"]) == (404, "not_found")
    assert all(d["stream"] != "users" for d in sandbox.deleted()), (
        "/_sandbox/deleted keeps listing the MindzPay streams only"
    )
    with pytest.raises(SandboxError, match="404"):
        sandbox.admin("GET", "/_sandbox/deleted/nope")


def test_platform_records_survive_a_restart_and_keep_moving(tmp_path):
    args = ("--db", str(tmp_path / "world.sqlite"), "--invoices-per-account", "60")
    with SandboxProcess.start(extra_args=args) as first:
        first.advance(12 * 3600)
        saved = {s: first.truth(s) for s in PLATFORM}
        deleted = first.admin("GET", "/_sandbox/deleted/users")["data"]
    with SandboxProcess.start(extra_args=args) as second:
        assert {s: second.truth(s) for s in PLATFORM} == saved
        assert second.admin("GET", "/_sandbox/deleted/users")["data"] == deleted
        applied = second.advance(12 * 3600)["applied"]
        assert applied["profile_edit"] > 0
        assert applied["new_invoice"] > 0
        _assert_links_resolve(Api(second))
