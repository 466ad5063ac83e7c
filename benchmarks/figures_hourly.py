"""The figures of a real hourly sync against a far API: (DS) short lists and (H) a large school.

(DS) is a full sync of 4 accounts whose lists are about a dozen pages each, the size of a real
school's account, and (H) an hourly incremental sync with nothing new of a large school (20
accounts and the platform streams); every request takes 100 ms. Both give serial time over the
tap's time, as (C) and (D) do (``figures_latency``), and (H) its wall time. The far API's
set-up and the timed syncs are ``figures_latency``'s: (DS) is (D)'s ``far_paging`` on a smaller
world, (H) uses its ``settle``, ``set_latency`` and ``timed_runs``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench import Bench, Row, total_requests
from figures_latency import far_paging, run_named, serial_seconds, set_latency, settle, timed_runs

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

#: The figures of this module, as ``--only`` names them.
FIGURES = ("DS", "H")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This module's knobs (their defaults are what BENCHMARKS.md reports)."""
    add = parser.add_argument
    add("--short-accounts", type=int, default=4, help="(DS): accounts")
    add(
        "--short-records",
        type=int,
        default=1_150,
        help="(DS): invoices and subscriptions per account (12 pages of 100 each)",
    )
    add("--school-accounts", type=int, default=20, help="(H): accounts of the large school")
    add("--school-invoices", type=int, default=2_000, help="(H): invoices per account")
    add(
        "--school-repeats",
        type=int,
        default=5,
        help="(H): hourly syncs timed, the fastest counts (each is about 2 s: a shared "
        "machine's scheduling is a large share of one)",
    )


def quick(args: argparse.Namespace) -> None:
    """Small worlds for a smoke run."""
    args.short_records, args.school_accounts, args.school_invoices = 250, 4, 300
    args.school_repeats = 1


def measure(
    args: argparse.Namespace,
    bench: Bench,
    only: set[str],
    attempt: Callable[[str, str, Callable[[], list[Row]]], list[Row]],
) -> list[Row]:
    """The chosen figures of this module, each through ``attempt``; rows printed as they land."""
    figures = {
        "DS": ("(DS) full sync, short lists, 100 ms", ">= 6", lambda: [short_lists(bench, args)]),
        "H": (
            "(H) hourly sync, nothing new, 100 ms",
            ">= 15",
            lambda: [hourly_school(bench, args)],
        ),
    }
    return run_named(figures, only, attempt)


def short_lists(bench: Bench, args: argparse.Namespace) -> Row:
    """Wall time of a full sync of 4 accounts with ~12 pages per list, nothing in flight."""
    latency, accounts, size = args.far_latency_ms, args.short_accounts, args.short_records
    extra = ("--subscriptions-per-account", str(size))
    settled, records, runs, stats, serial, how = far_paging(
        bench, args, "short-lists", accounts=accounts, invoices=size, extra=extra
    )
    tap_seconds = min(runs)
    ratio = serial / tap_seconds
    return Row(
        f"(DS) serial / tap time, full sync of {accounts} accounts, short lists, {latency} ms",
        ">= 6",
        f"{serial:,.1f}s / {tap_seconds:,.1f}s for {total_requests(stats):,} requests",
        ratio,
        ratio >= 6,
        [
            (
                f"{accounts} accounts x {size:,} invoices, {size:,} payments and {size:,} "
                f"subscriptions (about {-(-size // 100)} pages of 100 per list): {records:,} "
                f"records of the four data streams; nothing in flight (POST /_sandbox/settle "
                f"settled {settled}); {latency} ms on every API request; tap process wall time, "
                f"start-up included, default settings, best of {len(runs)} "
                f"({', '.join(f'{seconds:.1f}s' for seconds in runs)})"
            ),
            how,
        ],
    )


def hourly_school(bench: Bench, args: argparse.Namespace) -> Row:
    """Wall time of an incremental sync with nothing new, every stream, of a large school."""
    latency, accounts, invoices = args.far_latency_ms, args.school_accounts, args.school_invoices
    with bench.sandbox(accounts=accounts, invoices=invoices) as sandbox:
        settled = settle(sandbox)
        bench.run_tap("school-full", sandbox, streams=None, keep_output=True, timeout=1800)
        state = bench.last_state("school-full")
        (bench.workdir / "school-full.out.jsonl").unlink()
        set_latency(sandbox, latency)
        runs, stats = timed_runs(
            bench, sandbox, "school-hourly", args.school_repeats, streams=None, state=state
        )
        refreshes = len(stats.get("refreshes", []))
        if refreshes:
            msg = f"the hourly sync made {refreshes} refreshes: the world had records in flight"
            raise RuntimeError(msg)
        serial, how = serial_seconds(sandbox, stats, args.far_serial_sample)
    tap_seconds = min(runs)
    ratio = serial / tap_seconds
    return Row(
        f"(H) serial / tap time, hourly sync with nothing new, {accounts} accounts, {latency} ms",
        ">= 15",
        f"{serial:,.1f}s / {tap_seconds:,.1f}s for {total_requests(stats):,} requests",
        ratio,
        ratio >= 15,
        [
            (
                f"a school of {accounts} accounts x {invoices:,} invoices and the platform "
                f"streams; nothing in flight (POST /_sandbox/settle settled {settled}); a full "
                f"sync of every stream (no latency), then {latency} ms on every API request and "
                "the next sync of every stream from its STATE timed with the clock unmoved "
                "(nothing new, no sweep due): tap process wall time, start-up included, "
                f"default settings, best of {len(runs)} "
                f"({', '.join(f'{seconds:.1f}s' for seconds in runs)})"
            ),
            how,
        ],
    )
