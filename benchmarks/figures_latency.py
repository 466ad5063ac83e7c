"""The figures of a far API: (A) list throughput with undeclared properties, (C) and (D) syncs.

(C) is an incremental sync and (D) a full one of several accounts, every request taking 100 ms.

"Serial time" in (C) and (D) is what one request at a time would take for the requests the tap
made: the sandbox counts them by endpoint, and a serial client on one keep-alive session times a
sample of each kind (list pages of 100 records; single-record requests: Refresh and Get) under
the same latency; the serial time is each count times its kind's measured time. Both times come
from the same run, against the same sandbox process.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from bench import DATA_STREAMS, Bench, Row, bearer_session, request_counts, total_requests

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    import requests
    from helpers import SandboxProcess
    from measure import ProcessResult

#: The figures of this module, as ``--only`` names them.
FIGURES = ("A", "C", "D")
LIST_ENDPOINTS = (
    *("/accounts", "/invoices", "/payments", "/subscriptions"),
    *("/users", "/courses", "/bundles", "/plans", "/enrollments"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This module's knobs (their defaults are what BENCHMARKS.md reports)."""
    add = parser.add_argument
    add("--undeclared-invoices", type=int, default=40_000, help="(A): invoices of the one account")
    add("--undeclared-repeats", type=int, default=2, help="(A): runs per client, fastest counts")
    add("--far-latency-ms", type=int, default=100, help="(C), (D): added to every API request")
    add("--far-invoices", type=int, default=20_000, help="(C): invoices of the one account")
    add("--far-hours", type=float, default=2.0, help="(C): simulated hours between the syncs")
    add("--paging-accounts", type=int, default=4, help="(D): accounts")
    add("--paging-invoices", type=int, default=10_000, help="(D): invoices per account")
    add("--paging-repeats", type=int, default=2, help="(D): tap runs, the fastest counts")
    add(
        "--far-serial-sample", type=int, default=40, help="(C), (D): serial requests timed per kind"
    )


def quick(args: argparse.Namespace) -> None:
    """Small worlds for a smoke run."""
    args.undeclared_invoices, args.undeclared_repeats = 5_000, 1
    args.far_invoices, args.paging_invoices, args.far_serial_sample = 2_000, 1_000, 10
    args.paging_repeats = 1


def measure(
    args: argparse.Namespace,
    bench: Bench,
    only: set[str],
    attempt: Callable[[str, str, Callable[[], list[Row]]], list[Row]],
) -> list[Row]:
    """The chosen figures of this module, each through ``attempt``; rows printed as they land."""
    figures = {
        "A": (
            "(A) undeclared properties",
            ">= 3.0, >= 0.6",
            lambda: undeclared_throughput(bench, args),
        ),
        "C": ("(C) incremental sync, 100 ms", ">= 20", lambda: [incremental_far(bench, args)]),
        "D": ("(D) full sync, 100 ms", ">= 6", lambda: [full_far(bench, args)]),
    }
    return run_named(figures, only, attempt)


def run_named(
    figures: dict[str, tuple[str, str, Callable[[], list[Row]]]],
    only: set[str],
    attempt: Callable[[str, str, Callable[[], list[Row]]], list[Row]],
) -> list[Row]:
    """The ``figures`` (name: figure, target, measure) named in ``only``, in their order."""
    rows: list[Row] = []
    for name, (figure, target, run) in figures.items():
        if name in only:
            print(f"{figure} ...", flush=True)
            found = attempt(figure, target, run)
            for row in found:
                print(f"  {row.figure}: {row.measured}", flush=True)
            rows.extend(found)
    return rows


# -- (A) list throughput with undeclared properties ---------------------------------------------


