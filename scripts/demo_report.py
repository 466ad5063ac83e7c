"""Write the demo's browsable report: a static dashboard of the dbt marts, beside the dbt docs.

Reads the marts from the DuckDB file dbt built them in and writes `<out>/index.html`: three
charts drawn with plotly (MRR movements per month as a stacked bar with the MRR line, revenue by
course, how long notas fiscais wait in each status), plotly.js inlined once, so the page opens
from disk on a machine without network. Each bar carries its value as text, so what the page
shows can be read back and checked against the marts. With `--docs` (the `static_index.html`
that `dbt docs generate --static` writes) the dbt docs site, lineage graph included, is copied to
`<out>/docs/index.html` and linked. Prints the report's path last.
"""

from __future__ import annotations

import argparse
import html
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

if TYPE_CHECKING:
    from decimal import Decimal

ROOT = Path(__file__).resolve().parent.parent
#: The movements mart_mrr_by_month sums, in stacking order, with their colours.
MOVEMENTS = {
    "new": "#2ca02c",
    "expansion": "#98df8a",
    "reactivation": "#1f77b4",
    "contraction": "#ff9896",
    "churned": "#d62728",
}
#: Courses drawn: the ones with the most gross revenue.
TOP_COURSES = 20
#: Bar labels: plotly's d3 format of the values (thousands separators, two decimals).
MONEY = ",.2f"


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duckdb", type=Path, default=ROOT / "output" / "mindzpay.duckdb")
    parser.add_argument("--marts-schema", default="analytics")
    parser.add_argument("--docs", type=Path, help="static_index.html of `dbt docs generate`")
    parser.add_argument("--out", type=Path, default=ROOT / "output" / "report")
    return parser.parse_args()


