"""`make bench`: measure the benchmark figures, print the table, write BENCHMARKS.md.

    .venv/bin/python benchmarks/run.py            # everything (about ten minutes on 2 cores)
    .venv/bin/python benchmarks/run.py --quick    # small worlds, a smoke run; writes nothing
    .venv/bin/python benchmarks/run.py --only 1,3 # some figures
    .venv/bin/python benchmarks/run.py --only H   # one figure alone

Each figure starts its own sandbox process (frozen clock, seed 42) and runs the clients as
processes against it.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import figures
import figures_concurrency
import figures_hourly
import figures_latency
import figures_state
import machine
import report
from bench import PROJECT_ROOT, Bench, Row

if TYPE_CHECKING:
    from collections.abc import Callable

ALL_FIGURES = ",".join(
    [
        *("1", "2", "3", "4", "6", *figures_latency.FIGURES, "state", *figures_hourly.FIGURES),
        *figures_concurrency.FIGURES,
    ]
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The bench's knobs; the defaults are what BENCHMARKS.md reports."""
    parser = argparse.ArgumentParser(description="tap-mindzpay benchmarks")
    add = parser.add_argument
    add(
        "--only",
        default=ALL_FIGURES,
        help="comma-separated figures; state: E, B, S, R; DS, H: hourly; AC: concurrency",
    )
    add("--quick", action="store_true", help="small worlds, one repeat; does not write the page")
    add("--invoices", type=int, default=100_000, help="(1) and (4): invoices of the one account")
    add("--large-invoices", type=int, default=1_000_000, help="(4): the large run")
    add("--repeats", type=int, default=3, help="(1): runs per client, the fastest counts")
    add("--rate-limits", default="50,200", help="(3): values of R, requests per 1-s window")
    add("--rate-seconds", type=float, default=15, help="(3): size the world for this long a sync")
    add("--latency-ms", type=int, default=100, help="(2): added to every API request")
    add("--concurrency", type=int, default=16, help="(2): the tap's max_concurrency")
    add("--latency-invoices", type=int, default=4_000, help="(2): invoices of the one account")
    add("--in-flight", type=int, default=2_000, help="(2): in-flight invoices to refresh")
    add("--serial-sample", type=int, default=500, help="(2): serial refreshes actually timed")
    add("--output", default=str(PROJECT_ROOT / "BENCHMARKS.md"))
    figures_latency.add_arguments(parser)
    figures_hourly.add_arguments(parser)
    figures_concurrency.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.invoices, args.large_invoices, args.repeats = 5_000, 20_000, 1
        args.rate_seconds = 3
        args.serial_sample, args.in_flight, args.latency_invoices = 50, 300, 1_000
        figures_latency.quick(args)
        figures_hourly.quick(args)
        figures_concurrency.quick(args)
    return args


def attempt(figure: str, target: str, measure_it: Callable[[], list[Row]]) -> list[Row]:
    """Run one figure; a figure that fails becomes a row saying so, and the bench goes on."""
    try:
        return measure_it()
    except Exception as error:  # noqa: BLE001 - any failure of one figure is reported in its row
        text = str(error).strip()
        first = text.splitlines()[0] if text else type(error).__name__
        return [Row(figure, target, f"failed: {first[:160]}", met=False, details=[text[-3000:]])]


