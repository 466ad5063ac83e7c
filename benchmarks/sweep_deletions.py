"""Requests a sweep spends confirming deletions: one partition, a known share deleted by support.

    .venv/bin/python benchmarks/sweep_deletions.py [--invoices 100000] [--every 100]

A frozen sandbox of one account with ``--invoices`` invoices; the tap runs as a process. A full
sync, then support deletes every ``--every``-th invoice (1% by default), then a sync with a sweep
due (``sweep_interval_hours`` 0). It prints, from the sandbox's own request counter, the
requests of that sync by endpoint: the invoice list pages of the sweep, the GETs by id that
confirm each unlisted invoice is gone (one per deletion, 404), and the run's total, and checks
that every deleted invoice got its deletion marker and no other did.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers import SandboxProcess, run_tap

INVOICES = "/mindzpay/accounts/{account_key}/invoices"


def main() -> None:
    """Run the two syncs and print the sweep's requests."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=100, help="delete every N-th invoice")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sweep-deletions-"))
    with SandboxProcess.start(seed=42, accounts=1, invoices_per_account=args.invoices) as box:
        box.admin("POST", "/_sandbox/settle")  # no refreshes: the sweep's requests alone
        config = box.tap_config(sweep_interval_hours=24)
        first = run_tap(config, workdir=root / "full", timeout=3600).check()
        deleted = box.admin("POST", "/_sandbox/delete", params={"every": args.every})["deleted"]
        box.reset_stats()
        config = box.tap_config(sweep_interval_hours=0)
        swept = run_tap(config, state=first.final_state, workdir=root / "sweep", timeout=3600)
        swept.check()
        stats = box.stats()
        gone = {d["id"] for d in box.deleted("invoices")}
    requests = stats["requests"]
    pages = sum(requests.get(f"GET {INVOICES}", {}).values())
    gets = requests.get(f"GET {INVOICES}/{{invoice_id}}", {})
    markers = {r["id"] for r in swept.records("invoices") if r.get("_sdc_deleted_at")}
    total = int(stats["total_requests"])
    print(f"partition: {args.invoices:,} invoices, {deleted:,} deleted by support (1/{args.every})")
    print(f"sweep sync: {total:,} requests in all; invoice list pages {pages:,}")
    print(f"deletion checks: {sum(gets.values()):,} GETs by id {dict(gets)}")
    checks = sum(gets.values())
    print(
        f"extra requests for deletion checks: {checks / max(1, pages):.1%} of the invoice "
        f"sweep's list pages, {checks / max(1, total):.1%} of the run"
    )
    print(f"deletion markers: {len(markers):,}; equal to the deleted ids: {markers == gone}")
    if markers != gone:
        sys.exit(1)


if __name__ == "__main__":
    main()
