"""Adaptive concurrency end to end: against a platform that refuses requests beyond a few in
flight (sandbox `max_in_flight`), the tap as a process lands the truth row for row, and its
share of 429s stays a small part of what a run at a fixed `max_concurrency` gets.

Both runs sync the same world (same seed) through a full and an incremental sync (list pages
fetched ahead, then Refreshes from the worker pool); the counts come from `/_sandbox/stats`.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest
from helpers import compare_with_truth, fold, sync_into_jsonl
from helpers.streams import MINDZPAY_STREAMS

if TYPE_CHECKING:
    from pathlib import Path

    from helpers import SandboxProcess

pytestmark = pytest.mark.e2e

#: What the platform serves at once (its refusals say "retry at once"), each answer 20 ms.
FAULTS = {"max_in_flight": 4, "retry_after": 0, "latency_ms": 20}
#: Invoices put in flight before the first sync: Refreshes from the worker pool.
IN_FLIGHT_INVOICES = 200
SETTINGS = {
    "page_size": 20,
    "max_concurrency": 16,
    "sweep_interval_hours": 0,
    # A fixed run's requests meet many 429s in a row; it must still finish.
    "max_retries": 20,
}


class Outcome(NamedTuple):
    """What the sandbox answered over both syncs of one run."""

    requests: int
    refused: int
    http_429: int


def _selected(catalog: dict[str, Any]) -> dict[str, Any]:
    """The discovered catalog with the MindzPay streams selected, the platform's left out."""
    chosen = copy.deepcopy(catalog)
    for entry in chosen["streams"]:
        for item in entry["metadata"]:
            if not item["breadcrumb"]:
                item["metadata"]["selected"] = entry["tap_stream_id"] in MINDZPAY_STREAMS
    return chosen


def _sync_twice(  # noqa: PLR0913 - the world, the tap's inputs and the comparison
    sandbox: SandboxProcess,
    config: dict[str, Any],
    *,
    target: str,
    catalog: dict[str, Any],
    keys: dict[str, list[str]],
    workdir: Path,
) -> Outcome:
    """Full sync, clock moved, incremental sync; every stream then equals the truth."""
    sandbox.admin("POST", "/_sandbox/in_flight", params={"count": IN_FLIGHT_INVOICES})
    sandbox.admin("POST", "/_sandbox/faults", body=FAULTS)
    sandbox.reset_stats()
    full = sync_into_jsonl(config, target, workdir / "full", catalog=catalog)
    sandbox.advance(6 * 3600)  # provider answers, merchant edits, deletions: Refreshes to make
    later = sync_into_jsonl(config, target, workdir / "later", state=full.state, catalog=catalog)
    stats = sandbox.stats()
    for stream in MINDZPAY_STREAMS:
        folded = fold(full.rows.get(stream, []) + later.rows.get(stream, []), keys[stream])
        landed = {k: row for k, row in folded.items() if not row.get("_sdc_deleted_at")}
        comparison = compare_with_truth(stream, landed, sandbox.truth(stream), keys[stream])
        assert comparison.ok, comparison.summary()
    assert stats["refreshes"], "the incremental sync refreshes invoices in flight"
    answers = stats["requests"].values()
    return Outcome(
        requests=stats["total_requests"],
        refused=stats["faults"].get("max_in_flight", 0),
        http_429=sum(per.get("429", 0) for per in answers),
    )


def test_adaptive_concurrency_lands_the_truth_with_few_429s_where_a_fixed_limit_gets_many(
    sandbox_factory: Any,
    target_jsonl: str,
    discovered_catalog: dict[str, Any],
    catalog_keys: dict[str, list[str]],
    tmp_path: Path,
) -> None:
    catalog = _selected(discovered_catalog)
    outcomes = {}
    for adaptive in (True, False):
        sandbox = sandbox_factory(seed=23, accounts=2, invoices_per_account=300)
        config = sandbox.tap_config(**SETTINGS, adaptive_concurrency=adaptive)
        workdir = tmp_path / ("adaptive" if adaptive else "fixed")
        outcomes[adaptive] = _sync_twice(
            sandbox,
            config,
            target=target_jsonl,
            catalog=catalog,
            keys=catalog_keys,
            workdir=workdir,
        )
        sandbox.stop()
    adaptive_run, fixed_run = outcomes[True], outcomes[False]
    # Every 429 of these runs is the platform refusing a request beyond max_in_flight.
    for outcome in outcomes.values():
        assert outcome.http_429 == outcome.refused, outcome
    share = adaptive_run.http_429 / adaptive_run.requests
    fixed_share = fixed_run.http_429 / fixed_run.requests
    assert fixed_share > 0.15, f"fixed: {fixed_run}"  # the platform does refuse a fixed limit
    assert share < 0.08, f"adaptive: {adaptive_run}"
    assert share < fixed_share / 3, f"adaptive: {adaptive_run}; fixed: {fixed_run}"
