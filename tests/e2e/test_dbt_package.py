"""The dbt package in transform/, installed into a fresh dbt project and built on two shards.

Two sandboxes (two MindzPay platforms: their ids overlap) are loaded by `meltano run tap-mindzpay
target-duckdb` into two schemas of one DuckDB file, as two shards of a deployment would be. A new
dbt project in a temp dir lists this clone's transform/ in its packages.yml (`local:`), sets var
`mindzpay_schemas` to the two schemas, and runs `dbt deps`, `dbt build` and `dbt docs generate
--static`; scripts/demo_report.py draws the marts. Then:

* every model and data test of the package passed;
* staging holds each shard's truth once, keyed by (source_relation, id), ids repeating across
  shards;
* mart_daily_overview equals the truth's payments day by day, whole rows, per shard;
* mart_mrr_by_subscription equals the truth's subscriptions month by month (MRR, the month
  before's, movement), and mart_mrr_by_month is its sum;
* mart_customer_overview equals the truth per customer e-mail;
* the marts of the rest of the platform (mart_teacher_revenue, mart_course_content,
  mart_campaign_reach) equal what `helpers.school` computes from each shard's truth, per shard,
  their staging keyed by (source_relation, id) with ids repeating across shards;
* the dashboard, opened in headless Chromium, draws the marts' numbers;
* after both sandbox clocks move, an incremental sync of each shard and a second build, the MRR of
  every month that was already closed at the first build is unchanged.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from helpers import SandboxProcess
from helpers.browser import rendered_dom
from helpers.finance import (
    CUSTOMERS_SQL,
    DAILY_COLUMNS,
    DAILY_SQL,
    MRR_SQL,
    customer_differences,
    daily_overview_differences,
    expected_daily_overview,
    mrr_differences,
)
from helpers.meltano import MELTANO_WORKER, IsolatedMeltano, Pipeline
from helpers.processes import PROJECT_ROOT, child_env, meltano_plugin_executable, venv_script
from helpers.school import (
    CAMPAIGN_REACH_SQL,
    COURSE_CONTENT_SQL,
    TEACHER_REVENUE_SQL,
    campaign_reach_differences,
    course_content_differences,
    teacher_revenue_differences,
)
from helpers.services import require_plugins
from helpers.streams import MINDZPAY_STREAMS, PLATFORM_STREAMS, TRUTH_STREAMS
from helpers.warehouse import duckdb_target_env

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import date
    from pathlib import Path

pytestmark = [pytest.mark.e2e, MELTANO_WORKER]

#: Shard schema -> seed of its sandbox.
SHARDS = {"shard_a": 21, "shard_b": 22}
MARTS = "analytics"
STAGING = f"{MARTS}_staging"
ADVANCE_SECONDS = 86400
DONE = re.compile(r"Done\. PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)")
#: What each build reads back, by name.
QUERIES = {
    "payments": f"SELECT source_relation, id, status, amount FROM {STAGING}.stg_mindzpay__payments",  # noqa: S608 - fixed names
    "daily": DAILY_SQL.format(MARTS),
    "mrr": MRR_SQL.format(MARTS),
    "mrr_by_month": (
        "SELECT source_relation, month, mrr, previous_mrr, new_mrr, expansion_mrr, "  # noqa: S608 - fixed names
        "contraction_mrr, churned_mrr, reactivation_mrr, active_subscriptions "
        f"FROM {MARTS}.mart_mrr_by_month"
    ),
    "customers": CUSTOMERS_SQL.format(MARTS),
    "courses": (
        "SELECT course_id, course_name, gross_revenue, net_revenue "  # noqa: S608 - fixed names
        f"FROM {MARTS}.mart_revenue_by_course"
    ),
    "teachers": TEACHER_REVENUE_SQL.format(MARTS),
    "content": COURSE_CONTENT_SQL.format(MARTS),
    "campaigns": CAMPAIGN_REACH_SQL.format(MARTS),
    "lessons": f"SELECT source_relation, id FROM {STAGING}.stg_mindz__course_grade_details",  # noqa: S608 - fixed names
    "aging": (
        "SELECT status, periods_observed, average_days, longest_days "  # noqa: S608 - fixed names
        f"FROM {MARTS}.mart_invoice_status_aging"
    ),
}


@dataclass
class Build:
    """One `dbt build` of the fresh project: its output, the truth then, and the marts read back."""

    output: str
    truth: dict[str, dict[str, list[dict[str, Any]]]]  # shard -> stream -> records
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)


@dataclass
class Installed:
    """The fresh project's two builds, and the report drawn after the first."""

    first: Build
    second: Build
    report: Path


