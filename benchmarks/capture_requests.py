"""Request counts of change capture: a full sync, then one hour later, sweep due or not.

    .venv/bin/python benchmarks/capture_requests.py [--accounts 3] [--invoices 2000]

A frozen sandbox (seed 42) of 3 accounts x 2,000 invoices; the tap runs as a process. It prints,
from the sandbox's own request counter (`/_sandbox/stats`), the requests of a full sync, of a sync
after the clock moved one hour with no sweep due (`sweep_interval_hours` 24), and of the same sync
with a sweep due (`sweep_interval_hours` 0), each split by endpoint.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers import SandboxProcess, run_tap


def _by_endpoint(stats: dict[str, Any]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for template, by_status in stats["requests"].items():
        counts[template] += sum(by_status.values())
    return counts


def _sync(
    sandbox: SandboxProcess, config: dict[str, Any], state: dict[str, Any] | None, workdir: Path
) -> tuple[dict[str, Any] | None, int, Counter[str]]:
    sandbox.reset_stats()
    run = run_tap(config, state=state, workdir=workdir).check()
    stats = sandbox.stats()
    return run.final_state, int(stats["total_requests"]), _by_endpoint(stats)


def main() -> None:
    """Run the three syncs and print their request counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=3)
    parser.add_argument("--invoices", type=int, default=2000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="capture-requests-"))
    with SandboxProcess.start(accounts=args.accounts, invoices_per_account=args.invoices) as box:
        config = box.tap_config(sweep_interval_hours=24)
        state, full, full_detail = _sync(box, config, None, root / "full")
        applied = box.advance(3600)["applied"]
        _, no_sweep, no_sweep_detail = _sync(box, config, state, root / "no-sweep")
    # The same world again, so the second incremental sync sees the same hour of changes.
    with SandboxProcess.start(accounts=args.accounts, invoices_per_account=args.invoices) as box:
        state, _, _ = _sync(box, box.tap_config(sweep_interval_hours=24), None, root / "full-2")
        box.advance(3600)
        config = box.tap_config(sweep_interval_hours=0)
        _, swept, swept_detail = _sync(box, config, state, root / "sweep")
    print(f"sandbox: {args.accounts} accounts x {args.invoices} invoices; +1 h applied {applied}")
    for label, total, detail in (
        ("full sync", full, full_detail),
        ("+1 h, no sweep due", no_sweep, no_sweep_detail),
        ("+1 h, sweep due", swept, swept_detail),
    ):
        print(f"{label:>20}: {total:5d} requests  {dict(sorted(detail.items()))}")


if __name__ == "__main__":
    main()
