"""Pages fetched ahead, end to end: the tap as a process with many list pages in flight against a
sandbox process with latency, piped into target-jsonl, lands exactly the truth."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from helpers import TRUTH_STREAMS, compare_with_truth, fold, sync_into_jsonl

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e

#: Small pages and many in flight: every list of the world is tens of pages, fetched ahead.
SETTINGS = {"page_size": 20, "max_concurrency": 16, "sweep_interval_hours": 0}


def test_full_then_incremental_sync_with_pages_fetched_ahead_lands_the_truth_row_for_row(
    sandbox_factory: Any,
    target_jsonl: str,
    catalog_keys: dict[str, list[str]],
    tmp_path: Path,
) -> None:
    sandbox = sandbox_factory(
        seed=77,
        accounts=2,
        invoices_per_account=700,
        frozen=True,
        extra_args=("--undeclared-properties", "--latency-ms", "15"),
    )
    config = sandbox.tap_config(**SETTINGS)
    full = sync_into_jsonl(config, target_jsonl, tmp_path / "full")
    # A full sync hands out each record once (its list pages overlap and are fetched ahead).
    for stream in TRUTH_STREAMS:
        ids = [row["id"] for row in full.rows.get(stream, [])]
        assert len(ids) == len(set(ids)), f"{stream}: a record landed twice"
    # Undeclared properties are dropped, with one warning per stream (one set of names each):
    # the tap's for flat schemas, the SDK's for the streams with arrays (its conformance on).
    stderr = full.piped.tap_stderr
    warnings = stderr.count("not found in the schema; dropped") + stderr.count(
        "not found in catalog schema. Ignoring."
    )
    # (A link list of this world may be empty: no record, no warning.)
    listed = [stream for stream in TRUTH_STREAMS if full.rows.get(stream)]
    assert warnings == len(listed), full.piped.tap_stderr[-3000:]

    sandbox.advance(6 * 3600)  # new records, provider answers, merchant edits, deletions
    later = sync_into_jsonl(config, target_jsonl, tmp_path / "later", state=full.state)
    for stream in TRUTH_STREAMS:
        keys = catalog_keys[stream]
        folded = fold(full.rows.get(stream, []) + later.rows.get(stream, []), keys)
        # A record support deleted lands as its deletion marker; the truth no longer has it.
        landed = {k: row for k, row in folded.items() if not row.get("_sdc_deleted_at")}
        truth = sandbox.truth(stream)
        if stream in {"invoices", "payments"}:
            assert len(truth) > 30 * SETTINGS["page_size"], f"{stream}: too few pages"
        comparison = compare_with_truth(stream, landed, truth, keys)
        assert comparison.ok, comparison.summary()