def _dbt(project: Path, *args: str) -> str:
    executable = meltano_plugin_executable("utilities", "dbt-duckdb", "dbt")
    assert executable is not None
    completed = subprocess.run(
        [str(executable), *args, "--project-dir", str(project), "--profiles-dir", str(project)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=child_env({"DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}),
        cwd=project,
        timeout=900,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, f"dbt {' '.join(args)} failed:\n{output[-6000:]}"
    return output


def _fresh_project(project: Path, database: Path) -> None:
    """A dbt project that installs transform/ as a package and reads the two shards."""
    project.mkdir()
    files = {
        "dbt_project.yml": {
            "name": "finance",
            "version": "1.0.0",
            "config-version": 2,
            "profile": "finance",
            "vars": {"mindzpay_schemas": list(SHARDS)},
        },
        "packages.yml": {"packages": [{"local": str(PROJECT_ROOT / "transform")}]},
        "profiles.yml": {
            "finance": {
                "target": "dev",
                "outputs": {
                    "dev": {"type": "duckdb", "path": str(database), "schema": MARTS, "threads": 1}
                },
            }
        },
    }
    for name, content in files.items():
        (project / name).write_text(yaml.safe_dump(content), encoding="utf-8")


def _read(database: Path) -> dict[str, list[tuple[Any, ...]]]:
    import duckdb  # noqa: PLC0415 - only the DuckDB tests need it

    with duckdb.connect(str(database), read_only=True) as connection:
        return {name: connection.execute(sql).fetchall() for name, sql in QUERIES.items()}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    require_plugins(
        ("extractors", "tap-mindzpay"),
        ("loaders", "target-duckdb"),
        ("utilities", "dbt-duckdb", "dbt"),
    )
    workdir = tmp_path_factory.mktemp("dbt-package")
    database, project = workdir / "warehouse.duckdb", workdir / "finance"
    _fresh_project(project, database)
    sandboxes = {
        schema: SandboxProcess.start(seed=seed, accounts=2, invoices_per_account=100)
        for schema, seed in SHARDS.items()
    }
    try:
        meltanos = {
            schema: IsolatedMeltano(
                workdir / f"meltano-{schema}",
                env={**sandbox.tap_env(), **duckdb_target_env(database, schema)},
            )
            for schema, sandbox in sandboxes.items()
        }

        def sync_and_build(*, docs: bool) -> Build:
            for meltano in meltanos.values():
                meltano.run(*Pipeline("target-duckdb").argv()).check()
            truth = {
                schema: {stream: sandbox.truth(stream) for stream in TRUTH_STREAMS}
                for schema, sandbox in sandboxes.items()
            }
            build = Build(_dbt(project, "build"), truth)
            if docs:
                _dbt(project, "docs", "generate", "--static")
            build.rows = _read(database)
            return build

        _dbt(project, "deps")
        first = sync_and_build(docs=True)
        report = workdir / "report"
        subprocess.run(
            [
                venv_script("python"),
                str(PROJECT_ROOT / "scripts" / "demo_report.py"),
                *("--duckdb", str(database), "--marts-schema", MARTS, "--out", str(report)),
                *("--docs", str(project / "target" / "static_index.html")),
            ],
            check=True,
            capture_output=True,
            env=child_env(),
        )
        for sandbox in sandboxes.values():
            sandbox.advance(ADVANCE_SECONDS)
        second = sync_and_build(docs=False)
        yield Installed(first, second, report / "index.html")
    finally:
        for sandbox in sandboxes.values():
            sandbox.stop()


# -- the build ------------------------------------------------------------------------------------


def test_package_installs_into_a_fresh_project_and_every_test_passes(installed: Installed) -> None:
    for build in (installed.first, installed.second):
        summaries = DONE.findall(build.output)
        assert summaries, build.output[-4000:]
        passed, warned, errors, skipped = map(int, summaries[-1])
        assert (warned, errors, skipped) == (0, 0, 0), build.output[-4000:]
        # 1 seed, the package's models and their data tests.
        assert passed >= 150, build.output[-4000:]


# -- shards ---------------------------------------------------------------------------------------


def test_staging_unions_both_shards_with_keys_unique_per_source_relation(
    installed: Installed,
) -> None:
    build = installed.first
    got = {
        (shard, i): (status, Decimal(amount)) for shard, i, status, amount in build.rows["payments"]
    }
    assert len(got) == len(build.rows["payments"]), "a (source_relation, id) twice in staging"
    want = {
        (shard, r["id"]): (r["status"], Decimal(r["amount"]))
        for shard, streams in build.truth.items()
        for r in streams["payments"]
    }
    assert got == want, f"{len(got.items() ^ want.items())} payments differ from the truths"
    ids = {shard: {i for s, i in got if s == shard} for shard in SHARDS}
    # The point of source_relation: the same id names two different payments in two shards.
    assert ids["shard_a"] & ids["shard_b"], "the two shards share no payment id: keys untested"
    assert all(build.truth[s][stream] for s in SHARDS for stream in MINDZPAY_STREAMS)


# -- marts against the truth ----------------------------------------------------------------------


def test_daily_overview_equals_the_truth_payments_day_by_day(installed: Installed) -> None:
    build = installed.first
    payments = {shard: build.truth[shard]["payments"] for shard in SHARDS}
    wrong = daily_overview_differences(build.rows["daily"], payments)
    assert not wrong, f"{len(wrong)} (shard, day) differ (truth, mart): {list(wrong.items())[:5]}"
    # Refunds and every method occur in each shard, so each column is exercised.
    for shard in SHARDS:
        days = expected_daily_overview(payments[shard]).values()
        for column in ("refunds", "boleto_gross", "card_gross", "pix_gross"):
            assert any(day[column] for day in days), (shard, column)


def test_daily_net_sums_to_paid_payments_minus_refunds(installed: Installed) -> None:
    build = installed.first
    net = 2 + DAILY_COLUMNS.index("net")  # after source_relation and day
    for shard in SHARDS:
        payments = build.truth[shard]["payments"]
        paid_now = sum(Decimal(p["amount"]) for p in payments if p["status"] == "paid")
        assert sum(Decimal(r[net]) for r in build.rows["daily"] if r[0] == shard) == paid_now


def test_mrr_by_subscription_equals_the_truth_with_its_movements(installed: Installed) -> None:
    build = installed.first
    subscriptions = {shard: build.truth[shard]["subscriptions"] for shard in SHARDS}
    wrong = mrr_differences(build.rows["mrr"], subscriptions)
    assert not wrong, f"{len(wrong)} (shard, subscription, month) differ: {list(wrong.items())[:5]}"
    movements = Counter(row[5] for row in build.rows["mrr"])
    assert movements["new"], movements
    assert movements["churned"], movements
    assert movements["unchanged"], movements


def test_mrr_by_month_is_the_sum_of_the_subscriptions_movements(installed: Installed) -> None:
    build = installed.first
    by_month: dict[tuple[str, date], list[Decimal]] = {}
    moves = ("new", "expansion", "contraction", "churned", "reactivation")
    for shard, _sub, month, mrr, previous, movement in build.rows["mrr"]:
        sums = by_month.setdefault((shard, month), [Decimal(0)] * 7 + [0])  # type: ignore[list-item]
        sums[0] += Decimal(mrr)
        sums[1] += Decimal(previous)
        if movement in moves:
            sums[2 + moves.index(movement)] += Decimal(mrr) - Decimal(previous)
        sums[7] += Decimal(mrr) > 0
    got = {(r[0], r[1]): [Decimal(v) for v in r[2:9]] + [r[9]] for r in build.rows["mrr_by_month"]}
    assert got == by_month


def test_customer_overview_equals_the_truth_per_email(installed: Installed) -> None:
    build = installed.first
    wrong = customer_differences(build.rows["customers"], build.truth)
    assert not wrong, f"{len(wrong)} customers differ (truth, mart): {list(wrong.items())[:5]}"


def test_school_marts_equal_each_shards_truth(installed: Installed) -> None:
    build = installed.first
    # Each shard loaded every platform stream, so the union of both is what the marts read.
    assert all(build.truth[s][stream] for s in SHARDS for stream in PLATFORM_STREAMS)
    lessons = build.rows["lessons"]
    assert len(set(lessons)) == len(lessons), "a (source_relation, id) twice in staging"
    ids = {shard: {i for s, i in lessons if s == shard} for shard in SHARDS}
    assert ids == {s: {r["id"] for r in build.truth[s]["course_grade_details"]} for s in SHARDS}
    assert ids["shard_a"] & ids["shard_b"], "the two shards share no lesson id: keys untested"
    checks = (
        ("teachers", teacher_revenue_differences),
        ("content", course_content_differences),
        ("campaigns", campaign_reach_differences),
    )
    for name, differences in checks:
        rows = build.rows[name]
        assert {row[0] for row in rows} == set(SHARDS), f"{name}: a shard has no row"
        wrong = differences(rows, build.truth)
        assert not wrong, (
            f"{name}: {len(wrong)} rows differ (truth, mart): {list(wrong.items())[:5]}"
        )


# -- the dashboard --------------------------------------------------------------------------------

BARTEXT = re.compile(r'<text class="bartext[^"]*"[^>]*>([^<]*)</text>')


def _chart_texts(dom: str) -> dict[str, list[str]]:
    """The bar labels drawn in each chart of the report, by the chart's div id."""
    charts = ("mrr-movements", "revenue-by-course", "nota-status-aging")
    starts = [dom.index(f'id="{chart}"') for chart in charts]
    ends = [*starts[1:], len(dom)]
    return {
        chart: BARTEXT.findall(dom[start:end])
        for chart, start, end in zip(charts, starts, ends, strict=True)
    }


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def test_dashboard_renders_in_chromium_with_the_marts_numbers(installed: Installed) -> None:
    assert (installed.report.parent / "docs" / "index.html").stat().st_size > 0
    texts = _chart_texts(rendered_dom(installed.report))
    rows = installed.first.rows
    # MRR movements: every non-zero movement of every month (both shards summed).
    per_month: dict[date, list[Decimal]] = {}
    for row in rows["mrr_by_month"]:
        sums = per_month.setdefault(row[1], [Decimal(0)] * 5)
        for index, value in enumerate(row[4:9]):
            sums[index] += Decimal(value)
    drawn = Counter(texts["mrr-movements"])
    assert drawn == Counter(_money(v) for sums in per_month.values() for v in sums if v), drawn
    # Revenue by course: gross and net of the 20 courses that sold most.
    courses: dict[tuple[int, str], list[Decimal]] = {}
    for course_id, name, gross, net in rows["courses"]:
        sums = courses.setdefault((course_id, name), [Decimal(0), Decimal(0)])
        sums[0] += Decimal(gross)
        sums[1] += Decimal(net)
    top = sorted((k for k in courses if courses[k][0] > 0), key=lambda k: (-courses[k][0], k[0]))
    expected = Counter(_money(v) for k in top[:20] for v in courses[k])
    assert Counter(texts["revenue-by-course"]) == expected
    # Nota status aging: the longest wait of each status (the average is drawn beside it).
    longest: dict[int, Decimal] = {}
    for status, _periods, _average, days in rows["aging"]:
        longest[status] = max(longest.get(status, Decimal(0)), Decimal(days))
    drawn_aging = texts["nota-status-aging"]
    assert len(drawn_aging) == 2 * len(longest)
    assert Counter(drawn_aging) >= Counter(_money(v) for v in longest.values())


# -- consistency ----------------------------------------------------------------------------------


def test_closed_months_mrr_does_not_change_after_a_clock_move_and_an_incremental_sync(
    installed: Installed,
) -> None:
    first, second = installed.first, installed.second
    assert first.truth != second.truth, "the clock move changed nothing: nothing to compare"
    open_month = max(row[1] for row in first.rows["mrr_by_month"])

    def closed(rows: list[tuple[Any, ...]], month_at: int) -> set[tuple[Any, ...]]:
        return {row for row in rows if row[month_at] < open_month}

    before, after = closed(first.rows["mrr"], 2), closed(second.rows["mrr"], 2)
    assert before, "no closed month"
    assert before == after, f"closed months changed: {sorted(before ^ after)[:10]}"
    assert closed(first.rows["mrr_by_month"], 1) == closed(second.rows["mrr_by_month"], 1)
