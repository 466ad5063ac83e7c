"""A state the tap cannot use stops the run with one line on stderr; never a silent full resync.

The tap runs as a process against the shared sandbox with ``--state`` pointing at a broken
file: it must exit non-zero, write nothing on stdout (no RECORD, so no resync started), and
write exactly one line on stderr that names the problem and where it is, without a traceback.
The broken states are mutations of a real STATE the tap wrote, so everything but the broken
part is valid; the control case (the unmutated state) shows the same harness passes.
"""

from __future__ import annotations

import base64
import copy
import json
import zlib
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
from helpers import run_tap, run_tap_cli
from helpers.streams import PARENTS

from tap_mindzpay.capture.packing import MAX_UNPACKED_BYTES

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable
    from pathlib import Path

    from helpers import SandboxProcess

pytestmark = pytest.mark.e2e

State = dict[str, Any]


def _invoices(state: State) -> State:
    return state["bookmarks"]["invoices"]["partitions"][0]


def _capture(state: State) -> State:
    return _invoices(state)["capture"]


def _set(get: Callable[[State], State], key: str, value: object) -> Callable[[State], None]:
    return lambda state: get(state).__setitem__(key, value)


def _zeros_packed(size: int) -> str:
    """Packed text (zlib, base64) of ``size`` zero bytes: about a thousandth of it on disk."""
    deflate = zlib.compressobj(9)
    parts = [deflate.compress(bytes(1 << 20)) for _ in range(size >> 20)]
    return base64.b64encode(b"".join([*parts, deflate.flush()])).decode()


def _v1(key: str, value: object) -> Callable[[State], None]:
    """Replace the capture section by a version 1 one with ``key`` set to ``value``."""

    def mutate(state: State) -> None:
        section = {"version": 1, "in_flight": {}, "sweep": _capture(state)["sweep"], "known": None}
        _invoices(state)["capture"] = {**section, key: value}

    return mutate


# (case, raw text or a mutation of a real state, what the one stderr line must say)
BAD_STATES: list[tuple[str, str | Callable[[State], None], str]] = [
    ("not JSON", '{"bookmarks": {"invoices": ', "is not JSON"),
    ("empty file", "", "is empty"),
    ("a list", "[]", "must be a JSON object with 'bookmarks', not a list"),
    ("null", "null", "must be a JSON object with 'bookmarks', not null"),
    (
        "bookmarks a list",
        lambda s: s.__setitem__("bookmarks", []),
        "'bookmarks' must be an object of streams, not a list",
    ),
    (
        "stream state a string",
        lambda s: s["bookmarks"].__setitem__("invoices", "done"),
        "bookmarks.invoices must be an object, not a string",
    ),
    (
        "partitions not a list",
        lambda s: s["bookmarks"]["invoices"].__setitem__("partitions", {"0": {}}),
        "bookmarks.invoices.partitions must be a list, not an object",
    ),
    (
        "bookmark of the wrong type",
        _set(_invoices, "replication_key_value", "2026-11-01"),
        "replication_key_value must be an integer id >= 0, not '2026-11-01'",
    ),
    (
        "platform bookmark not a timestamp",
        lambda s: s["bookmarks"]["users"].__setitem__("replication_key_value", "yesterday"),
        "bookmarks.users.replication_key_value must be an ISO 8601 timestamp, not 'yesterday'",
    ),
    (
        "negative bookmark",
        _set(_invoices, "replication_key_value", -1),
        "replication_key_value must be an integer id >= 0, not -1",
    ),
    (
        "another tap's state",
        (
            '{"bookmarks": {"customers": {"replication_key": "updated", '
            '"replication_key_value": "2026-01-01T00:00:00Z"}}, "currently_syncing": null}'
        ),
        "bookmarks for streams this tap does not have (customers); written by another tap?",
    ),
    (
        "another tap's stream next to this tap's",
        lambda s: s["bookmarks"].__setitem__(
            "charges", {"replication_key": "created", "replication_key_value": 1700000000}
        ),
        (
            "bookmarks for streams this tap does not have (charges); written by another tap? "
            "This tap's streams are accounts, payments, invoices"
        ),
    ),
    (
        "another tap's replication key on a stream of the same name",
        _set(_invoices, "replication_key", "created"),
        "replication_key is 'created', but this tap's stream is synced by id; written by another",
    ),
    (
        "offset hint negative",
        _set(_invoices, "offset_hint", -5),
        "offset_hint must be an integer >= 0, not -5",
    ),
    (
        "unknown capture version",
        _set(_capture, "version", 3),
        "capture.version is 3; this tap reads version 2 (and upgrades 1",
    ),
    ("capture a list", _set(_invoices, "capture", [1]), "capture must be an object, not a list"),
    (
        "in_flight a list",
        _set(_capture, "in_flight", [5, 6]),
        "capture.in_flight must be an object of count and columns, not [5, 6]",
    ),
    (
        "in_flight columns not packed",
        _set(_capture, "in_flight", {"count": 2, "columns": "not base64!"}),
        "capture is unusable (",
    ),
    (
        "in_flight count that does not match its columns",
        lambda s: _capture(s)["in_flight"].__setitem__("count", 10**6),
        "are not 1000000 entries of the state's columns",
    ),
    (
        "statuses not a status map",
        _set(_capture, "statuses", "aGVsbG8gd29ybGQ="),
        "capture.statuses is not an encoded status map (must be an object of base, labels, codes",
    ),
    (
        "statuses codes a decompression bomb",
        lambda s: _capture(s)["statuses"].__setitem__("codes", _zeros_packed(300 << 20)),
        f"decompresses to more than {MAX_UNPACKED_BYTES:,} bytes",
    ),
    (
        "statuses codes not zlib",
        lambda s: _capture(s)["statuses"].__setitem__("codes", "aGVsbG8gd29ybGQ="),
        "capture.statuses is not an encoded status map (",
    ),
    (
        "sweep time not a timestamp",
        _set(_capture, "sweep", {"hwm": "yesterday", "at": None}),
        "capture is unusable (Invalid isoformat string: 'yesterday')",
    ),
    # Version 1 (upgraded on read) is checked by its own shape.
    (
        "v1 in_flight garbage entry",
        _v1("in_flight", {"5987": "1"}),
        "capture.in_flight['5987'] must be [status, updated_at], not '1'",
    ),
    (
        "v1 in_flight id not a number",
        _v1("in_flight", {"abc": [1, None]}),
        "capture.in_flight['abc'] must be [status, updated_at]",
    ),
    (
        "v1 known not base64",
        _v1("known", "not base64!"),
        "capture.known is not an encoded id set (",
    ),
    (
        "v1 known a number",
        _v1("known", 42),
        "capture.known must be the encoded id set (a string), not a number",
    ),
    (
        "v1 statuses with an id set that does not decode",
        _v1("statuses", [[2, "aGVsbG8gd29ybGQ="]]),
        "capture.statuses[0] is not an encoded id set",
    ),
]


