"""The benchmark figures, each measured against its own sandbox process.

Every function returns table rows with the measured numbers; a figure that cannot run yet says
why in its row (never a made-up number).
"""

from __future__ import annotations

import json
import math
import pstats
import sys
import time
from io import StringIO
from typing import TYPE_CHECKING

from bench import Bench, Row, bearer_session, total_requests
from measure import CounterSampler, ProcessResult, run_measured
from raw_client import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, RawClient, child_paths

if TYPE_CHECKING:
    from helpers import SandboxProcess

IN_FLIGHT_STATUSES = {0, 1, 4}
MB = 1024 * 1024


def _best(runs: list[ProcessResult]) -> ProcessResult:
    return min(runs, key=lambda run: run.seconds)


def _check_served(sandbox: SandboxProcess, records: int, who: str) -> None:
    # A client that silently stopped early would look fast: it must have fetched every page.
    pages = total_requests(sandbox.stats(), 200)
    if pages < records // 100:
        msg = f"{who} made {pages} successful requests for {records} records: incomplete run"
        raise RuntimeError(msg)


# -- (1) throughput, and (4) memory at the same size ---------------------------------------------


def throughput(bench: Bench, invoices: int, repeats: int) -> tuple[list[Row], int]:
    """Records/s of tap-mindzpay, the baseline tap, the raw client; the sandbox alone.

    Returns the rows and the tap's peak RSS at this size (bytes).
    """
    with bench.sandbox(accounts=1, invoices=invoices) as sandbox:
        # List throughput: nothing in flight, so the tap pages as the other clients do (its
        # refresh phase, which they lack, is measured by (2), (B) and (C)).
        sandbox.admin("POST", "/_sandbox/settle")
        records = bench.record_count(sandbox)
        fetched = [bench.run_raw(sandbox, pages_only=True) for _ in range(repeats)]
        served = min(json.loads(run.stderr.strip().splitlines()[-1])["seconds"] for run in fetched)
        timed: dict[str, list[ProcessResult]] = {"tap": [], "baseline": [], "raw": []}
        for attempt in range(repeats):
            for who in ("baseline", "raw", "tap"):
                sandbox.reset_stats()
                if who == "baseline":
                    timed[who].append(bench.run_baseline(f"baseline-{attempt}", sandbox))
                elif who == "raw":
                    timed[who].append(bench.run_raw(sandbox))
                else:
                    timed[who].append(bench.run_tap(f"tap-full-{attempt}", sandbox))
                _check_served(sandbox, records, who)
        rate = {who: records / _best(runs).seconds for who, runs in timed.items()}
        # The tap's steady consumption, without its interpreter and SDK start-up: records over
        # the span from its first to its last request as the sandbox saw them (a separate run,
        # so the polling never touches the timed ones).
        sandbox.reset_stats()
        with CounterSampler(lambda: total_requests(sandbox.stats())) as sampler:
            bench.run_tap("tap-span", sandbox)
        consuming = records / sampler.active_span()
        # Where the tap's time goes, met or not (a separate, profiled run).
        profile = profile_tap(bench, sandbox)
    sandbox_rate = records / served
    where = (
        f"1 account x {invoices:,} invoices: {records:,} records (all four streams), nothing in "
        "flight (POST /_sandbox/settle)"
    )
    rows = [
        Row(
            "(1) tap / baseline (records/s)",
            ">= 3.0",
            f"{rate['tap']:,.0f} / {rate['baseline']:,.0f}",
            rate["tap"] / rate["baseline"],
            rate["tap"] >= 3 * rate["baseline"],
            [where, *profile],
        ),
        Row(
            "(1) tap / raw limit (records/s)",
            ">= 0.5",
            f"{rate['tap']:,.0f} / {rate['raw']:,.0f}",
            rate["tap"] / rate["raw"],
            rate["tap"] >= 0.5 * rate["raw"],
        ),
        Row(
            "(1) sandbox serves / tap consumes",
            ">= 3.0",
            f"{sandbox_rate:,.0f} / {consuming:,.0f} records/s",
            sandbox_rate / consuming,
            sandbox_rate >= 3 * consuming,
            [
                (
                    f"sandbox alone: {records / served / 100:,.0f} pages/s of 100 records to a "
                    "client that reads the bytes and decodes nothing (its start-up excluded)"
                ),
                (
                    f"tap: {consuming:,.0f} records/s from its first to its last request "
                    f"({rate['tap']:,.0f} records/s over its whole process, start-up included)"
                ),
            ],
        ),
    ]
    return rows, timed["tap"][0].peak_rss_bytes


