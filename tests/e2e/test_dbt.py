"""The dbt project run by Meltano after the load, its marts checked against the sandbox truth.

Three syncs of a private frozen world, each `meltano run tap-mindzpay <loader>` with the clock
moved between them; the last one is the demo's command, `meltano run tap-mindzpay <loader>
<dbt utility>:build`. Then:

* `dbt build` is green (every test passed, none warned or was skipped);
* each staging view holds exactly the truth's live ids, statuses and amounts (deleted ones dropped),
  and the history of an invoice support deleted is kept and flagged;
* `mart_invoice_status` has every invoice with its truth status, and its seconds in flight equal
  those computed from the sandbox's truth after each sync and its transition log;
* `mart_subscription_mrr` equals MRR by plan and month computed from the truth's subscriptions with
  the rule the model documents (Decimal, rounded half up to the cent per subscription);
* the finance marts equal what `helpers.finance` computes from the truth: `mart_daily_overview`
  day by day (whole rows), `mart_mrr_by_subscription` (MRR and movement per subscription and
  month) and `mart_customer_overview` per e-mail.

The warehouse is a parameter (`WAREHOUSES`): DuckDB, and the session's PostgreSQL (`postgres_dsn`:
`TAP_MINDZPAY_TEST_POSTGRES_DSN`, or the embedded server the tests start), each in schemas of
its own.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

import pytest
from helpers import SandboxProcess
from helpers.finance import (
    CUSTOMERS_SQL,
    DAILY_SQL,
    INTERVALS_PER_YEAR,
    MRR_SQL,
    customer_differences,
    daily_overview_differences,
    month_of,
    month_start,
    monthly_amount,
    months,
    mrr_differences,
    next_month,
)
from helpers.meltano import MELTANO_WORKER, IsolatedMeltano, MeltanoResult, Pipeline
from helpers.sandbox import MAY_BE_EMPTY
from helpers.school import (
    CAMPAIGN_REACH_SQL,
    COURSE_CONTENT_SQL,
    TEACHER_REVENUE_SQL,
    campaign_reach_differences,
    course_content_differences,
    expected_campaign_reach,
    expected_course_content,
    expected_teacher_revenue,
    teacher_revenue_differences,
)
from helpers.services import (
    connect_postgres,
    postgres_connection_env,
    postgres_target_env,
    require_plugins,
)
from helpers.streams import MINDZPAY_STREAMS, PLATFORM_STREAMS, TRUTH_STREAMS
from helpers.warehouse import INVOICE_STATUS_LABELS, drop_postgres_schemas, duckdb_target_env

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

pytestmark = [pytest.mark.e2e, MELTANO_WORKER]

# Unique names: PostgreSQL is shared by the whole suite (and by other runs of it).
SUFFIX = f"dbt_e2e_{os.getpid()}"
RAW_SCHEMA = f"mindzpay_{SUFFIX}"
MARTS = f"analytics_{SUFFIX}"
STAGING = f"{MARTS}_staging"
SYNCS = 3
ADVANCE_SECONDS = 3600
IN_FLIGHT = {0, 1, 4}
CENT = Decimal("0.01")


# -- warehouses -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Warehouse:
    """A loader and the dbt utility that transforms what it loaded, and how to read the result."""

    name: str
    loader: str
    transformer: str
    env: Callable[[Path], dict[str, str]]  # workdir -> loader and dbt variables
    query: Callable[[Path, str], list[tuple[Any, ...]]]  # workdir, SQL -> rows
    cleanup: Callable[[], None] = lambda: None


def _duckdb() -> Warehouse:
    def env(workdir: Path) -> dict[str, str]:
        database = workdir / "warehouse.duckdb"
        return {
            **duckdb_target_env(database, RAW_SCHEMA),
            "DBT_DUCKDB_PATH": str(database),
            "DBT_DUCKDB_SCHEMA": MARTS,
            "DBT_DUCKDB_SOURCE_SCHEMA": RAW_SCHEMA,
            "DBT_DUCKDB_TARGET_PATH": str(workdir / "dbt" / "target"),
            "DBT_DUCKDB_LOG_PATH": str(workdir / "dbt" / "logs"),
        }

    def query(workdir: Path, sql: str) -> list[tuple[Any, ...]]:
        import duckdb  # noqa: PLC0415 - only the DuckDB warehouse needs it

        with duckdb.connect(str(workdir / "warehouse.duckdb"), read_only=True) as connection:
            return connection.execute(sql).fetchall()

    return Warehouse("duckdb", "target-duckdb", "dbt-duckdb", env, query)


def _postgres(dsn: str) -> Warehouse:
    def env(workdir: Path) -> dict[str, str]:
        return {
            **postgres_target_env(dsn),
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": RAW_SCHEMA,
            **postgres_connection_env(dsn, "DBT_POSTGRES"),
            "DBT_POSTGRES_SCHEMA": MARTS,
            "DBT_POSTGRES_SOURCE_SCHEMA": RAW_SCHEMA,
            "DBT_POSTGRES_TARGET_PATH": str(workdir / "dbt" / "target"),
            "DBT_POSTGRES_LOG_PATH": str(workdir / "dbt" / "logs"),
        }

    def query(_workdir: Path, sql: str) -> list[tuple[Any, ...]]:
        with connect_postgres(dsn) as connection:
            return list(connection.execute(sql).fetchall())

    def cleanup() -> None:
        drop_postgres_schemas(dsn, [RAW_SCHEMA, MARTS, STAGING])

    return Warehouse("postgres", "target-postgres", "dbt-postgres", env, query, cleanup)


WAREHOUSES: dict[str, Callable[[pytest.FixtureRequest], Warehouse]] = {
    "duckdb": lambda _request: _duckdb(),
    "postgres": lambda request: _postgres(request.getfixturevalue("postgres_dsn")),
}


# -- the run --------------------------------------------------------------------------------------


@dataclass
class Sync:
    """One sync: the sandbox clock it ran at, and the truth and transition log after it."""

    clock: datetime
    invoices: dict[int, dict[str, Any]]
    transitions: list[dict[str, Any]]  # logged since the previous sync (the advance, the sync)


@dataclass
class Built:
    """What the sandbox and the warehouse held after the load and `dbt build`."""

    warehouse: Warehouse
    workdir: Path
    build: MeltanoResult
    syncs: list[Sync]
    truth: dict[str, list[dict[str, Any]]]
    deleted: list[dict[str, Any]]
    advanced: list[dict[str, Any]] = field(default_factory=list)
    #: mart_mrr_by_subscription after the build, and after a second, incremental build.
    mrr_builds: list[list[tuple[Any, ...]]] = field(default_factory=list)
    rebuild: MeltanoResult | None = None

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of `sql` in the warehouse."""
        return self.warehouse.query(self.workdir, sql)


