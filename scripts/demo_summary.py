"""Summarise a `make demo` run: rows landed in DuckDB next to the sandbox's truth; the marts.

Starts the sandbox on the demo's SQLite world (frozen, so it does not move), reads
`GET /_sandbox/truth/{stream}`, counts the live rows of each DuckDB table and prints one line per
table. Counts from the previous run are kept in `output/demo_counts.json`, so a second run shows
what it added and rewrote. Then the dbt marts' row counts and a few lines of three of them
(`mart_revenue_by_course`, `mart_invoice_status`, `mart_subscription_mrr`). Exits 1 when a
table's live rows differ from the truth or the marts are missing.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import requests

from tap_mindzpay.streams import STREAM_TYPES

ROOT = Path(__file__).resolve().parent.parent
# Streams with a truth endpoint (every stream of the tap but the derived ones); a derived stream
# (invoice_status_changes, written while invoices sync) is an observation log, counted only.
TRUTH_STREAMS = tuple(stream.name for stream in STREAM_TYPES if not stream.derived)  # type: ignore[misc]
LOG_STREAMS = tuple(stream.name for stream in STREAM_TYPES if stream.derived)  # type: ignore[misc]
TIMEOUT = 30


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duckdb", type=Path, default=ROOT / "output" / "mindzpay.duckdb")
    parser.add_argument("--sandbox-db", type=Path, default=ROOT / "output" / "sandbox.sqlite")
    parser.add_argument("--schema", default="mindzpay")
    parser.add_argument("--counts", type=Path, default=ROOT / "output" / "demo_counts.json")
    parser.add_argument("--marts-schema", default="analytics")
    return parser.parse_args()


def fetch_truth(sandbox_db: Path) -> dict[str, int]:
    """Start a frozen sandbox on the demo world and count each stream's live records."""
    executable = Path(sys.executable).parent / "mindzpay-sandbox"
    command = [str(executable), "--db", str(sandbox_db), "--frozen", "--port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None  # noqa: S101 - stdout=PIPE above
            root = process.stdout.readline().strip()
            if not root.startswith("http"):
                msg = f"mindzpay-sandbox printed no URL (got {root!r}); see its stderr above"
                raise RuntimeError(msg)
            counts = {}
            for stream in TRUTH_STREAMS:
                response = requests.get(f"{root}/_sandbox/truth/{stream}", timeout=TIMEOUT)
                response.raise_for_status()
                counts[stream] = len(response.json()["data"])
            return counts
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=TIMEOUT)


def _catalog(con: duckdb.DuckDBPyConnection) -> str:
    row = con.execute("SELECT current_database()").fetchone()
    return str(row[0]) if row else "memory"


def table_counts(path: Path, schema: str) -> dict[str, dict[str, Any]]:
    """Count live rows and the latest `_sdc_batched_at` of every table in the demo's schema."""
    result: dict[str, dict[str, Any]] = {}
    with duckdb.connect(str(path), read_only=True) as con:
        # The file is mindzpay.duckdb and the schema mindzpay: qualify with the catalog too.
        catalog = _catalog(con)
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_catalog = ? AND table_schema = ?",
            [catalog, schema],
        ).fetchall()
        for (table,) in tables:
            columns = {
                row[0]
                for row in con.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_catalog = ? AND table_schema = ? AND table_name = ?",
                    [catalog, schema, table],
                ).fetchall()
            }
            live = "_sdc_deleted_at IS NULL" if "_sdc_deleted_at" in columns else "TRUE"
            batched = "max(_sdc_batched_at)" if "_sdc_batched_at" in columns else "NULL"
            total, live_rows, last = con.execute(
                f'SELECT count(*), count(*) FILTER (WHERE {live}), {batched} FROM "{catalog}"."{schema}"."{table}"'  # noqa: S608, E501 - names come from information_schema
            ).fetchone() or (0, 0, None)
            result[table] = {"rows": total, "live": live_rows, "last_batched_at": last}
    return result


def written_since(path: Path, schema: str, table: str, since: str | None) -> int | None:
    """Rows of a table written (inserted or rewritten) after the previous run's last batch."""
    if since is None:
        return None
    with duckdb.connect(str(path), read_only=True) as con:
        catalog = _catalog(con)
        row = con.execute(
            f'SELECT count(*) FROM "{catalog}"."{schema}"."{table}" WHERE _sdc_batched_at > ?',  # noqa: S608
            [datetime.fromisoformat(since)],
        ).fetchone()
    return int(row[0]) if row else 0


MART_TABLES = (
    "mart_revenue_by_course",
    "mart_invoice_status",
    "mart_subscription_mrr",
    "mart_mrr_by_subscription",
    "mart_mrr_by_month",
    "mart_daily_overview",
    "mart_invoice_status_aging",
    "mart_customer_overview",
    "mart_teacher_revenue",
    "mart_course_content",
    "mart_campaign_reach",
)


