"""Test helpers shared by the end-to-end tests, chaos runs and benchmarks.

* `sandbox.SandboxProcess`: start `mindzpay-sandbox` as a process, read its truth, move its clock.
* `singer.run_tap`: run `tap-mindzpay` as a process.
* `pipes.pipe_tap_into_target` / `pipes.sync_into_jsonl`: `tap-mindzpay | target` as two processes
  (optionally through a `Tee` that copies and can kill the tap); `jsonl_target`: target-jsonl's
  config; `read_jsonl_dir`: what it wrote.
* `resume.KilledAndResumed`: a first sync, then runs that are killed and resumed from the last
  STATE they wrote.
* `fold.fold_messages` / `fold.compare_with_truth`: fold records by primary key and compare.
* `meltano.IsolatedMeltano`: `meltano run` with a private system database.
* `services`: Meltano plugins and PostgreSQL for the tests (fail in CI when missing, never skip).
* `warehouse`: read DuckDB/PostgreSQL tables and compare whole rows with the truth.

Import as `from helpers import ...` under pytest (the rootdir conftest puts `tests/` on the path);
from elsewhere, put `tests/` on `sys.path` first.
"""

from __future__ import annotations

from .fold import (
    PRIMARY_KEYS,
    Comparison,
    FieldMismatch,
    compare_with_truth,
    fold,
    fold_messages,
    values_equal,
)
from .meltano import IsolatedMeltano, MeltanoResult
from .pipes import (
    JsonlSync,
    PipeRun,
    Tee,
    jsonl_target,
    pipe_tap_into_target,
    read_jsonl_dir,
    sync_into_jsonl,
)
from .processes import (
    PROJECT_ROOT,
    child_env,
    meltano_plugin_executable,
    structured_logging,
    venv_script,
)
from .resume import KilledAndResumed, last_state
from .sandbox import SandboxError, SandboxProcess
from .services import in_ci, missing_plugins, require_loader, require_plugins, unavailable
from .singer import TapRun, parse_messages, run_tap, run_tap_cli, tap_about
from .streams import TRUTH_STREAMS

__all__ = [
    "PRIMARY_KEYS",
    "PROJECT_ROOT",
    "TRUTH_STREAMS",
    "Comparison",
    "FieldMismatch",
    "IsolatedMeltano",
    "JsonlSync",
    "KilledAndResumed",
    "MeltanoResult",
    "PipeRun",
    "SandboxError",
    "SandboxProcess",
    "TapRun",
    "Tee",
    "child_env",
    "compare_with_truth",
    "fold",
    "fold_messages",
    "in_ci",
    "jsonl_target",
    "last_state",
    "meltano_plugin_executable",
    "missing_plugins",
    "parse_messages",
    "pipe_tap_into_target",
    "read_jsonl_dir",
    "require_loader",
    "require_plugins",
    "run_tap",
    "run_tap_cli",
    "structured_logging",
    "sync_into_jsonl",
    "tap_about",
    "unavailable",
    "values_equal",
    "venv_script",
]