def _clock(sandbox: SandboxProcess) -> datetime:
    return _parse(sandbox.admin("GET", "/_sandbox/health")["clock"])


def _load_and_build(warehouse: Warehouse, workdir: Path) -> Built:
    """SYNCS syncs of a private frozen world, the clock moved between them; dbt after the last."""
    with SandboxProcess.start(seed=5, accounts=3, invoices_per_account=150) as sandbox:
        meltano = IsolatedMeltano(
            workdir / "meltano", env={**sandbox.tap_env(), **warehouse.env(workdir)}
        )
        syncs: list[Sync] = []
        advanced: list[dict[str, Any]] = []
        logged = 0
        result: MeltanoResult | None = None
        for number in range(SYNCS):
            clock = _clock(sandbox)
            last = number == SYNCS - 1
            argv = Pipeline(warehouse.loader).argv()
            result = meltano.run(*argv, *([f"{warehouse.transformer}:build"] if last else []))
            result.check()
            transitions = sandbox.transitions()
            invoices = {r["id"]: r for r in sandbox.truth("invoices")}
            syncs.append(Sync(clock, invoices, transitions[logged:]))
            logged = len(transitions)
            if not last:
                advanced.append(sandbox.advance(ADVANCE_SECONDS))
        assert result is not None
        truth = {stream: sandbox.truth(stream) for stream in TRUTH_STREAMS}
        built = Built(
            warehouse, workdir, result, syncs, truth, sandbox.deleted_everywhere(), advanced
        )
        # The incremental model's second run (its is_incremental() branch) on the same data.
        built.mrr_builds.append(sorted(built.rows(MRR_SQL.format(MARTS))))
        built.rebuild = meltano.run("invoke", warehouse.transformer, "build").check()
        built.mrr_builds.append(sorted(built.rows(MRR_SQL.format(MARTS))))
        return built


