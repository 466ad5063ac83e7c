"""(AC) adaptive concurrency: the tap's adaptive limit against its fixed ``max_concurrency``.

Two platforms, every request taking 100 ms: one that serves any number of requests at once, and
one that refuses a request arriving while ``--ac-max-in-flight`` are being served (sandbox switch
``max_in_flight``: 429 with ``Retry-After: 1``). On each, the same full sync (list pages fetched
ahead, then Refreshes of invoices put in flight before each run) runs with
``adaptive_concurrency`` on and off, default ``max_concurrency``, ``--ac-repeats`` times each.
Reported: the fastest run's tap process wall time and the 429s the sandbox counted in it. Every
run has ``max_retries`` 20, so that a fixed limit's run finishes and can be timed rather than
stop on a request refused nine times.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from bench import Bench, Row, total_requests

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from helpers import SandboxProcess

#: The figures of this module, as ``--only`` names them.
FIGURES = ("AC",)
#: The tap's settings of every run (all else default).
SETTINGS = {"max_retries": 20}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This module's knobs."""
    add = parser.add_argument
    add("--ac-latency-ms", type=int, default=100, help="(AC): added to every API request")
    add("--ac-invoices", type=int, default=4_000, help="(AC): invoices of the one account")
    add("--ac-in-flight", type=int, default=500, help="(AC): invoices to refresh in each run")
    add("--ac-max-in-flight", type=int, default=8, help="(AC): requests the platform serves")
    add("--ac-repeats", type=int, default=2, help="(AC): syncs of each kind, the fastest counts")


def quick(args: argparse.Namespace) -> None:
    """A small world for a smoke run."""
    args.ac_invoices, args.ac_in_flight, args.ac_repeats = 1_000, 100, 1


def measure(
    args: argparse.Namespace,
    bench: Bench,
    only: set[str],
    attempt: Callable[[str, str, Callable[[], list[Row]]], list[Row]],
) -> list[Row]:
    """(AC) if chosen, through ``attempt``; its rows printed as they land."""
    if "AC" not in only:
        return []
    figure = "(AC) adaptive concurrency, 100 ms"
    print(f"{figure} ...", flush=True)
    rows = attempt(figure, "fewer 429s, no slower", lambda: adaptive_concurrency(bench, args))
    for row in rows:
        print(f"  {row.figure}: {row.measured}", flush=True)
    return rows


class Sync(NamedTuple):
    """One timed sync and what the sandbox answered it."""

    seconds: float
    requests: int
    http_429: int


def timed_sync(
    bench: Bench, sandbox: SandboxProcess, args: argparse.Namespace, label: str, *, adaptive: bool
) -> Sync:
    """A full sync after putting ``ac_in_flight`` invoices in flight; its time and 429s."""
    sandbox.admin("POST", "/_sandbox/in_flight", params={"count": args.ac_in_flight})
    sandbox.reset_stats()
    config = {**SETTINGS, "adaptive_concurrency": adaptive}
    run = bench.run_tap(label, sandbox, config=config)
    stats = sandbox.stats()
    return Sync(run.seconds, total_requests(stats), total_requests(stats, 429))


def adaptive_concurrency(bench: Bench, args: argparse.Namespace) -> list[Row]:
    """Adaptive versus fixed, on a platform without and with a limit of requests at once."""
    latency, most = args.ac_latency_ms, args.ac_max_in_flight
    platforms = {
        "no limit at once": {"latency_ms": latency},
        f"max_in_flight {most}": {"latency_ms": latency, "max_in_flight": most, "retry_after": 1},
    }
    rows = []
    with bench.sandbox(accounts=1, invoices=args.ac_invoices) as sandbox:
        for name, faults in platforms.items():
            sandbox.admin("POST", "/_sandbox/faults", body=faults)
            runs: dict[bool, list[Sync]] = {True: [], False: []}
            for repeat in range(args.ac_repeats):
                for on in (True, False):
                    kind = "adaptive" if on else "fixed"
                    label = f"ac-{name.replace(' ', '-')}-{kind}-{repeat}"
                    runs[on].append(timed_sync(bench, sandbox, args, label, adaptive=on))
            adaptive, fixed = (min(runs[on], key=lambda sync: sync.seconds) for on in (True, False))
            ratio = fixed.seconds / adaptive.seconds
            rows.append(
                Row(
                    f"(AC) fixed / adaptive time, {name}, {latency} ms",
                    ">= 0.9, fewer 429s",
                    f"{fixed.seconds:,.1f}s / {adaptive.seconds:,.1f}s; 429s "
                    f"{fixed.http_429:,} / {adaptive.http_429:,} of "
                    f"{fixed.requests:,} / {adaptive.requests:,} requests",
                    ratio,
                    ratio >= 0.9 and adaptive.http_429 <= fixed.http_429,
                    [
                        (
                            f"1 account x {args.ac_invoices:,} invoices, {args.ac_in_flight} put "
                            "in flight before each run (Refreshes); a full sync of the four data "
                            f"streams, {latency} ms on every API request, platform: {name}; tap "
                            "process wall time, best of "
                            f"{args.ac_repeats} each (adaptive "
                            f"{', '.join(f'{r.seconds:.1f}s' for r in runs[True])}, fixed "
                            f"{', '.join(f'{r.seconds:.1f}s' for r in runs[False])}); default "
                            "max_concurrency, max_retries 20; fixed: adaptive_concurrency false"
                        )
                    ],
                )
            )
    return rows