def read_marts(path: Path, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """The rows each chart draws, summed over the shards (source_relation)."""
    prefix = f'"{schema}"'
    queries = {
        "mrr": (
            "SELECT month, sum(mrr), "  # noqa: S608 - fixed names
            + ", ".join(f"sum({m}_mrr)" for m in MOVEMENTS)
            + f" FROM {prefix}.mart_mrr_by_month GROUP BY month ORDER BY month"
        ),
        # Several courses share a name: each bar is one course_id.
        "courses": (
            "SELECT * FROM (SELECT course_id, course_name, sum(gross_revenue) AS gross, "  # noqa: S608
            f"sum(net_revenue) FROM {prefix}.mart_revenue_by_course GROUP BY course_id, "
            f"course_name HAVING sum(gross_revenue) > 0 ORDER BY gross DESC, course_id "
            f"LIMIT {TOP_COURSES}) AS top ORDER BY gross, course_id DESC"
        ),
        "aging": (
            "SELECT status, status_label, sum(notas_now), "  # noqa: S608
            "sum(average_days * periods_observed) / sum(periods_observed), max(longest_days), "
            "sum(notas_stuck), max(stuck_after_days) "
            f"FROM {prefix}.mart_invoice_status_aging GROUP BY status, status_label ORDER BY status"
        ),
    }
    with duckdb.connect(str(path), read_only=True) as connection:
        return {name: connection.execute(sql).fetchall() for name, sql in queries.items()}


def _bars(**trace: object) -> go.Bar:
    """A bar trace whose value is written on each bar (read back by the report's test)."""
    value = "%{x" if trace.get("orientation") == "h" else "%{y"
    return go.Bar(texttemplate=f"{value}:{MONEY}}}", textposition="auto", **trace)


def _none_for_zero(values: list[Decimal]) -> list[float | None]:
    """Zero movements are not drawn (a zero-height bar carries no readable label)."""
    return [float(v) if v else None for v in values]


def mrr_figure(rows: list[tuple[Any, ...]]) -> go.Figure:
    """MRR movements per month, stacked (gains up, losses down), and the month's MRR as a line."""
    months = [row[0].strftime("%Y-%m") for row in rows]
    figure = go.Figure()
    quiet = []
    for index, (movement, colour) in enumerate(MOVEMENTS.items()):
        values = [row[2 + index] for row in rows]
        if not any(values):
            quiet.append(movement)
            continue
        figure.add_trace(
            _bars(name=f"{movement} MRR", x=months, y=_none_for_zero(values), marker_color=colour)
        )
    figure.add_trace(
        go.Scatter(name="MRR", x=months, y=[float(row[1]) for row in rows], mode="lines+markers")
    )
    note = f" (no {', '.join(quiet)} in these months)" if quiet else ""
    figure.update_layout(
        barmode="relative",
        title=f"MRR movements per month, BRL{note}",
        yaxis_title="BRL",
        legend_title="mart_mrr_by_month",
    )
    return figure


def courses_figure(rows: list[tuple[Any, ...]]) -> go.Figure:
    """Gross and net revenue of the top courses (horizontal bars, largest on top)."""
    names = [f"{row[1]} #{row[0]}" for row in rows]
    figure = go.Figure(
        [
            _bars(name="net of fees", y=names, x=[float(r[3]) for r in rows], orientation="h"),
            _bars(name="gross", y=names, x=[float(r[2]) for r in rows], orientation="h"),
        ]
    )
    figure.update_layout(
        title=f"Revenue by course, BRL: the {TOP_COURSES} that sold most (mart_revenue_by_course)",
        barmode="group",
        height=max(400, 36 * len(rows)),
        xaxis_title="BRL",
    )
    return figure


def aging_figure(rows: list[tuple[Any, ...]]) -> go.Figure:
    """Average and longest days notas spent in each status, and how many are stuck now."""
    labels = [f"{row[0]} {row[1]}" for row in rows]
    stuck_after = rows[0][6] if rows else 0
    figure = go.Figure(
        [
            _bars(name="average days", x=labels, y=[float(r[3]) for r in rows]),
            _bars(name="longest days", x=labels, y=[float(r[4]) for r in rows]),
        ]
    )
    stuck = ", ".join(f"{row[1]}: {row[5]}" for row in rows if row[5])
    figure.update_layout(
        title=(
            f"Nota fiscal status aging (mart_invoice_status_aging); stuck over {stuck_after} "
            f"days now: {stuck or 'none'}"
        ),
        barmode="group",
        yaxis_title="days",
    )
    return figure


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>MindzPay marts</title>
<script>{plotly}</script>
<style>body {{ font-family: sans-serif; margin: 2em; }} .chart {{ margin-bottom: 3em; }}</style>
</head><body>
<h1>MindzPay marts</h1>
<p>Built from {source}. {docs}</p>
{charts}
</body></html>
"""


def write_report(
    marts: dict[str, list[tuple[Any, ...]]], source: Path, out: Path, docs: Path | None
) -> Path:
    """Write index.html (and docs/index.html when `docs` is given); return index.html's path."""
    out.mkdir(parents=True, exist_ok=True)
    link = "The dbt docs site was not generated."
    if docs is not None:
        (out / "docs").mkdir(exist_ok=True)
        shutil.copyfile(docs, out / "docs" / "index.html")
        link = '<a href="docs/index.html">The dbt docs: every model, column and lineage.</a>'
    figures = {
        "mrr-movements": mrr_figure(marts["mrr"]),
        "revenue-by-course": courses_figure(marts["courses"]),
        "nota-status-aging": aging_figure(marts["aging"]),
    }
    charts = "\n".join(
        f'<div class="chart">{figure.to_html(full_html=False, include_plotlyjs=False, div_id=name)}'
        "</div>"
        for name, figure in figures.items()
    )
    index = out / "index.html"
    index.write_text(
        PAGE.format(
            plotly=get_plotlyjs(), source=html.escape(str(source)), docs=link, charts=charts
        ),
        encoding="utf-8",
    )
    return index


def main() -> int:
    """Write the report; exit 1 with one line when the marts cannot be read."""
    args = parse_args()
    if not args.duckdb.exists():
        print(f"{args.duckdb} does not exist: run `make demo` first", file=sys.stderr)
        return 1
    if args.docs is not None and not args.docs.exists():
        print(f"{args.docs} does not exist: run `dbt docs generate --static`", file=sys.stderr)
        return 1
    try:
        marts = read_marts(args.duckdb, args.marts_schema)
    except duckdb.CatalogException as error:
        first_line = str(error).splitlines()[0]
        print(f"marts missing in schema {args.marts_schema}: {first_line}", file=sys.stderr)
        return 1
    index = write_report(marts, args.duckdb, args.out, args.docs)
    print(f"Report: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