@pytest.fixture(scope="module", params=sorted(WAREHOUSES))
def built(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Built]:
    warehouse = WAREHOUSES[request.param](request)
    require_plugins(
        ("extractors", "tap-mindzpay"),
        ("loaders", warehouse.loader),
        ("utilities", warehouse.transformer, "dbt"),
    )
    try:
        yield _load_and_build(warehouse, tmp_path_factory.mktemp(f"dbt-{warehouse.name}"))
    finally:
        warehouse.cleanup()


# -- dbt build ------------------------------------------------------------------------------------

DONE = re.compile(r"Done\. PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)")


def test_dbt_build_runs_after_the_load_and_every_test_passes(built: Built) -> None:
    output = built.build.stdout + built.build.stderr
    summaries = DONE.findall(output)
    assert summaries, f"no dbt summary line in the output:\n{output[-4000:]}"
    passed, warned, errors, skipped = map(int, summaries[-1])
    # 1 seed, 7 models and the data tests of transform/ (over 60).
    assert (warned, errors, skipped) == (0, 0, 0), output[-4000:]
    assert passed >= 60, output[-4000:]


# -- staging --------------------------------------------------------------------------------------

STAGING_AMOUNT = {"accounts": "NULL", "invoices": "amount", "payments": "amount"}


@pytest.mark.parametrize("stream", MINDZPAY_STREAMS)
def test_staging_view_holds_each_live_truth_record_once_with_its_status_and_amount(
    built: Built, stream: str
) -> None:
    amount = STAGING_AMOUNT.get(stream, "amount")
    rows = built.rows(f"SELECT id, status, {amount} FROM {STAGING}.stg_mindzpay__{stream}")  # noqa: S608 - fixed names
    truth = built.truth[stream]
    assert truth, f"truth of {stream} is empty: nothing proven"

    def money(value: Any) -> Decimal | None:
        return None if amount == "NULL" or value is None else Decimal(str(value))

    ids = [row[0] for row in rows]
    assert len(ids) == len(set(ids)), f"{stream}: a key twice in staging"
    got = {row[0]: (row[1], money(row[2])) for row in rows}
    want = {r["id"]: (r["status"], money(r.get("amount"))) for r in truth}
    deleted = {d["id"] for d in built.deleted if d["stream"] == stream}
    assert not deleted & set(got), f"{stream}: deleted records kept: {sorted(deleted & set(got))}"
    assert got == want, (
        f"{stream}: staging differs from the truth on {len(got.items() ^ want.items())} rows"
    )


#: A column of each platform staging view compared with the truth, beside the id.
PLATFORM_COLUMN = {
    "users": "email",
    "courses": "status",
    "bundles": "name",
    "plans": "name",
    "enrollments": "status",
    "course_grades": "course_id",
    "course_grade_details": "grade_id",
    "course_teachers": "user_id",
    "teams": "user_id",
    "email_lists": "name",
    "emails": "email_list_id",
    "email_campaigns": "status",
    "email_campaign_courses": "course_id",
    "email_campaign_plans": "plan_id",
    "email_campaign_lists": "email_list_id",
    "email_campaign_excluded_courses": "course_id",
    "email_campaign_excluded_plans": "plan_id",
    "email_campaign_excluded_lists": "email_list_id",
}