def print_marts(path: Path, schema: str) -> bool:
    """Print a few lines of each mart; False when dbt has not built them."""
    with duckdb.connect(str(path), read_only=True) as con:
        catalog = _catalog(con)
        built = {
            row[0]
            for row in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_catalog = ? AND table_schema = ?",
                [catalog, schema],
            ).fetchall()
        }
        if missing := [t for t in MART_TABLES if t not in built]:
            print(f"dbt marts missing in schema {schema}: {missing}", file=sys.stderr)
            return False
        prefix = f'"{catalog}"."{schema}"'
        print("marts built (rows):")
        for table in MART_TABLES:
            row = con.execute(f"SELECT count(*) FROM {prefix}.{table}").fetchone()  # noqa: S608
            print(f"  {table:28} {row[0] if row else 0:>8}")
        print("mart_revenue_by_course: the five courses with the most gross revenue")
        print(f"  {'course':40} {'paid':>6} {'gross BRL':>14} {'net BRL':>14}")
        by_course = (
            "SELECT course_name, paid_payments, gross_revenue, net_revenue "  # noqa: S608 - fixed names
            f"FROM {prefix}.mart_revenue_by_course "
            "ORDER BY gross_revenue DESC, course_id LIMIT 5"
        )
        for name, paid, gross, net in con.execute(by_course).fetchall():
            print(f"  {name[:40]:40} {paid:>6} {gross:>14,.2f} {net:>14,.2f}")
        print("mart_invoice_status: invoices by current status, time in flight (0, 1, 4)")
        print(f"  {'status':34} {'invoices':>9} {'avg hours':>10} {'max hours':>10}")
        by_status = (
            "SELECT status || ' ' || status_label, count(*), avg(hours_in_flight), "  # noqa: S608 - fixed names
            f"max(hours_in_flight) FROM {prefix}.mart_invoice_status "
            "GROUP BY status, status_label ORDER BY status"
        )
        for label, invoices, average, longest in con.execute(by_status).fetchall():
            print(f"  {label:34} {invoices:>9} {average:>10.1f} {longest:>10.1f}")
        print("mart_subscription_mrr: MRR of the last three months, and the month's top plan")
        by_month = (
            "SELECT month, count(*), sum(active_subscriptions), sum(mrr), "  # noqa: S608 - fixed names
            "arg_max(plan_id, mrr), max(mrr) "
            f"FROM {prefix}.mart_subscription_mrr "
            "GROUP BY month ORDER BY month DESC LIMIT 3"
        )
        for month, plans, subscriptions, mrr, top_plan, top_mrr in con.execute(by_month).fetchall():
            print(
                f"  {month:%Y-%m}  MRR {mrr:>13,.2f} BRL  {subscriptions:>4} subscriptions "
                f"in {plans:>2} plans; top plan {top_plan} ({top_mrr:,.2f})"
            )
    return True


def main() -> int:
    """Print the summary; return 1 if any table disagrees with the truth."""
    args = parse_args()
    if not args.duckdb.exists():
        print(f"{args.duckdb} does not exist: run `make demo` first", file=sys.stderr)
        return 1
    truth = fetch_truth(args.sandbox_db)
    landed = table_counts(args.duckdb, args.schema)
    previous: dict[str, dict[str, Any]] = (
        json.loads(args.counts.read_text(encoding="utf-8")) if args.counts.exists() else {}
    )

    print()
    print(f"{'table':32} {'in DuckDB':>10} {'sandbox':>10}  {'match':5}  this run")
    mismatches = 0
    for table in (*TRUTH_STREAMS, *LOG_STREAMS):
        counts = landed.get(table, {"rows": 0, "live": 0, "last_batched_at": None})
        expected = truth.get(table)
        ok = expected is None or counts["live"] == expected
        mismatches += not ok
        before = previous.get(table)
        if before is None:
            change = "first run: all rows new"
        else:
            since = before.get("last_batched_at")
            written = (
                written_since(args.duckdb, args.schema, table, since)
                if table in landed and since
                else None
            )
            added = counts["live"] - before.get("live", 0)
            change = f"{added:+d} live rows"
            if written is not None:
                change += f", {written} rows written (new or changed)"
        print(
            f"{table:32} {counts['live']:>10} "
            f"{'-' if expected is None else expected:>10}  "
            f"{'-' if expected is None else ('yes' if ok else 'NO'):5}  {change}"
        )

    saved = {
        table: {
            "live": counts["live"],
            "rows": counts["rows"],
            "last_batched_at": None
            if counts["last_batched_at"] is None
            else counts["last_batched_at"].isoformat(),
        }
        for table, counts in landed.items()
    }
    args.counts.write_text(json.dumps(saved, indent=2) + "\n", encoding="utf-8")
    print()
    if previous:
        print("Incremental run: Meltano resumed from the state kept in .meltano/.")
    if mismatches:
        print(f"{mismatches} table(s) differ from the sandbox truth.", file=sys.stderr)
    else:
        print("Every table matches the sandbox truth.")
    print()
    marts = print_marts(args.duckdb, args.marts_schema)
    return 1 if mismatches or not marts else 0


if __name__ == "__main__":
    sys.exit(main())