def profile_tap(bench: Bench, sandbox: SandboxProcess, top: int = 20) -> list[str]:
    """CProfile of one tap full sync: the functions with the most own time."""
    config = bench.workdir / "profile.config.json"
    config.write_text(json.dumps(sandbox.tap_config()), encoding="utf-8")
    catalog = bench.workdir / "profile.catalog.json"
    catalog.write_text(json.dumps(bench.catalog(("accounts", "invoices", "payments"))))
    out = bench.workdir / "tap.prof"
    code = (
        "import cProfile, sys\n"
        "from tap_mindzpay.tap import TapMindzPay\n"
        f"sys.argv = ['tap-mindzpay', '--config', {str(config)!r}, '--catalog', {str(catalog)!r}]\n"
        f"cProfile.run('TapMindzPay.cli()', {str(out)!r})\n"
    )
    from helpers import child_env  # noqa: PLC0415 - bench put tests/ on sys.path

    run_measured([sys.executable, "-c", code], env=child_env(), cwd=bench.workdir, timeout=600)
    text = StringIO()
    pstats.Stats(str(out), stream=text).sort_stats("tottime").print_stats(top)
    lines = [line for line in text.getvalue().splitlines() if line.strip()]
    return ["cProfile of a tap full sync, by own time:", "```", *lines[-top - 1 :], "```"]


def memory(bench: Bench, small: tuple[int, int], large_invoices: int) -> Row:
    """Peak RSS of the tap's full sync at the small size (measured already) and the large one."""
    invoices_small, rss_small = small
    with bench.sandbox(accounts=1, invoices=large_invoices) as sandbox:
        sandbox.admin("POST", "/_sandbox/settle")  # as the 100k run of (1): the lists' memory
        rss_large = bench.run_tap("tap-memory", sandbox, timeout=1200).peak_rss_bytes
    growth = rss_large / rss_small
    return Row(
        "(4) peak RSS at 1M invoices (MB; x the 100k run)",
        "<= 200 MB and <= 1.3x",
        f"{rss_large / MB:,.0f} MB at {large_invoices:,}; "
        f"{rss_small / MB:,.0f} MB at {invoices_small:,}",
        growth,
        rss_large <= 200 * MB and growth <= 1.3,
        [
            (
                "full sync of accounts, invoices, payments, subscriptions, nothing in flight "
                "(POST /_sandbox/settle); RSS of the tap process only; (S) gives the RSS of a "
                "1M sync with 100,000 invoices waiting"
            )
        ],
    )


# -- (3) rate limit ------------------------------------------------------------------------------


def rate_limit(bench: Bench, limit: int, invoices: int) -> Row:
    """Achieved requests/s over the limit R, and the share of 429s, for a full sync."""
    with bench.sandbox(accounts=1, invoices=invoices, rate_limit=limit) as sandbox:
        sandbox.reset_stats()
        with CounterSampler(lambda: total_requests(sandbox.stats())) as sampler:
            bench.run_tap("rate-limit", sandbox)
        stats = sandbox.stats()
    everything = total_requests(stats)
    refused = total_requests(stats, 429)
    span = sampler.active_span()
    achieved = (everything - refused) / span
    share = refused / everything
    return Row(
        f"(3) achieved / R, share of 429s, R = {limit}/s",
        ">= 0.9, <= 1% 429",
        f"{achieved:,.1f}/s of R={limit}/s; {refused} of {everything} were 429 ({share:.1%})",
        achieved / limit,
        achieved >= 0.9 * limit and share <= 0.01,
        [
            (
                f"full sync of 1 account x {invoices:,} invoices; {everything} requests served "
                f"over {span:.1f}s as the sandbox counted them (first to last request)"
            ),
            (
                "requests served per 0.25 s from the first request (bursts of R, then the "
                f"wait for the next window): {sampler.timeline()}"
            ),
        ],
    )


# -- (2) refresh under latency ----------------------------------------------------------------


def _in_flight_invoices(bench: Bench, label: str) -> int:
    latest: dict[int, int] = {}
    for message in bench.output_messages(label):
        if message["type"] == "RECORD" and message["stream"] == "invoices":
            latest[message["record"]["id"]] = message["record"]["status"]
    return sum(status in IN_FLIGHT_STATUSES for status in latest.values())


def serial_refreshes(sandbox: SandboxProcess, targets: list[tuple[str, int]]) -> float:
    """Seconds to refresh `targets` (account key, invoice id) one at a time on one session."""
    session = bearer_session(sandbox)
    started = time.perf_counter()
    for account_key, invoice_id in targets:
        url = f"{sandbox.api_url}/mindzpay/accounts/{account_key}/invoices/{invoice_id}/refresh"
        response = session.post(url, timeout=60)
        if response.status_code not in {200, 404}:
            response.raise_for_status()
    return time.perf_counter() - started


def count_in_flight(sandbox: SandboxProcess) -> int:
    """Invoices the API lists with an in-flight status (0, 1, 4), across accounts."""
    client = RawClient(sandbox.api_url, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, 100)
    return sum(
        record["status"] in IN_FLIGHT_STATUSES
        for account in client.records("/mindzpay/accounts")
        for record in client.records(child_paths(account)["invoices"])
    )


