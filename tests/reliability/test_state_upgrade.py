"""A real version 1 state (written by the tap's previous state format) resumes after upgrade.

``tests/data/state_v1.json`` is the last STATE of a full sync by the version 1 tap against a
sandbox of seed 7 (one account, 400 invoices, moved six hours). The same world is started here,
and the tap resumes from that state: no resync, and the upgraded state knows every invoice with
the status the sandbox's truth has, and every in-flight record of the old state.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from helpers import SandboxProcess, run_tap

from tap_mindzpay.capture.engine import Engine
from tap_mindzpay.capture.state import CaptureState

pytestmark = pytest.mark.e2e
V1_STATE = Path(__file__).resolve().parents[1] / "data" / "state_v1.json"
IN_FLIGHT = {0, 1, 4}


def _capture(state: dict, stream: str) -> CaptureState:
    partition = state["bookmarks"][stream]["partitions"][0]
    return CaptureState.read(partition, stream)


def test_version_1_state_resumes_upgraded_without_resync_and_with_every_status(tmp_path):
    old = json.loads(V1_STATE.read_text(encoding="utf-8"))
    old_invoices_partition = old["bookmarks"]["invoices"]["partitions"][0]
    old_invoices = old_invoices_partition["capture"]
    assert old_invoices["version"] == 1
    with SandboxProcess.start(seed=7, accounts=1, invoices_per_account=400) as sandbox:
        sandbox.advance(6 * 3600)
        truth = {r["id"]: r for r in sandbox.truth("invoices")}
        payment_ids = {r["id"] for r in sandbox.truth("payments")}
        run = run_tap(sandbox.tap_config(), state=old, workdir=tmp_path).check()
    # Not a resync: an invoice the old state knew settled, with the status it knew, and older
    # than the bookmark, is not emitted. (How many the list shows in flight again depends on
    # the day the test runs, so the check is per invoice, not a count.)
    known = CaptureState.read(copy.deepcopy(old_invoices_partition), "invoices")
    before = Engine(known, None, lambda _id: None, iter, lambda **_: None)
    bookmark = old["bookmarks"]["invoices"]["partitions"][0]["replication_key_value"]
    emitted_statuses: dict[int, set[int]] = {}
    for record in run.records("invoices"):
        emitted_statuses.setdefault(record["id"], set()).add(record["status"])
    resent = {
        record_id
        for record_id, statuses in emitted_statuses.items()
        if str(record_id) not in old_invoices["in_flight"]
        and record_id < bookmark
        and statuses == {before.status_of(record_id)}
    }
    assert resent == set(), "settled, unchanged invoices emitted again: a resync, not a resume"
    assert emitted_statuses, "the resumed run emitted no invoice (the world moved six hours)"
    state = run.final_state
    assert state is not None
    new = _capture(state, "invoices")
    raw = state["bookmarks"]["invoices"]["partitions"][0]["capture"]
    assert raw["version"] == 2
    engine = Engine(new, None, lambda _id: None, iter, lambda **_: None)
    # Every invoice is known with the status the truth has (version 1 tracked them all).
    assert {i: engine.status_of(i) for i in truth} == {i: r["status"] for i, r in truth.items()}
    # Every in-flight invoice of the old state is still in flight, or was emitted settled.
    emitted = {r["id"]: r for r in run.records("invoices")}
    for key in old_invoices["in_flight"]:
        record_id = int(key)
        assert record_id in new.in_flight or emitted[record_id]["status"] not in IN_FLIGHT
    assert set(new.in_flight) == {i for i, r in truth.items() if r["status"] in IN_FLIGHT}
    # Payments: version 1 kept their ids only; they are known, their status read by a sweep.
    payments = _capture(state, "payments")
    assert payments.statuses is not None
    assert set(payments.statuses) == payment_ids
