"""What the dbt package's finance marts must hold, computed from the sandbox truth alone.

Each function takes the truth's records (`SandboxProcess.truth(stream)`: timestamps as ISO text
with the API's -03:00 offset, money as Decimal) and applies the rule the mart documents in
transform/models/marts/_finance_marts.yml, in Python, so a test compares the mart with it row by
row. Days and months are those of America/Sao_Paulo (the package's default reporting zone).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from collections.abc import Iterator

REPORTING_ZONE = ZoneInfo("America/Sao_Paulo")
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
INTERVALS_PER_YEAR = {"days": 365, "weeks": 52, "months": 12, "years": 1}
PAID = frozenset({"paid", "refunded", "chargeback"})  # every status of a payment paid once
REFUNDED = frozenset({"refunded", "chargeback"})
#: The daily overview's method columns: MindzPay method -> column prefix.
METHODS = {"boleto": "boleto", "credit_card": "card", "pix": "pix"}
DAILY_COLUMNS = (
    "paid_payments",
    "refunded_payments",
    "gross",
    "fees",
    "refunds",
    "net",
    "net_after_fees",
    *(f"{prefix}_{kind}" for prefix in METHODS.values() for kind in ("gross", "net")),
)


def parse(value: str) -> datetime:
    """An API timestamp (ISO text with its offset) as an aware datetime."""
    return datetime.fromisoformat(value)


def local_day(value: str) -> date:
    """The reporting zone's day of an API timestamp."""
    return parse(value).astimezone(REPORTING_ZONE).date()


def month_of(moment: datetime) -> date:
    """First day of the reporting zone's month of `moment`."""
    local = moment.astimezone(REPORTING_ZONE)
    return date(local.year, local.month, 1)


def next_month(month: date) -> date:
    """First day of the month after `month`."""
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def months(first: date, last: date) -> Iterator[date]:
    """Every month from `first` to `last`, both included."""
    month = first
    while month <= last:
        yield month
        month = next_month(month)


def month_start(month: date) -> datetime:
    """The moment the reporting zone's month begins."""
    return datetime(month.year, month.month, 1, tzinfo=REPORTING_ZONE)


def expected_daily_overview(payments: list[dict[str, Any]]) -> dict[date, dict[str, Any]]:
    """mart_daily_overview's rows by day: gross and fees on the day paid, refunds on the day
    refunded (updated_at), net = gross - refunds; in total and by method."""
    days: dict[date, dict[str, Any]] = {}

    def row(day: date) -> dict[str, Any]:
        return days.setdefault(
            day, {c: 0 if c.endswith("_payments") else ZERO for c in DAILY_COLUMNS}
        )

    for payment in payments:
        amount, prefix = Decimal(payment["amount"]), METHODS[payment["method"]]
        if payment["status"] in PAID:
            paid = row(local_day(payment["paid_at"]))
            paid["paid_payments"] += 1
            paid["gross"] += amount
            paid["fees"] += Decimal(payment["fee"] or 0)
            paid[f"{prefix}_gross"] += amount
            paid[f"{prefix}_net"] += amount
        if payment["status"] in REFUNDED:
            refunded = row(local_day(payment["updated_at"]))
            refunded["refunded_payments"] += 1
            refunded["refunds"] += amount
            refunded[f"{prefix}_net"] -= amount
    for values in days.values():
        values["net"] = values["gross"] - values["refunds"]
        values["net_after_fees"] = values["net"] - values["fees"]
    return days


@dataclass(frozen=True)
class SubscriptionMonth:
    """One row of mart_mrr_by_subscription."""

    mrr: Decimal
    previous_mrr: Decimal
    movement: str


def monthly_amount(subscription: dict[str, Any]) -> Decimal:
    """amount x intervals per year / (12 x frequency), rounded half up to the cent."""
    yearly = Decimal(subscription["amount"]) * INTERVALS_PER_YEAR[subscription["interval"]]
    return (yearly / (12 * subscription["frequency"])).quantize(CENT, ROUND_HALF_UP)


def _movement(mrr: Decimal, previous: Decimal, *, had_mrr: bool) -> str:
    if mrr and not previous:
        return "reactivation" if had_mrr else "new"
    if not mrr:
        return "churned"
    if mrr == previous:
        return "unchanged"
    return "expansion" if mrr > previous else "contraction"


def expected_mrr_by_subscription(
    subscriptions: list[dict[str, Any]],
) -> dict[tuple[int, date], SubscriptionMonth]:
    """mart_mrr_by_subscription's rows by (subscription id, month), from the truth."""
    newest = max(max(parse(s["created_at"]), parse(s["updated_at"])) for s in subscriptions)
    first = min(month_of(parse(s["created_at"])) for s in subscriptions)
    result: dict[tuple[int, date], SubscriptionMonth] = {}
    for sub in subscriptions:
        started = parse(sub["created_at"])
        end = {"canceled": sub["canceled_at"], "suspended": sub["updated_at"]}.get(sub["status"])
        ended = parse(end) if end else None
        amount, previous, had_mrr = monthly_amount(sub), ZERO, False  # had: in an earlier month
        for month in months(first, month_of(newest)):
            counts = started < month_start(next_month(month)) and (
                ended is None or ended > month_start(month)
            )
            mrr = amount if counts else ZERO
            if mrr or previous:
                result[sub["id"], month] = SubscriptionMonth(
                    mrr, previous, _movement(mrr, previous, had_mrr=had_mrr)
                )
            had_mrr = had_mrr or bool(mrr)
            previous = mrr
    return result


