"""Requests of an incremental sync with nothing changed, for a school with many nested lists.

    .venv/bin/python benchmarks/nested_lists.py [--courses 200] [--campaigns 50] [--latency-ms 100]

A frozen sandbox (seed 42, one account of 100 invoices) whose school has `--courses` courses
(about 10 lessons each: ~2,000 for 200) and `--campaigns` e-mail campaigns. The tap runs as a
process: a full sync, then an incremental sync from its state with the clock not moved (nothing
changed) and no sweep due. It prints, from the sandbox's own request counter, the requests of
each by endpoint, and what the second costs of the rate budget (the sandbox's default 6,000
requests per 60 s per token): the nested lists (a course's grades and teachers, a grade's
lessons, a list's contacts, a campaign's six link lists) cost one request per parent.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from capture_requests import _sync  # the sibling benchmark's sync-and-count
from figures_latency import set_latency
from helpers import SandboxProcess, run_tap

#: The sandbox's default rate limit: requests per window per access token.
RATE_LIMIT, RATE_WINDOW = 6000, 60.0


def main() -> None:
    """Run the two syncs and print their request counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--courses", type=int, default=200)
    parser.add_argument("--campaigns", type=int, default=50)
    parser.add_argument("--latency-ms", type=int, default=100)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="nested-lists-"))
    school = ("--courses", str(args.courses), "--campaigns", str(args.campaigns))
    with SandboxProcess.start(accounts=1, invoices_per_account=100, extra_args=school) as box:
        sizes = {s: len(box.truth(s)) for s in ("courses", "course_grades", "course_grade_details")}
        sizes["email_campaigns"] = len(box.truth("email_campaigns"))
        config = box.tap_config(sweep_interval_hours=24)
        state, full, full_detail = _sync(box, config, None, root / "full")
        _, quiet, quiet_detail = _sync(box, config, state, root / "quiet")
        set_latency(box, args.latency_ms)
        serial = _timed_sync({**config, "max_concurrency": 1}, state, root / "serial")
        ahead = _timed_sync(config, state, root / "ahead")
    print(f"school: {sizes}")
    for label, total, detail in (
        ("full sync", full, full_detail),
        ("incremental, nothing changed", quiet, quiet_detail),
    ):
        print(f"{label:>30}: {total:5d} requests")
        for template, count in sorted(detail.items()):
            print(f"{'':>32}{count:5d}  {template}")
    seconds = quiet / (RATE_LIMIT / RATE_WINDOW)
    print(
        f"the incremental sync uses {quiet / RATE_LIMIT:.0%} of one {RATE_WINDOW:.0f}-s window of "
        f"{RATE_LIMIT} requests: at least {seconds:.1f} s at the full rate"
    )
    print(
        f"incremental sync at {args.latency_ms} ms a request: serial (max_concurrency 1) "
        f"{serial:.1f} s, default (child lists' first pages fetched ahead) {ahead:.1f} s, "
        f"ratio {serial / ahead:.1f}x"
    )


def _timed_sync(config: dict[str, Any], state: dict[str, Any] | None, workdir: Path) -> float:
    """Wall seconds of one tap run as a process (its start included)."""
    started = time.monotonic()
    run_tap(config, state=state, workdir=workdir, timeout=1800).check()
    return time.monotonic() - started


if __name__ == "__main__":
    main()
