"""kill -9 at every checkpoint of a sweep and of a version 1 upgrade; each resumes to the truth.

A checkpoint is a STATE the tap writes. For the k-th STATE of a run (k = 1, 2, ... until the
run ends before writing k of them), the run starts from the same state, is killed with SIGKILL
as it writes its k-th STATE, and a clean run resumes from that STATE. The resumed run must
accept it (exit 0), and everything that landed (the runs before, the killed run up to its
STATE, the resumed run), folded by id, must equal the sandbox's truth on whole rows.

* **sweep**: a full sync, the clock moved a day (new records, provider answers, merchant
  edits, support deletions), then runs with a sweep due (``sweep_interval_hours`` 0): STATEs
  are written in the new-records phase, between refreshes, mid-sweep and at partition ends.
* **version 1 upgrade**: ``tests/data/state_v1.json`` (see tests/reliability/
  test_state_upgrade.py) against its world moved six hours, with a sweep due: STATEs are
  written while the upgraded state is read, refreshed and swept.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from helpers import (
    TRUTH_STREAMS,
    KilledAndResumed,
    SandboxProcess,
    compare_with_truth,
    fold_messages,
    run_tap,
)

if TYPE_CHECKING:
    from helpers.resume import Message

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

V1_STATE = Path(__file__).resolve().parents[1] / "data" / "state_v1.json"
DELETED_AT = "_sdc_deleted_at"
#: Far more STATEs than a run of these worlds writes: a run that never ends is a failure.
MAX_CHECKPOINTS = 200


def _problems(sandbox: SandboxProcess, messages: list[Message]) -> list[str]:
    folded = fold_messages(messages)
    problems = []
    for stream in TRUTH_STREAMS:
        live = {k: r for k, r in folded.get(stream, {}).items() if not r.get(DELETED_AT)}
        comparison = compare_with_truth(stream, live, sandbox.truth(stream))
        if not comparison.ok:
            problems.append(comparison.summary(limit=3))
    return problems


def _kill_at_every_checkpoint(
    sandbox: SandboxProcess,
    config: dict[str, Any],
    landed: list[Message],
    state: dict[str, Any],
    workdir: Path,
) -> tuple[int, list[str]]:
    """Checkpoints killed at, and the problems of each resume (empty: all resumed right)."""
    problems: list[str] = []
    for checkpoint in range(1, MAX_CHECKPOINTS + 1):
        runs = KilledAndResumed(sandbox, config)
        runs.messages, runs.state = list(landed), state
        if not runs.killed_after_state(workdir / f"kill-{checkpoint}", checkpoint):
            return checkpoint - 1, problems
        resumed = run_tap(config, state=runs.state, workdir=workdir / f"resume-{checkpoint}")
        if resumed.returncode != 0:
            problems.append(f"STATE {checkpoint} refused: {resumed.stderr.strip()[-600:]}")
            continue
        problems += [
            f"STATE {checkpoint}: {p}" for p in _problems(sandbox, runs.messages + resumed.messages)
        ]
    problems.append(f"a run wrote more than {MAX_CHECKPOINTS} STATEs")
    return MAX_CHECKPOINTS, problems


def test_a_kill_at_every_checkpoint_of_a_sweep_resumes_to_the_truth(tmp_path: Path) -> None:
    with SandboxProcess.start(seed=61, accounts=2, invoices_per_account=200) as sandbox:
        config = sandbox.tap_config(sweep_interval_hours=0, page_size=50)
        first = run_tap(config, workdir=tmp_path / "full").check()
        assert first.final_state is not None
        sandbox.advance(24 * 3600)
        assert sandbox.deleted("invoices"), "a day without a deletion: the sweep deletes nothing"
        checkpoints, problems = _kill_at_every_checkpoint(
            sandbox, config, first.messages, first.final_state, tmp_path
        )
    print(f"sweep: killed at each of {checkpoints} checkpoints")  # noqa: T201 - for the record
    assert checkpoints > 10, "too few checkpoints to prove anything"
    assert not problems, "\n".join(problems)[:20000]


def test_a_kill_at_every_checkpoint_of_a_version_1_upgrade_resumes_to_the_truth(
    tmp_path: Path,
) -> None:
    old = json.loads(V1_STATE.read_text(encoding="utf-8"))
    assert old["bookmarks"]["invoices"]["partitions"][0]["capture"]["version"] == 1
    with SandboxProcess.start(seed=7, accounts=1, invoices_per_account=400) as sandbox:
        # The version 1 tap wrote its state by a full sync of this world moved six hours; what
        # it landed is what a full sync of the same world lands.
        sandbox.advance(6 * 3600)
        config = sandbox.tap_config(sweep_interval_hours=0)
        landed = run_tap(config, workdir=tmp_path / "full").check().messages
        checkpoints, problems = _kill_at_every_checkpoint(sandbox, config, landed, old, tmp_path)
    print(f"version 1 upgrade: killed at each of {checkpoints} checkpoints")  # noqa: T201
    assert checkpoints > 10, "too few checkpoints to prove anything"
    assert not problems, "\n".join(problems)[:20000]