def undeclared_throughput(bench: Bench, args: argparse.Namespace) -> list[Row]:
    """Records/s of the tap, the baseline tap and the raw client, undeclared properties on.

    Every record carries properties no schema declares, and nothing is in flight (the sync only
    pages).
    """
    invoices = args.undeclared_invoices
    extra = ("--undeclared-properties",)
    with bench.sandbox(accounts=1, invoices=invoices, extra=extra) as sandbox:
        settled = sandbox.admin("POST", "/_sandbox/settle")["settled"]
        records = bench.record_count(sandbox)
        best: dict[str, float] = {}
        warnings = 0
        for attempt in range(args.undeclared_repeats):
            for who in ("baseline", "raw", "tap"):
                sandbox.reset_stats()
                run: ProcessResult
                if who == "baseline":
                    run = bench.run_baseline(f"undeclared-baseline-{attempt}", sandbox)
                elif who == "raw":
                    run = bench.run_raw(sandbox)
                else:
                    run = bench.run_tap(f"undeclared-tap-{attempt}", sandbox)
                stats = sandbox.stats()
                check_only_paged(stats, records, who)
                best[who] = min(best.get(who, float("inf")), run.seconds)
                if who == "tap" and attempt == 0:
                    warnings = run.stderr.count("not found in the schema; dropped")
    rate = {who: records / seconds for who, seconds in best.items()}
    where = (
        f"1 account x {invoices:,} invoices: {records:,} records, each with six undeclared "
        f"properties (sandbox --undeclared-properties); nothing in flight (POST /_sandbox/settle "
        f"settled {settled}); best of {args.undeclared_repeats} each, process wall time"
    )
    return [
        Row(
            "(A) tap / baseline, undeclared properties on (records/s)",
            ">= 3.0",
            f"{rate['tap']:,.0f} / {rate['baseline']:,.0f}",
            rate["tap"] / rate["baseline"],
            rate["tap"] >= 3 * rate["baseline"],
            [where, f"the tap warned {warnings} times about dropped properties (one per stream)"],
        ),
        Row(
            "(A) tap / raw client, undeclared properties on (records/s)",
            ">= 0.6",
            f"{rate['tap']:,.0f} / {rate['raw']:,.0f}",
            rate["tap"] / rate["raw"],
            rate["tap"] >= 0.6 * rate["raw"],
            ["the raw client decodes and writes every property, undeclared ones included"],
        ),
    ]


def check_only_paged(stats: dict[str, Any], records: int, who: str) -> None:
    """A client that stopped early would look fast; one that refreshed would not only page."""
    pages = sum(n for (endpoint, code), n in request_counts(stats).items() if code == 200)
    if pages < records // 100:
        msg = f"{who} made {pages} successful requests for {records} records: incomplete run"
        raise RuntimeError(msg)
    refreshes = len(stats.get("refreshes", []))
    if refreshes:
        msg = f"{who} made {refreshes} refreshes: the world had records in flight"
        raise RuntimeError(msg)


# -- serial time -----------------------------------------------------------------------------------


def _is_list(endpoint: str) -> bool:
    return endpoint.endswith(LIST_ENDPOINTS)


def serial_seconds(
    sandbox: SandboxProcess, stats: dict[str, Any], sample: int
) -> tuple[float, str]:
    """What the requests counted in ``stats`` take one at a time, and how it was timed."""
    pages = sum(n for (e, _), n in request_counts(stats).items() if _is_list(e))
    singles = total_requests(stats) - pages
    session, api = _serial_session(sandbox)
    invoices = sandbox.truth("invoices")
    account_key = invoices[0]["account_key"]
    page_url = f"{api}/mindzpay/accounts/{account_key}/invoices"
    started = time.perf_counter()
    for index in range(sample):
        params = {"limit": 100, "offset": index * 100, "sort_by": "id", "sort_direction": "asc"}
        session.get(page_url, params=params, timeout=60).raise_for_status()
    per_page = (time.perf_counter() - started) / sample
    started = time.perf_counter()
    for record in invoices[:sample]:
        url = f"{api}/mindzpay/accounts/{record['account_key']}/invoices/{record['id']}/refresh"
        response = session.post(url, timeout=60)
        if response.status_code not in {200, 404}:
            response.raise_for_status()
    per_single = (time.perf_counter() - started) / sample
    how = (
        f"serial client, one keep-alive session: {per_page * 1000:.0f} ms per list page of 100 "
        f"(timed over {sample}), {per_single * 1000:.0f} ms per single-record request "
        f"(Refresh, timed over {sample}); the tap made {pages:,} list requests and "
        f"{singles:,} single-record ones (token requests included)"
    )
    return pages * per_page + singles * per_single, how


def _serial_session(sandbox: SandboxProcess) -> tuple[requests.Session, str]:
    return bearer_session(sandbox), sandbox.api_url


def set_latency(sandbox: SandboxProcess, milliseconds: int) -> None:
    """Every API request of ``sandbox`` takes ``milliseconds`` more from now on."""
    sandbox.admin("POST", "/_sandbox/faults", body={"latency_ms": milliseconds})


def settle(sandbox: SandboxProcess) -> dict[str, int]:
    """Nothing in flight (POST /_sandbox/settle), so a sync only pages; what it settled."""
    settled: dict[str, int] = sandbox.admin("POST", "/_sandbox/settle")["settled"]
    return settled


def timed_runs(  # noqa: PLR0913 - the tap's inputs, as ``Bench.run_tap`` takes them
    bench: Bench,
    sandbox: SandboxProcess,
    label: str,
    repeats: int,
    *,
    streams: tuple[str, ...] | None = DATA_STREAMS,
    state: dict[str, Any] | None = None,
    paged: int | None = None,
) -> tuple[list[float], dict[str, Any]]:
    """Wall seconds of ``repeats`` tap runs with the same inputs, and the last one's stats.

    The sandbox's stats are reset before each run; with ``paged`` (the records), each run is
    checked to have paged them all and refreshed nothing (``check_only_paged``).
    """
    seconds, stats = [], {}
    for attempt in range(repeats):
        sandbox.reset_stats()
        run = bench.run_tap(f"{label}-{attempt}", sandbox, streams=streams, state=state)
        seconds.append(run.seconds)
        stats = sandbox.stats()
        if paged is not None:
            check_only_paged(stats, paged, "tap")
    return seconds, stats


