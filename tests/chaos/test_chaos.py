"""Chaos: seeded runs of a full and an incremental sync under faults at real rates.

Each run has its own sandbox process (2 accounts x 300 invoices, a school of 12 courses and 3
e-mail campaigns, frozen clock, its own client_secret and refresh token) with faults switched
on: 10% 5xx, 5% 429 with Retry-After, 2% connection resets, 1% truncated 200 bodies, 1% slow
bodies past the tap's 1 s ``request_timeout``, a refresh-token race, every access token revoked
every 3 s, and shifting invoice pages during the full sync. The tap runs as a process piped into
target-jsonl; then the clock moves six hours and an incremental sync resumes from the STATE the
target emitted. What landed, folded by id, must equal ``/_sandbox/truth/{stream}`` for every
stream, and no byte the tap wrote may contain the client_secret or any token the sandbox issued.

Shifting pages (support deletes a record while the tap pages) is on for the full sync only: a
record deleted after the incremental sync's sweep read it can only be seen by the next sync, so
the truth comparison right after it would be unfair. The incremental sync proves that every
shift injected during the full sync was repaired.

The injected faults, summed by kind over all runs, are printed and written to
``output/chaos-summary.json`` (docs/reliability.md quotes them).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
from chaos.pipeline import compare_landed, secret_hits, sync_into_target
from helpers import PROJECT_ROOT, SandboxProcess

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RUNS = 20
PARALLEL = 7
FAULTS: dict[str, float] = {
    "http_5xx": 0.10,
    "http_429": 0.05,
    "retry_after": 1,
    "reset": 0.02,
    "truncated": 0.01,
    "slow_body": 0.01,
    "slow_seconds": 3,
    "refresh_race": 0.5,
    "revoke_every_seconds": 3,
}
FULL_SYNC_ONLY = {"shift_pages": 0.05}
#: A school of a few courses and campaigns: every nested list is read under faults, at a cost
#: of a request per parent that keeps the twenty runs' time near what the flat lists take.
SMALL_SCHOOL = ("--courses", "12", "--campaigns", "3")
#: Every kind must have struck at least once over all runs, or the suite proved nothing.
EXPECTED_KINDS = (
    "http_5xx",
    "http_429",
    "reset",
    "truncated",
    "slow_body",
    "refresh_race",
    "revoke",
    "shift_pages",
)
TAP_SETTINGS = {
    "page_size": 20,  # more requests per run, so each fault rate really bites
    "request_timeout": 1,  # a slow body (3 s) is a read timeout
    "max_retries": 20,
    "max_concurrency": 4,
    "sweep_interval_hours": 0,
}


@dataclass
class RunResult:
    seed: int
    seconds: float
    faults: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    secret_hits: dict[str, int] = field(default_factory=dict)
    records: int = 0
    answered_401: int = 0


def chaos_run(seed: int, workdir: Path, target: str) -> RunResult:
    started = time.monotonic()
    result = RunResult(seed, 0.0)
    secret = f"chaos-secret-{seed:03d}-Zq8vT2"
    refresh = f"chaos-refresh-{seed:03d}-Lm4xR9"
    sandbox = SandboxProcess.start(
        seed=seed,
        accounts=2,
        invoices_per_account=300,
        extra_args=("--client-secret", secret, "--refresh-token", refresh, *SMALL_SCHOOL),
    )
    try:
        config = sandbox.tap_config(client_secret=secret, refresh_token=refresh, **TAP_SETTINGS)
        output = workdir / "output"
        sandbox.admin("POST", "/_sandbox/faults", body={"seed": seed, **FAULTS, **FULL_SYNC_ONLY})
        full = sync_into_target(config, None, workdir / "full", output, target)
        sandbox.advance(6 * 3600)
        sandbox.admin("POST", "/_sandbox/faults", body={"seed": seed + 1000, **FAULTS})
        incremental = None
        if full.tap_returncode == 0 and full.target_state:
            # The full sync spent the configured refresh token (rotation), and the race fault
            # may have lost its successor on the way: a refused refresh token stops a run, so
            # the incremental sync uses the client_credentials grant. Carrying a rotated token
            # to the next run is proven in tests/e2e/test_auth_grants.py.
            incremental = sync_into_target(
                {k: v for k, v in config.items() if k != "refresh_token"},
                full.target_state,
                workdir / "incremental",
                output,
                target,
            )
        stats = sandbox.stats()
        result.faults.update(stats["faults"])
        # What the tap saw of the revocations: API answers 401 (each one cost a token refresh).
        result.answered_401 = sum(
            by_status.get("401", 0) for by_status in stats["requests"].values()
        )
        sandbox.admin("POST", "/_sandbox/faults", body={})
        for name, sync in (("full", full), ("incremental", incremental)):
            if sync is None:
                result.problems.append(f"{name} sync did not run (no STATE from the full sync)")
                continue
            try:
                sync.check()
            except AssertionError as exc:
                result.problems.append(f"{name} sync failed: {exc}")
        result.problems += [c.summary() for c in compare_landed(sandbox, output) if not c.ok]
        texts = {
            f"{name} {part}": data
            for name, sync in (("full", full), ("incremental", incremental))
            if sync is not None
            for part, data in (
                ("stdout", sync.tap_stdout),
                ("stderr", sync.tap_stderr.encode()),
                ("state", json.dumps(sync.target_state).encode()),
            )
        }
        texts |= {f"landed {p.name}": p.read_bytes() for p in output.glob("*.jsonl")}
        result.secret_hits = secret_hits(sandbox, texts)
        result.records = sum(len(p.read_bytes().splitlines()) for p in output.glob("*.jsonl"))
    finally:
        sandbox.stop()
    result.seconds = time.monotonic() - started
    return result


def test_twenty_seeded_chaos_runs_fold_to_truth_and_leak_no_secret(target_jsonl, tmp_path):
    started = time.monotonic()
    with ThreadPoolExecutor(PARALLEL) as pool:
        results = list(
            pool.map(
                lambda seed: chaos_run(seed, tmp_path / f"run-{seed:03d}", target_jsonl),
                range(1, RUNS + 1),
            )
        )
    faults: Counter[str] = Counter()
    for result in results:
        faults.update(result.faults)
    summary = {
        "runs": len(results),
        "syncs": 2 * len(results),
        "wall_seconds": round(time.monotonic() - started, 1),
        "fault_rates": {
            **FAULTS,
            **{f"{k} (full sync only)": v for k, v in FULL_SYNC_ONLY.items()},
        },
        "tap_settings": TAP_SETTINGS,
        "faults_injected": dict(sorted(faults.items())),
        "faults_injected_total": sum(faults.values()),
        "api_401_answers": sum(r.answered_401 for r in results),
        "records_landed": sum(r.records for r in results),
        "runs_failed": [r.seed for r in results if r.problems],
        "secret_hits": sum(sum(r.secret_hits.values()) for r in results),
        "per_run": [
            {
                "seed": r.seed,
                "seconds": round(r.seconds, 1),
                "faults": dict(sorted(r.faults.items())),
                "ok": not r.problems,
            }
            for r in results
        ],
    }
    (PROJECT_ROOT / "output").mkdir(exist_ok=True)
    (PROJECT_ROOT / "output" / "chaos-summary.json").write_text(
        json.dumps(summary, indent=2) + "\n", encoding="utf-8"
    )
    print("chaos summary:", json.dumps({k: v for k, v in summary.items() if k != "per_run"}))  # noqa: T201
    failures = [f"seed {r.seed}:\n" + "\n".join(r.problems) for r in results if r.problems]
    assert not failures, "\n\n".join(failures)[:20000]
    leaks = {r.seed: r.secret_hits for r in results if r.secret_hits}
    assert not leaks, f"secrets in what the tap wrote: {leaks}"
    missing_kinds = [kind for kind in EXPECTED_KINDS if faults[kind] == 0]
    assert not missing_kinds, f"fault kinds never injected: {missing_kinds} ({dict(faults)})"