@pytest.fixture(scope="module")
def real_state(sandbox: SandboxProcess, tmp_path_factory: pytest.TempPathFactory) -> State:
    run = run_tap(sandbox.tap_config(), workdir=tmp_path_factory.mktemp("state")).check()
    state = run.final_state
    assert state is not None
    assert _capture(state)["version"] == 2, "the base state must carry a capture section"
    return state


def run_with_state_text(
    config: dict[str, Any], text: str, tmp_path: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (tmp_path / "state.json").write_text(text, encoding="utf-8")
    return run_tap_cli("--config", "config.json", "--state", "state.json", cwd=tmp_path, env=env)


@pytest.mark.parametrize(
    ("bad", "expected"),
    [(bad, expected) for _, bad, expected in BAD_STATES],
    ids=[c[0] for c in BAD_STATES],
)
def test_bad_state_stops_with_one_line_naming_the_problem_and_no_resync(
    bad, expected, sandbox, real_state, tmp_path
):
    if isinstance(bad, str):
        text = bad
    else:
        state = copy.deepcopy(real_state)
        bad(state)
        text = json.dumps(state)
    done = run_with_state_text(sandbox.tap_config(), text, tmp_path)
    lines = done.stderr.splitlines()
    assert done.returncode != 0
    assert done.stdout == "", "the tap wrote messages: it started a sync from a bad state"
    assert len(lines) == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "state state.json" in lines[0]
    assert expected in lines[0]
    assert "the tap will not guess" in lines[0]


def test_the_real_state_unbroken_resumes_without_error(sandbox, real_state, tmp_path):
    done = run_with_state_text(sandbox.tap_config(), json.dumps(real_state), tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    messages = [json.loads(line) for line in done.stdout.splitlines()]
    records = [m for m in messages if m["type"] == "RECORD"]
    # A nested list (a course's lessons) re-reads the newest record of each parent's list, the
    # one at that parent's bookmark: at most one per parent.
    nested = Counter(m["stream"] for m in records if m["stream"] in PARENTS)
    for stream, count in nested.items():
        assert count <= len(sandbox.truth(PARENTS[stream])), (stream, count)
    truth_size = len(sandbox.truth("invoices"))
    # A resumed sync re-reads only the accounts (full table) and what changed: far from a resync.
    flat = [m for m in records if m["stream"] not in PARENTS]
    assert len(flat) < truth_size / 10, len(flat)


def test_bad_state_under_meltano_names_the_state_id_not_the_run_file(sandbox, tmp_path):
    """Meltano passes its stored state as a file under .meltano/run/ and tells the tap its
    environment and its own name (not the loader's): the line names the state ID to look up."""
    meltano_env = {"MELTANO_ENVIRONMENT": "prod", "MELTANO_EXTRACTOR_NAME": "tap-mindzpay"}
    text = json.dumps({"bookmarks": {"invoices": []}})
    done = run_with_state_text(sandbox.tap_config(), text, tmp_path, env=meltano_env)
    assert done.returncode != 0
    (line,) = [line for line in done.stderr.splitlines() if "the tap will not guess" in line]
    assert (
        "state ID prod:tap-mindzpay-to-<loader> (meltano state list 'prod:tap-mindzpay-to-*' "
        "names it): bookmarks.invoices must be an object"
    ) in line
    assert "state.json" not in done.stderr