def expected_customer_overview(
    users: list[dict[str, Any]],
    payments: list[dict[str, Any]],
    subscriptions: list[dict[str, Any]],
) -> dict[str, tuple[int, Decimal, Decimal, int, int]]:
    """mart_customer_overview by e-mail: (paid payments, gross, lifetime revenue, subscriptions,
    active subscriptions)."""
    email_of = {u["id"]: u["email"].lower() for u in users}
    customers: dict[str, list[Any]] = {}
    for payment in payments:
        if payment["client_id"] not in email_of:
            continue
        row = customers.setdefault(email_of[payment["client_id"]], [0, ZERO, ZERO, 0, 0])
        amount = Decimal(payment["amount"])
        if payment["status"] in PAID:
            row[0] += 1
            row[1] += amount
            row[2] += amount
        if payment["status"] in REFUNDED:
            row[2] -= amount
    for sub in subscriptions:
        if sub["customer_email"]:
            row = customers.setdefault(sub["customer_email"].lower(), [0, ZERO, ZERO, 0, 0])
            row[3] += 1
            row[4] += sub["status"] == "active"
    return {email: (r[0], r[1], r[2], r[3], r[4]) for email, r in customers.items()}


# -- marts against the truth: the rows a test reads, and what differs ------------------------------

#: The columns each comparison reads, in order (source_relation first).
DAILY_SQL = f"SELECT source_relation, day, {', '.join(DAILY_COLUMNS)} FROM {{}}.mart_daily_overview"  # noqa: S608 - fixed names
MRR_SQL = (
    "SELECT source_relation, subscription_id, month, mrr, previous_mrr, movement "
    "FROM {}.mart_mrr_by_subscription"
)
CUSTOMERS_SQL = (
    "SELECT source_relation, email, paid_payments, gross_revenue, lifetime_revenue, "
    "subscriptions, active_subscriptions FROM {}.mart_customer_overview"
)


def _differences(want: dict[Any, Any], got: dict[Any, Any]) -> dict[Any, tuple[Any, Any]]:
    """Key -> (truth, mart) for every key whose rows differ or that one side lacks."""
    return {
        k: (want.get(k), got.get(k)) for k in want.keys() | got.keys() if want.get(k) != got.get(k)
    }


def _decimal(value: Any) -> Any:
    return value if value is None or isinstance(value, int) else Decimal(str(value))


def daily_overview_differences(
    rows: list[tuple[Any, ...]], payments: dict[str, list[dict[str, Any]]]
) -> dict[Any, tuple[Any, Any]]:
    """mart_daily_overview (DAILY_SQL rows) against each shard's truth payments, whole rows."""
    got = {(row[0], row[1]): tuple(_decimal(v) for v in row[2:]) for row in rows}
    assert len(got) == len(rows), "two rows for one (source_relation, day)"
    want = {
        (shard, day): tuple(values[c] for c in DAILY_COLUMNS)
        for shard, records in payments.items()
        for day, values in expected_daily_overview(records).items()
    }
    return _differences(want, got)


def mrr_differences(
    rows: list[tuple[Any, ...]], subscriptions: dict[str, list[dict[str, Any]]]
) -> dict[Any, tuple[Any, Any]]:
    """mart_mrr_by_subscription (MRR_SQL rows) against each shard's truth subscriptions."""
    got = {
        (shard, sub, month): (Decimal(str(mrr)), Decimal(str(previous)), movement)
        for shard, sub, month, mrr, previous, movement in rows
    }
    want = {
        (shard, sub, month): (row.mrr, row.previous_mrr, row.movement)
        for shard, records in subscriptions.items()
        for (sub, month), row in expected_mrr_by_subscription(records).items()
    }
    return _differences(want, got)


def customer_differences(
    rows: list[tuple[Any, ...]], truth: dict[str, dict[str, list[dict[str, Any]]]]
) -> dict[Any, tuple[Any, Any]]:
    """mart_customer_overview (CUSTOMERS_SQL rows) against each shard's truth."""
    got = {
        (shard, email): (paid, Decimal(str(gross)), Decimal(str(lifetime)), subs, active)
        for shard, email, paid, gross, lifetime, subs, active in rows
    }
    want = {
        (shard, email): row
        for shard, streams in truth.items()
        for email, row in expected_customer_overview(
            streams["users"], streams["payments"], streams["subscriptions"]
        ).items()
    }
    return _differences(want, got)