@pytest.mark.parametrize("stream", PLATFORM_STREAMS)
def test_platform_staging_view_holds_each_live_truth_record_once(built: Built, stream: str) -> None:
    column = PLATFORM_COLUMN[stream]
    rows = built.rows(f"SELECT id, {column} FROM {STAGING}.stg_mindz__{stream}")  # noqa: S608
    truth = built.truth[stream]
    assert truth or stream in MAY_BE_EMPTY, f"truth of {stream} is empty: nothing proven"
    assert len(rows) == len({row[0] for row in rows}), f"{stream}: a key twice in staging"
    got = dict(rows)
    want = {r["id"]: r[column] for r in truth}
    deleted = {d["id"] for d in built.deleted if d["stream"] == stream}
    assert not deleted & set(got), f"{stream}: deleted records kept: {sorted(deleted & set(got))}"
    assert got == want, (
        f"{stream}: staging differs from the truth on {len(got.items() ^ want.items())} rows"
    )


def test_status_history_of_invoices_support_deleted_is_kept_and_flagged(built: Built) -> None:
    # Only invoices some sync saw have a history (one may be created and deleted between two).
    synced = {i for sync in built.syncs for i in sync.invoices}
    deleted = {d["id"] for d in built.deleted if d["stream"] == "invoices"} & synced
    assert deleted, "support deleted no synced invoice in this world: the flag is not exercised"
    flagged = built.rows(
        f"SELECT DISTINCT invoice_id FROM {STAGING}.stg_mindzpay__invoice_status_changes "  # noqa: S608
        "WHERE invoice_deleted"
    )
    assert {r[0] for r in flagged} == deleted


