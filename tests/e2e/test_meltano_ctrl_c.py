"""Ctrl-C of a `meltano run` (SIGINT to its whole process group) keeps what was loaded.

`meltano run tap-mindzpay target-jsonl` runs started as the README says (Meltano ignoring the
Ctrl-C), in a process group of its own, as a terminal's foreground job; mid-run the test sends
SIGINT to the group, as Ctrl-C does. The tap stops at its next request boundary with a STATE and
exits; target-jsonl (which ignores the Ctrl-C it inherits) reads to the end of its input, writes
every record and emits that STATE; Meltano saves it. Then:

* the state Meltano stored is the last STATE the tap wrote, and every invoice at or below its
  bookmarks is in the loaded files (the loaded rows);
* the next run does not extract those invoices again as new (its new ones are all above the
  stored bookmarks) and the warehouse then equals the truth;
* no traceback in the run's log, and the tap's stop is said once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from typing import TYPE_CHECKING, Any

import pytest
from helpers import SandboxProcess, child_env, venv_script
from helpers.meltano import MELTANO_WORKER, IsolatedMeltano, Pipeline, tap_output_log_config
from helpers.pipes import read_jsonl_dir
from helpers.services import require_loader

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.e2e, MELTANO_WORKER]

#: How the README starts a `meltano run` that a Ctrl-C stops with its progress kept.
IGNORING_CTRL_C = "trap '' INT; exec \"$@\""


def _tap_messages(path: Path) -> list[dict[str, Any]]:
    """The Singer messages the tap sent, from a `tap_output_log_config` file."""
    messages = []
    if not path.exists():
        return messages
    for line in path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line).get("event") if line.strip() else None
        if isinstance(event, str) and event.startswith("{"):
            messages.append(json.loads(event))
    return messages


def _invoice_bookmarks(state: dict[str, Any]) -> dict[str, int]:
    partitions = state.get("bookmarks", {}).get("invoices", {}).get("partitions", [])
    return {p["context"]["account_key"]: p["replication_key_value"] for p in partitions}


def test_ctrl_c_of_meltano_run_stores_the_last_tap_state_and_the_rerun_goes_on(
    tmp_path: Path,
) -> None:
    require_loader("target-jsonl")
    pipeline = Pipeline("target-jsonl", suffix="ctrl-c")
    output = tmp_path / "tap-output.jsonl"
    loaded_dir = tmp_path / "loaded"
    loaded_dir.mkdir()
    log_config = tap_output_log_config(tmp_path / "logging.json", output)
    with SandboxProcess.start(
        seed=5, accounts=3, invoices_per_account=300, extra_args=("--latency-ms", "20")
    ) as sandbox:
        meltano = IsolatedMeltano(
            tmp_path / "meltano",
            env={
                **sandbox.tap_env(),
                "TARGET_JSONL_DESTINATION_PATH": str(loaded_dir),
                "TAP_MINDZPAY_PAGE_SIZE": "10",
                "TAP_MINDZPAY_MAX_CONCURRENCY": "1",
            },
        )
        meltano.ensure_database()
        log = tmp_path / "meltano.stderr"
        # The README's command: Meltano itself ignores the Ctrl-C (an inherited SIG_IGN), so it
        # neither cancels the run nor sends its plugins SIGTERM; the tap installs its own
        # handler and stops, the target reads on to the end of its input.
        command = [venv_script("meltano"), f"--log-config={log_config}", *pipeline.argv()]
        with log.open("w", encoding="utf-8") as stderr:
            run = subprocess.Popen(
                ["bash", "-c", IGNORING_CTRL_C, "bash", *command],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                env=child_env(meltano.env),
                cwd=meltano.project_root,
                start_new_session=True,  # its own process group, as a terminal's job
            )
            try:
                deadline = time.monotonic() + 180
                # Mid-run: once the tap has sent a STATE with an invoice bookmark.
                while not any(
                    _invoice_bookmarks(m["value"])
                    for m in _tap_messages(output)
                    if m["type"] == "STATE"
                ):
                    assert run.poll() is None, log.read_text(encoding="utf-8")[-4000:]
                    assert time.monotonic() < deadline, "no invoice bookmark sent in 180 s"
                    time.sleep(0.1)
                os.killpg(run.pid, signal.SIGINT)  # Ctrl-C
                run.wait(timeout=120)
            finally:
                if run.poll() is None:
                    os.killpg(run.pid, signal.SIGKILL)
                    run.wait()
        text = log.read_text(encoding="utf-8")
        assert "Traceback" not in text, text[-6000:]
        assert text.count("Stopped by signal 2") == 1, text[-6000:]
        assert "Incremental state has been updated" in text

        stored = meltano.state_get(pipeline.state_id)["singer_state"]
        states = [m["value"] for m in _tap_messages(output) if m["type"] == "STATE"]
        assert stored == states[-1], "Meltano stored another state than the tap's last"
        bookmarks = _invoice_bookmarks(stored)
        truth = {r["id"]: r for r in sandbox.truth("invoices")}
        loaded = {row["id"] for row in read_jsonl_dir(loaded_dir).get("invoices", [])}
        below = {i for i, r in truth.items() if i <= bookmarks.get(r["account_key"], 0)}
        assert below, "the stored state has no invoice bookmark: nothing proven"
        assert below <= loaded, "the stored bookmark is past invoices that were not loaded"
        assert len(below) < len(truth), "the run had finished before the Ctrl-C"

        output.unlink()
        meltano.run(f"--log-config={log_config}", *pipeline.argv()).check()
        again = [
            m["record"]["id"]
            for m in _tap_messages(output)
            if m["type"] == "RECORD" and m["stream"] == "invoices"
        ]
        # Only invoices still in flight may come again (refreshed); none is read as new.
        resent = {i for i in again if i in below and truth[i]["status"] not in {0, 1, 4}}
        assert resent == set(), "the rerun extracted loaded invoices again"
        final = {row["id"] for row in read_jsonl_dir(loaded_dir)["invoices"]}
        assert final == set(truth)