def refresh_under_latency(  # noqa: PLR0913 - the world and the sample are the bench's knobs
    bench: Bench,
    *,
    invoices: int,
    in_flight: int,
    latency_ms: int,
    concurrency: int,
    serial_sample: int,
) -> Row:
    """Wall time of a tap sync that refreshes `in_flight` invoices, vs the same refreshes serial.

    One account; the sandbox's `POST /_sandbox/in_flight?count=N` adds `in_flight` undecided
    invoices to the world's own in-flight ones. Sync 1 runs without latency and records them in its
    state; then every API request gets `latency_ms` (a sandbox fault switch) and sync 2 from
    that state is timed, followed by the serial loop over the refreshes sync 2 made.
    """
    figure = f"(2) serial / tap refresh time, {latency_ms} ms, max_concurrency {concurrency}"
    config = {"max_concurrency": concurrency, "sweep_interval_hours": 24}
    with bench.sandbox(accounts=1, invoices=invoices) as sandbox:
        natural = count_in_flight(sandbox)
        # Undecided: sync 1 refreshes them too and they stay in flight for the timed sync 2.
        sandbox.admin(
            "POST",
            "/_sandbox/in_flight",
            # All of them on top of the world's own: some of those wait on pending boletos,
            # which the schedule does not refresh, and sync 2 must refresh at least in_flight.
            params={"count": in_flight, "decided": 0},
        )
        # The MindzPay streams, whose invoices are refreshed: the platform lists (about 300
        # requests of a school's nested lists since 2026-12-06, none a refresh) would time
        # what (H) and (C) measure, on the tap's side only.
        bench.run_tap("latency-sync1", sandbox, config=config, keep_output=True)
        tracked = _in_flight_invoices(bench, "latency-sync1")
        sandbox.admin("POST", "/_sandbox/faults", body={"latency_ms": latency_ms})
        sandbox.reset_stats()
        tap = bench.run_tap(
            "latency-sync2",
            sandbox,
            config=config,
            state=bench.last_state("latency-sync1"),
        )
        stats = sandbox.stats()
        targets = [(r["account_key"], r["invoice_id"]) for r in stats.get("refreshes", [])]
        sample = targets[:serial_sample]
        serial_seconds = serial_refreshes(sandbox, sample) * len(targets) / max(len(sample), 1)
    ratio = serial_seconds / tap.seconds
    other_requests = total_requests(stats) - len(targets)
    details = [
        (
            f"1 account x {invoices:,} invoices, {tracked:,} in flight after sync 1 "
            f"({natural:,} of the world's own, the rest put in flight by the sandbox)"
        ),
        (
            f"sync 2 made {len(targets):,} refreshes and {other_requests:,} other requests "
            f"in {tap.seconds:.1f}s (wall time of the tap process, startup included)"
        ),
        f"serial: {len(sample):,} refreshes timed one at a time on one keep-alive session"
        + (f", scaled to {len(targets):,}" if len(sample) < len(targets) else ""),
    ]
    return Row(
        figure,
        ">= 8",
        f"{serial_seconds:,.1f}s / {tap.seconds:,.1f}s for {len(targets):,} refreshes",
        ratio,
        ratio >= 8 and len(targets) >= in_flight,
        details,
    )


# -- (6) the fast record path, on and off in the same run ------------------------------------------

#: The tap's CLI with the fast record path switched off (the SDK's own record loop).
SDK_RECORD_PATH = (
    "import sys\n"
    "from tap_mindzpay.client import MindzPayStream\n"
    "assert hasattr(MindzPayStream, 'fast_records')\n"
    "MindzPayStream.fast_records = False\n"
    "sys.argv[0] = 'tap-mindzpay'\n"
    "from tap_mindzpay.tap import TapMindzPay\n"
    "TapMindzPay.cli()\n"
)
#: The fast record path stays only if it buys at least this much throughput.
FAST_PATH_MIN_GAIN = 1.2


def fast_record_path(bench: Bench, invoices: int, repeats: int) -> Row:
    """Records/s of a full sync with the fast record path and with the SDK's loop, alternated."""
    with bench.sandbox(accounts=1, invoices=invoices) as sandbox:
        records = bench.record_count(sandbox)
        best: dict[str, float] = {}
        for attempt in range(repeats):
            for who, launcher in (("sdk", SDK_RECORD_PATH), ("fast", None)):
                sandbox.reset_stats()
                run = bench.run_tap(f"fastpath-{who}-{attempt}", sandbox, launcher=launcher)
                _check_served(sandbox, records, who)
                best[who] = min(best.get(who, math.inf), run.seconds)
    fast, sdk = records / best["fast"], records / best["sdk"]
    gain = fast / sdk
    return Row(
        "(6) fast record path / SDK record loop (records/s)",
        f">= {FAST_PATH_MIN_GAIN}",
        f"{fast:,.0f} / {sdk:,.0f}",
        gain,
        gain >= FAST_PATH_MIN_GAIN,
        [
            f"1 account x {invoices:,} invoices: {records:,} records, best of {repeats} each",
            (
                "the same tap, once with the fast record path and once with the SDK's record "
                "loop (`MindzPayStream.fast_records = False`), alternated"
            ),
        ],
    )