# -- mart_invoice_status --------------------------------------------------------------------------


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _aware(value: datetime) -> datetime:
    """A warehouse timestamp as an aware datetime (both loaders store UTC without a zone)."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def observed_statuses(syncs: list[Sync]) -> dict[int, list[tuple[int, datetime | None]]]:
    """Per invoice, the (status, moment) sequence a load sees, computed from the truth alone.

    At each sync the load sees the status the API shows (the truth after the sync, or, for an
    invoice the sync refreshed into the provider's answer, that transition's from_status), stamped
    with the invoice's updated_at then; a refresh then shows the provider's answer at the sync's
    clock. Where the updated_at before such a refresh is not in the truth (an invoice first seen
    in the sync that refreshed it), the moment is None.
    """
    seen: dict[int, list[tuple[int, datetime | None]]] = {}
    for sync in syncs:
        by_invoice: dict[int, list[dict[str, Any]]] = {}
        for transition in sync.transitions:
            by_invoice.setdefault(transition["invoice_id"], []).append(transition)
        for invoice_id, record in sync.invoices.items():
            moves = by_invoice.get(invoice_id, [])
            reveal = next(
                (m for m in moves if m["kind"] == "provider" and _parse(m["at"]) == sync.clock),
                None,
            )
            others = [m for m in moves if m is not reveal]
            history = seen.setdefault(invoice_id, [])
            moment: datetime | None
            if reveal is None:
                visible, moment = record["status"], _parse(record["updated_at"])
            else:
                visible = reveal["from_status"]
                moment = _parse(others[-1]["at"]) if others else None
            if not history or history[-1][0] != visible:
                history.append((visible, moment))
            if reveal is not None:
                history.append((reveal["to_status"], sync.clock))
    return seen


def in_flight_seconds(history: list[tuple[int, datetime]], as_of: datetime) -> int:
    """Seconds of `history` spent in 0, 1 or 4; the last status lasts until `as_of`."""
    total = 0
    for (status, start), (_, end) in zip(history, [*history[1:], (None, as_of)], strict=True):
        if status in IN_FLIGHT:
            total += int((end - start).total_seconds())
    return total


def test_invoice_status_mart_has_every_live_invoice_with_its_truth_status(built: Built) -> None:
    rows = built.rows(f"SELECT invoice_id, status, status_label FROM {MARTS}.mart_invoice_status")  # noqa: S608
    truth = {r["id"]: r for r in built.truth["invoices"]}
    assert sorted(r[0] for r in rows) == sorted(truth)
    # The label comes from the contract's table (helpers.warehouse), not from the tap's column.
    wrong = [
        (i, status, label)
        for i, status, label in rows
        if (status, label) != (truth[i]["status"], INVOICE_STATUS_LABELS[truth[i]["status"]])
    ]
    assert not wrong, f"{len(wrong)} invoices (id, status, label): {wrong[:10]}"


def test_seconds_in_flight_equal_the_truth_after_each_sync_and_its_transitions(
    built: Built,
) -> None:
    rows = built.rows(
        f"SELECT invoice_id, seconds_in_flight, hours_in_flight, as_of FROM {MARTS}.mart_invoice_status"  # noqa: S608, E501
    )
    histories = observed_statuses(built.syncs)
    live = {r["id"] for r in built.truth["invoices"]}
    known = [m for i in live for _, m in histories[i] if m is not None]
    as_of = max(known)
    mart = {i: (seconds, hours, _aware(at)) for i, seconds, hours, at in rows}
    assert {at for _, _, at in mart.values()} == {as_of}
    # Invoices first seen in a sync that refreshed them: the truth lacks their first updated_at.
    unknown = {i for i in live if any(m is None for _, m in histories[i])}
    compared = live - unknown
    assert len(unknown) < len(live) / 20, f"{len(unknown)} of {len(live)} cannot be compared"
    expected = {
        i: in_flight_seconds([(s, m) for s, m in histories[i] if m is not None], as_of)
        for i in compared
    }
    got = {i: mart[i][0] for i in compared}
    wrong = {i: (expected[i], got[i]) for i in compared if expected[i] != got[i]}
    assert not wrong, (
        f"{len(wrong)} invoices (id: (truth, mart) seconds): {list(wrong.items())[:10]}"
    )
    # The figures are not trivial: invoices moved in and out of flight while the test ran.
    moved = [i for i in compared if len(histories[i]) > 1 and expected[i] > 0]
    assert len(moved) >= 10, f"only {len(moved)} compared invoices moved while in flight"
    for i in compared:
        assert mart[i][1] == (Decimal(expected[i]) / 3600).quantize(CENT, ROUND_HALF_UP), i


# -- mart_subscription_mrr ------------------------------------------------------------------------


def expected_mrr(
    subscriptions: list[dict[str, Any]],
) -> dict[tuple[int, date], tuple[int, Decimal]]:
    """MRR by (plan, month) from the truth's subscriptions, by the rule the model documents."""
    spans = []
    for sub in subscriptions:
        started = _parse(sub["created_at"])
        ended = {"canceled": sub["canceled_at"], "suspended": sub["updated_at"]}.get(sub["status"])
        monthly = monthly_amount(sub)
        spans.append((sub["plan_id"], started, _parse(ended) if ended else None, monthly))
    newest = max(max(_parse(s["created_at"]), _parse(s["updated_at"])) for s in subscriptions)
    first = month_of(min(started for _, started, _, _ in spans))
    result: dict[tuple[int, date], tuple[int, Decimal]] = {}
    for month in months(first, month_of(newest)):
        begins, ends = month_start(month), month_start(next_month(month))
        for plan, started, ended, monthly in spans:
            if started < ends and (ended is None or ended > begins):
                count, total = result.get((plan, month), (0, Decimal(0)))
                result[plan, month] = (count + 1, total + monthly)
    return result