class FarPaging(NamedTuple):
    """A full sync of a settled world timed at a far API's latency, and its serial time."""

    settled: dict[str, int]
    records: int
    runs: list[float]
    stats: dict[str, Any]
    serial: float
    how: str


def far_paging(  # noqa: PLR0913 - the world of the figure, given explicitly
    bench: Bench,
    args: argparse.Namespace,
    label: str,
    *,
    accounts: int,
    invoices: int,
    extra: tuple[str, ...] = (),
) -> FarPaging:
    """(D) and (DS): a settled world, ``far_latency_ms`` a request, ``paging_repeats`` syncs."""
    with bench.sandbox(accounts=accounts, invoices=invoices, extra=extra) as sandbox:
        settled = settle(sandbox)
        records = bench.record_count(sandbox)
        set_latency(sandbox, args.far_latency_ms)
        runs, stats = timed_runs(bench, sandbox, label, args.paging_repeats, paged=records)
        serial, how = serial_seconds(sandbox, stats, args.far_serial_sample)
    return FarPaging(settled, records, runs, stats, serial, how)


# -- (C) incremental sync with refreshes and a sweep ----------------------------------------------


def incremental_far(bench: Bench, args: argparse.Namespace) -> Row:
    """Wall time of an incremental sync (new records, refreshes, a sweep) at 100 ms a request."""
    latency = args.far_latency_ms
    # Default settings, but for the sweep being due in this run (it is due every 24 h).
    config = {"sweep_interval_hours": 0}
    with bench.sandbox(accounts=1, invoices=args.far_invoices) as sandbox:
        bench.run_tap("far-full", sandbox, streams=None, config=config, keep_output=True)
        state = bench.last_state("far-full")
        in_flight = sum(
            len(partition.get("capture", {}).get("in_flight", {}))
            for entry in state.get("bookmarks", {}).values()
            for partition in entry.get("partitions", [])
        )
        applied = sandbox.advance(args.far_hours * 3600)["applied"]
        set_latency(sandbox, latency)
        sandbox.reset_stats()
        tap = bench.run_tap("far-next", sandbox, streams=None, config=config, state=state)
        stats = sandbox.stats()
        serial, how = serial_seconds(sandbox, stats, args.far_serial_sample)
    ratio = serial / tap.seconds
    refreshes = len(stats.get("refreshes", []))
    return Row(
        f"(C) serial / tap time, incremental sync with refreshes and a sweep, {latency} ms",
        ">= 20",
        f"{serial:,.1f}s / {tap.seconds:,.1f}s for {total_requests(stats):,} requests",
        ratio,
        ratio >= 20,
        [
            (
                f"1 account x {args.far_invoices:,} invoices; full sync (no latency) left "
                f"{in_flight:,} records in flight; clock moved {args.far_hours:g} h "
                f"(events {json.dumps(applied, sort_keys=True)}); then {latency} ms on every "
                "API request and the incremental sync timed (tap process wall time, start-up "
                "included), default settings but sweep_interval_hours 0 (the sweep is due)"
            ),
            f"the incremental sync made {refreshes:,} invoice Refreshes",
            how,
        ],
    )


# -- (D) full sync, all paging ---------------------------------------------------------------------


def full_far(bench: Bench, args: argparse.Namespace) -> Row:
    """Wall time of a full sync of several accounts at 100 ms a request, nothing in flight."""
    latency = args.far_latency_ms
    accounts, invoices = args.paging_accounts, args.paging_invoices
    settled, records, runs, stats, serial, how = far_paging(
        bench, args, "far-paging", accounts=accounts, invoices=invoices
    )
    tap_seconds = min(runs)
    ratio = serial / tap_seconds
    return Row(
        f"(D) serial / tap time, full sync of {accounts} accounts, {latency} ms",
        ">= 6",
        f"{serial:,.1f}s / {tap_seconds:,.1f}s for {total_requests(stats):,} requests",
        ratio,
        ratio >= 6,
        [
            (
                f"{accounts} accounts x {invoices:,} invoices: {records:,} records of the four "
                f"data streams; nothing in flight (POST /_sandbox/settle settled {settled}), so "
                f"the sync only pages; {latency} ms on every API request; tap process wall "
                f"time, start-up included, default settings, best of {len(runs)} "
                f"({', '.join(f'{seconds:.1f}s' for seconds in runs)})"
            ),
            how,
        ],
    )
