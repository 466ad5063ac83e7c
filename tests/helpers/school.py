"""What the dbt package's marts of the rest of the Mindz platform must hold, from the truth alone.

Each `expected_*` function takes one shard's truth (`SandboxProcess.truth(stream)` by stream name)
and applies the rule the mart documents in transform/models/marts/_marts_school.yml, in Python.
Each `*_differences` function compares the mart's rows (its `*_SQL`, source_relation first) with
every shard's truth, whole rows keyed by (source_relation, id), so a test on one shard and a test
on several read the same rule.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from .finance import _differences as rows_differences
from .finance import parse

Truth = dict[str, list[dict[str, Any]]]
Row = tuple[Any, ...]

#: The columns each comparison reads, in order (source_relation and the mart's key first).
TEACHER_REVENUE_SQL = (
    "SELECT source_relation, teacher_user_id, courses, paid_payments, gross_revenue, net_revenue "
    "FROM {}.mart_teacher_revenue"
)
COURSE_CONTENT_SQL = (
    "SELECT source_relation, course_id, modules, lessons, total_duration_seconds, paid_payments "
    "FROM {}.mart_course_content"
)
CAMPAIGN_REACH_SQL = (
    "SELECT source_relation, email_campaign_id, recipients, opens, clicks, paid_payments_7d, "
    "paid_revenue_7d FROM {}.mart_campaign_reach"
)


def paid_sales(truth: Truth) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(enrollment, payment) of every live enrollment bought by a payment with status paid."""
    payments = {r["id"]: r for r in truth["payments"]}
    return [
        (enrollment, payments[enrollment["payment_id"]])
        for enrollment in truth["enrollments"]
        if enrollment["payment_id"] in payments
        and payments[enrollment["payment_id"]]["status"] == "paid"
    ]


def expected_teacher_revenue(truth: Truth) -> dict[int, Row]:
    """Teacher user id -> (courses, paid payments, gross, net) over the courses they teach."""
    sales = {(e["course_id"], p["id"]): p for e, p in paid_sales(truth) if e["course_id"]}
    courses_of: dict[int, set[int]] = {}
    for teacher in truth["course_teachers"]:
        courses_of.setdefault(teacher["user_id"], set()).add(teacher["course_id"])
    want = {}
    for user_id, courses in courses_of.items():
        mine = [p for (course, _), p in sales.items() if course in courses]
        gross = sum((Decimal(p["amount"]) for p in mine), Decimal(0))
        net = gross - sum((Decimal(p["fee"]) for p in mine), Decimal(0))
        want[user_id] = (len(courses), len(mine), gross, net)
    return want


def expected_course_content(truth: Truth) -> dict[int, Row]:
    """Course id -> (modules, lessons, their seconds, paid payments), zeros for an empty course."""
    content: dict[int, list[int]] = {c["id"]: [0, 0, 0] for c in truth["courses"]}
    for grade in truth["course_grades"]:
        content[grade["course_id"]][0] += 1
    for lesson in truth["course_grade_details"]:
        content[lesson["course_id"]][1] += 1
        content[lesson["course_id"]][2] += lesson["duration_seconds"]
    sales: dict[int, set[int]] = {}
    for enrollment, payment in paid_sales(truth):
        if enrollment["course_id"]:
            sales.setdefault(enrollment["course_id"], set()).add(payment["id"])
    return {k: (*v, len(sales.get(k, ()))) for k, v in content.items()}


def expected_campaign_reach(truth: Truth) -> dict[int, Row]:
    """Campaign id -> (recipients, opens, clicks, paid payments and revenue in the sent week)."""
    targets: dict[int, tuple[set[int], set[int]]] = {
        c["id"]: (set(), set()) for c in truth["email_campaigns"]
    }
    for link in truth["email_campaign_courses"]:
        targets[link["email_campaign_id"]][0].add(link["course_id"])
    for link in truth["email_campaign_plans"]:
        targets[link["email_campaign_id"]][1].add(link["plan_id"])
    sales = paid_sales(truth)
    want = {}
    for campaign in truth["email_campaigns"]:
        courses, plans = targets[campaign["id"]]
        paid: dict[int, Decimal] = {}
        if campaign["sent_at"]:
            sent = parse(campaign["sent_at"])
            for enrollment, payment in sales:
                when = parse(payment["paid_at"])
                aimed = enrollment["course_id"] in courses or enrollment["plan_id"] in plans
                if aimed and sent <= when < sent + timedelta(days=7):
                    paid[payment["id"]] = Decimal(payment["amount"])
        stats = (campaign["recipients"], campaign["opens"], campaign["clicks"])
        want[campaign["id"]] = (*stats, len(paid), sum(paid.values(), Decimal(0)))
    return want


def _mart_differences(
    rows: list[Row], truth: dict[str, Truth], expected: Any, money: tuple[int, ...]
) -> dict[Any, tuple[Any, Any]]:
    """(shard, id) -> (truth, mart) for every row that differs or that one side lacks."""
    got = {
        (row[0], row[1]): tuple(Decimal(str(v)) if i in money else v for i, v in enumerate(row[2:]))
        for row in rows
    }
    assert len(got) == len(rows), "two rows for one (source_relation, id)"
    want = {
        (shard, key): values
        for shard, streams in truth.items()
        for key, values in expected(streams).items()
    }
    return rows_differences(want, got)


def teacher_revenue_differences(rows: list[Row], truth: dict[str, Truth]) -> dict[Any, Any]:
    """mart_teacher_revenue (TEACHER_REVENUE_SQL rows) against each shard's truth."""
    return _mart_differences(rows, truth, expected_teacher_revenue, money=(2, 3))


def course_content_differences(rows: list[Row], truth: dict[str, Truth]) -> dict[Any, Any]:
    """mart_course_content (COURSE_CONTENT_SQL rows) against each shard's truth."""
    return _mart_differences(rows, truth, expected_course_content, money=())


def campaign_reach_differences(rows: list[Row], truth: dict[str, Truth]) -> dict[Any, Any]:
    """mart_campaign_reach (CAMPAIGN_REACH_SQL rows) against each shard's truth."""
    return _mart_differences(rows, truth, expected_campaign_reach, money=(4,))