def test_mrr_by_plan_and_month_equals_the_truth_subscriptions(built: Built) -> None:
    rows = built.rows(
        f"SELECT plan_id, month, active_subscriptions, mrr FROM {MARTS}.mart_subscription_mrr"  # noqa: S608
    )
    subscriptions = built.truth["subscriptions"]
    statuses = {s["status"] for s in subscriptions}
    assert statuses == {"active", "suspended", "canceled"}, statuses
    assert {s["interval"] for s in subscriptions} == set(INTERVALS_PER_YEAR)
    expected = expected_mrr(subscriptions)
    got = {(plan, month): (count, Decimal(mrr)) for plan, month, count, mrr in rows}
    assert len(got) == len(rows), "two rows for one (plan, month)"
    missing = sorted(expected.keys() - got.keys())[:10]
    unexpected = sorted(got.keys() - expected.keys())[:10]
    wrong = [
        (k, expected[k], got[k]) for k in expected.keys() & got.keys() if expected[k] != got[k]
    ]
    assert not missing, f"(plan, month) the mart lacks: {missing}"
    assert not unexpected, f"(plan, month) the truth lacks: {unexpected}"
    assert not wrong, f"{len(wrong)} (plan, month): truth (count, mrr), mart: {wrong[:10]}"
    assert len({month for _, month in got}) >= 12, "a year of history gives at least 12 months"


# -- mart_revenue_by_course -----------------------------------------------------------------------


def expected_revenue(
    courses: list[dict[str, Any]],
    enrollments: list[dict[str, Any]],
    payments: list[dict[str, Any]],
) -> dict[int, tuple[str, int, Decimal, Decimal]]:
    """Per course: name, paid payments, gross and net revenue, by the rule the model documents."""
    paid = {p["id"]: p for p in payments if p["status"] == "paid"}
    sales = {
        (e["course_id"], e["payment_id"])
        for e in enrollments
        if e["course_id"] is not None and e["payment_id"] in paid
    }
    result = {c["id"]: (c["name"], 0, Decimal(0), Decimal(0)) for c in courses}
    for course_id, payment_id in sales:
        name, count, gross, net = result[course_id]
        payment = paid[payment_id]
        amount, fee = Decimal(str(payment["amount"])), Decimal(str(payment["fee"]))
        result[course_id] = (name, count + 1, gross + amount, net + amount - fee)
    return result


def _latest_raw(built: Built, table: str, columns: str) -> list[dict[str, Any]]:
    """The latest version of each id of a raw table the loader wrote (deleted ones dropped)."""
    names = [c.strip() for c in columns.split(",")]
    rows = built.rows(
        f"SELECT {columns}, _sdc_deleted_at, _sdc_extracted_at FROM {RAW_SCHEMA}.{table}"  # noqa: S608
    )
    latest: dict[Any, tuple[Any, dict[str, Any]]] = {}
    for row in rows:
        record = dict(zip(names, row[: len(names)], strict=True))
        extracted, deleted = row[-1], row[-2]
        kept = latest.get(record["id"])
        if kept is None or (extracted is not None and (kept[0] is None or extracted > kept[0])):
            latest[record["id"]] = (extracted, {**record, "_deleted": deleted is not None})
    return [r for _, r in latest.values() if not r["_deleted"]]


def test_revenue_by_course_equals_the_figure_from_the_truth_and_from_the_raw_tables(
    built: Built,
) -> None:
    rows = built.rows(
        f"SELECT course_id, course_name, paid_payments, gross_revenue, net_revenue "  # noqa: S608
        f"FROM {MARTS}.mart_revenue_by_course"
    )
    got = {c: (n, p, Decimal(str(g)), Decimal(str(v))) for c, n, p, g, v in rows}
    assert len(got) == len(rows), "two rows for one course"
    truth = expected_revenue(
        built.truth["courses"], built.truth["enrollments"], built.truth["payments"]
    )
    raw = expected_revenue(
        _latest_raw(built, "courses", "id, name"),
        _latest_raw(built, "enrollments", "id, course_id, payment_id"),
        _latest_raw(built, "payments", "id, status, amount, fee"),
    )
    assert raw == truth, "the raw tables' figure differs from the truth's"
    wrong = {
        c: (truth.get(c), got.get(c))
        for c in truth.keys() | got.keys()
        if truth.get(c) != got.get(c)
    }
    assert not wrong, f"{len(wrong)} courses (truth, mart): {list(wrong.items())[:5]}"
    # Not trivial: courses sold, and some payments of enrollments for courses were not paid.
    sold = [c for c, (_, paid, _, _) in truth.items() if paid > 0]
    assert len(sold) >= 3, f"only {len(sold)} courses sold anything"
    assert sum(net for _, _, _, net in truth.values()) < sum(g for _, _, g, _ in truth.values())


