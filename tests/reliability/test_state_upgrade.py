"""A real version 1 state (written by the tap's previous state format) resumes after upgrade.

``tests/data/state_v1.json`` is the last STATE of a full sync by the version 1 tap against a
sandbox of seed 7 (one account, 400 invoices, moved six hours). The same world is started here,
and the tap resumes from that state: no resync, and the upgraded state knows every invoice with
the status the sandbox's truth has, and every in-flight record of the old state.
"""

from __future__ import annotations

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
    old_invoices = old["bookmarks"]["invoices"]["partitions"][0]["capture"]
    assert old_invoices["version"] == 1
    with SandboxProcess.start(seed=7, accounts=1, invoices_per_account=400) as sandbox:
        sandbox.advance(6 * 3600)
        truth = {r["id"]: r for r in sandbox.truth("invoices")}
        payment_ids = {r["id"] for r in sandbox.truth("payments")}
        # The state's last sweep is days old by the wall clock: no sweep, so that what is
        # emitted is the resume's own work (a sweep due would re-emit what moved since).
        config = sandbox.tap_config(sweep_interval_hours=24 * 365)
        run = run_tap(config, state=old, workdir=tmp_path).check()
    assert len(run.records("invoices")) < len(truth) / 10, "a resync, not a resume"
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
