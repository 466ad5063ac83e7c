"""A sweep never sends again what the same run already sent unchanged, and loses no change.

Tap, sandbox and target-jsonl run as processes. Four syncs, each after the sandbox clock moved
four hours and each with a sweep due (``sweep_interval_hours`` 0): the sweep pages every list
and would hand out every record updated since the last sweep, among them the new records and
refreshed changes the same run has just sent. target-jsonl appends every RECORD it receives,
as an append-only loader does, so after each sync:

* no stream has the same row twice (one record sent twice byte-identical is two equal rows);
* the run's summary lines count exactly what landed: per stream, new + changed + deleted is
  the number of rows, status changes the rows of ``invoice_status_changes``, and the run line's
  record count all rows;
* the sweep did meet records the run had already sent (``already_sent`` in the change capture
  counts): without that the first point would prove nothing;
* all rows so far, folded by id (a deletion marker drops the record), equal the sandbox truth:
  skipping a record never loses a real change.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
from helpers import TRUTH_STREAMS, compare_with_truth, sync_into_jsonl
from helpers.fold import fold

if TYPE_CHECKING:
    from helpers import SandboxProcess

pytestmark = pytest.mark.e2e
TRUTH = TRUTH_STREAMS  # the MindzPay streams and the platform ones
CHANGES = "invoice_status_changes"
SUMMARY = re.compile(
    r"\| Summary (\w+) \[[^\]]+\]: new ([\d,]+), changed ([\d,]+), refreshed [\d,]+, "
    r"settled [\d,]+, deleted ([\d,]+)(?:, status changes ([\d,]+))?;"
)
RUN = re.compile(r"\| Run completed in [^:]+: \d+ stream partitions, ([\d,]+) records")
CAPTURE = re.compile(r": change capture (\{.*\})$", re.MULTILINE)


def _number(text: str | None) -> int:
    return int(text.replace(",", "")) if text else 0


def _summary_counts(stderr: str) -> tuple[Counter[str], int]:
    """Rows the summary lines account for, per stream, and the run line's record count."""
    counts: Counter[str] = Counter()
    for stream, new, changed, deleted, status_changes in SUMMARY.findall(stderr):
        counts[stream] += _number(new) + _number(changed) + _number(deleted)
        counts[CHANGES] += _number(status_changes)
    found = RUN.search(stderr)
    assert found, stderr[-3000:]
    return +counts, _number(found.group(1))


def _already_sent(stderr: str) -> int:
    return sum(ast.literal_eval(m).get("already_sent", 0) for m in CAPTURE.findall(stderr))


def _live(rows: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    return {k: v for k, v in fold(rows, ("id",)).items() if not v.get("_sdc_deleted_at")}


def _assert_equals_truth(sandbox: SandboxProcess, landed: dict[str, list[dict[str, Any]]]) -> None:
    for stream in TRUTH:
        comparison = compare_with_truth(stream, _live(landed[stream]), sandbox.truth(stream))
        assert comparison.ok, comparison.summary()


def test_sweeps_send_no_record_twice_unchanged_and_the_summary_counts_what_landed(
    sandbox_factory, target_jsonl, tmp_path
):
    sandbox = sandbox_factory(seed=7, accounts=3, invoices_per_account=200)
    config = sandbox.tap_config(sweep_interval_hours=0)
    landed: dict[str, list[dict[str, Any]]] = {stream: [] for stream in (*TRUTH, CHANGES)}
    state = None
    skipped_total = 0
    for sync in range(4):
        synced = sync_into_jsonl(config, target_jsonl, tmp_path / f"sync{sync}", state=state)
        state = synced.state
        for stream, rows in synced.rows.items():
            copies = Counter(json.dumps(row, sort_keys=True, default=str) for row in rows)
            twice = [json.loads(row) for row, n in copies.items() if n > 1]
            assert not twice, f"sync {sync}: {len(twice)} {stream} rows sent twice: {twice[:3]}"
            landed[stream] += rows
        by_stream, records = _summary_counts(synced.piped.tap_stderr)
        rows_by_stream = Counter({s: len(r) for s, r in synced.rows.items() if r})
        assert by_stream == rows_by_stream, (
            f"sync {sync}: summary {by_stream}, landed {rows_by_stream}"
        )
        assert records == rows_by_stream.total()
        _assert_equals_truth(sandbox, landed)
        if sync:
            skipped = _already_sent(synced.piped.tap_stderr)
            assert skipped, f"sync {sync}: the sweep met no record the run had sent"
            skipped_total += skipped
            # Something really changed and was sent by refresh or sweep.
            assert rows_by_stream["invoices"] > 0
        sandbox.advance(4 * 3600)
    assert skipped_total > 20