# -- the finance marts ----------------------------------------------------------------------------


def test_daily_overview_equals_the_truth_payments_day_by_day(built: Built) -> None:
    rows = built.rows(DAILY_SQL.format(MARTS))
    wrong = daily_overview_differences(rows, {RAW_SCHEMA: built.truth["payments"]})
    assert not wrong, f"{len(wrong)} (schema, day) differ (truth, mart): {list(wrong.items())[:5]}"
    assert rows, "no day in the mart: nothing compared"


def test_mrr_by_subscription_equals_the_truth_with_its_movements(built: Built) -> None:
    rows = built.rows(MRR_SQL.format(MARTS))
    wrong = mrr_differences(rows, {RAW_SCHEMA: built.truth["subscriptions"]})
    assert not wrong, (
        f"{len(wrong)} (schema, subscription, month) differ: {list(wrong.items())[:5]}"
    )
    assert {row[5] for row in rows} >= {"new", "churned", "unchanged"}


def test_incremental_mrr_rebuild_on_the_same_data_keeps_every_row(built: Built) -> None:
    assert built.rebuild is not None
    summaries = DONE.findall(built.rebuild.stdout + built.rebuild.stderr)
    assert summaries, built.rebuild.stdout[-4000:]
    assert tuple(map(int, summaries[-1]))[1:] == (0, 0, 0), built.rebuild.stdout[-4000:]
    first, second = built.mrr_builds
    assert first, "mart_mrr_by_subscription is empty: nothing compared"
    assert first == second


def test_customer_overview_equals_the_truth_per_email(built: Built) -> None:
    rows = built.rows(CUSTOMERS_SQL.format(MARTS))
    wrong = customer_differences(rows, {RAW_SCHEMA: built.truth})
    assert not wrong, f"{len(wrong)} customers differ (truth, mart): {list(wrong.items())[:5]}"
    assert any(row[5] for row in rows), "no customer has a subscription: the match is untested"


# -- the marts of the rest of the platform --------------------------------------------------------


def test_mart_teacher_revenue_equals_paid_revenue_of_each_teachers_courses(built: Built) -> None:
    want = expected_teacher_revenue(built.truth)
    assert any(count for _, count, _, _ in want.values()), "no teacher sold: nothing proven"
    rows = built.rows(TEACHER_REVENUE_SQL.format(MARTS))
    wrong = teacher_revenue_differences(rows, {RAW_SCHEMA: built.truth})
    assert not wrong, f"{len(wrong)} teachers differ (truth, mart): {list(wrong.items())[:5]}"


def test_mart_course_content_equals_modules_lessons_and_duration_of_the_truth(
    built: Built,
) -> None:
    want = expected_course_content(built.truth)
    assert any(lessons for _, lessons, _, _ in want.values()), "no lesson: nothing proven"
    rows = built.rows(COURSE_CONTENT_SQL.format(MARTS))
    wrong = course_content_differences(rows, {RAW_SCHEMA: built.truth})
    assert not wrong, f"{len(wrong)} courses differ (truth, mart): {list(wrong.items())[:5]}"


def test_mart_campaign_reach_equals_paid_payments_of_targets_in_the_week_after_sending(
    built: Built,
) -> None:
    want = expected_campaign_reach(built.truth)
    assert any(row[3] for row in want.values()), "no sale attributed to a campaign: nothing proven"
    rows = built.rows(CAMPAIGN_REACH_SQL.format(MARTS))
    wrong = campaign_reach_differences(rows, {RAW_SCHEMA: built.truth})
    assert not wrong, f"{len(wrong)} campaigns differ (truth, mart): {list(wrong.items())[:5]}"