def measure(args: argparse.Namespace, bench: Bench, only: set[str]) -> list[Row]:
    """Run the chosen figures in table order, printing each row as it lands."""
    rows: list[Row] = []

    def done(new: list[Row]) -> None:
        for row in new:
            print(f"  {row.figure}: {row.measured}", flush=True)
        rows.extend(new)

    rss_small: list[int] = []
    if only & {"1", "4"}:
        print(f"(1) throughput, 1 account x {args.invoices:,} invoices ...", flush=True)

        def throughput() -> list[Row]:
            found, rss = figures.throughput(bench, args.invoices, args.repeats)
            rss_small.append(rss)
            return found if "1" in only else []

        done(attempt("(1) throughput", ">= 3.0, >= 0.5, >= 3.0", throughput))
    if "2" in only:
        done(refresh_under_latency(args, bench))
    if "3" in only:
        for limit in [int(part) for part in args.rate_limits.split(",")]:
            print(f"(3) rate limit R={limit}/s ...", flush=True)
            # A full sync makes about 21.25 requests per 1,000 invoices (with 100-record pages).
            invoices = round(limit * args.rate_seconds * 1000 / 21.25)
            done(
                attempt(
                    f"(3) rate limit R = {limit}/s",
                    ">= 0.9, <= 1% 429",
                    lambda limit=limit, invoices=invoices: [
                        figures.rate_limit(bench, limit, invoices)
                    ],
                )
            )
    if "4" in only and rss_small:
        print(f"(4) memory at {args.large_invoices:,} invoices ...", flush=True)
        done(
            attempt(
                "(4) peak RSS",
                "<= 200 MB and <= 1.3x",
                lambda: [figures.memory(bench, (args.invoices, rss_small[0]), args.large_invoices)],
            )
        )
    later = {"6": fast_record_path, "state": figures_state.rows}
    for figure in sorted(only & later.keys()):
        done(later[figure](args, bench))
    rows.extend(figures_latency.measure(args, bench, only, attempt))
    rows.extend(figures_hourly.measure(args, bench, only, attempt))
    rows.extend(figures_concurrency.measure(args, bench, only, attempt))
    return rows


def refresh_under_latency(args: argparse.Namespace, bench: Bench) -> list[Row]:
    """(2): in-flight refreshes under added latency against serial ones."""
    print("(2) refresh under latency ...", flush=True)
    return attempt(
        "(2) refresh under latency",
        ">= 8",
        lambda: [
            figures.refresh_under_latency(
                bench,
                invoices=args.latency_invoices,
                in_flight=args.in_flight,
                latency_ms=args.latency_ms,
                concurrency=args.concurrency,
                serial_sample=args.serial_sample,
            )
        ],
    )


def fast_record_path(args: argparse.Namespace, bench: Bench) -> list[Row]:
    """(6): the full sync of (1) with and without the fast record path."""
    print(f"(6) fast record path, 1 account x {args.invoices:,} invoices ...", flush=True)
    return attempt(
        "(6) fast record path",
        ">= 1.2",
        lambda: [figures.fast_record_path(bench, args.invoices, args.repeats)],
    )


def main(argv: list[str] | None = None) -> int:
    """Measure, print the table, and (unless --quick) write BENCHMARKS.md."""
    args = parse_args(argv)
    only = {part.strip() for part in args.only.split(",") if part.strip()}
    started_at = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load_at_start = machine.load_average()
    started = time.monotonic()
    bench = Bench(PROJECT_ROOT / ".bench")
    rows = measure(args, bench, only)
    seconds = time.monotonic() - started
    print()
    print(report.table_text(rows))
    for row in rows:
        if row.met is False:
            print(f"\n{row.figure}:")
            print("\n".join(f"  {line}" for line in row.details))
    print(f"\n{len(rows)} rows in {seconds / 60:.1f} minutes")
    if not args.quick and only == set(ALL_FIGURES.split(",")):
        command = " ".join(["benchmarks/run.py", *(argv if argv is not None else sys.argv[1:])])
        settings = {
            key: value
            for key, value in vars(args).items()
            if key not in {"only", "quick", "output"}
        }
        page = report.markdown(
            rows,
            machine=machine.describe(load_at_start),
            command=command.strip(),
            settings=settings,
            started=started_at,
            seconds=seconds,
        )
        Path(args.output).write_text(page, encoding="utf-8")
        print(f"wrote {args.output}")
    missed = [row.figure for row in rows if row.met is False]
    if missed:
        print(f"targets not met ({len(missed)}): {'; '.join(missed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
