"""Progress lines and the run summary, read from real runs of the tap process against the sandbox.

Logs are read the way Meltano reads them: `SINGER_SDK_LOG_CONFIG` names a logging config with
the SDK's StructuredFormatter (what Meltano writes for a tap that declares `structured-logging`),
so every line is JSON and the numbers are the structured fields under `extra`. That Meltano
itself does so, and keeps the fields and levels, is proven through `meltano run` in
`tests/e2e/test_meltano_plugin.py`. Counts are checked against what the sandbox
served (`/_sandbox/stats`, its refresh log, its truth) and what the target received (rows that
target-jsonl wrote, or the tap's RECORD messages).
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
from helpers import child_env, parse_messages, structured_logging
from helpers import sync_into_jsonl as sync_jsonl
from helpers.singer import tap_argv
from helpers.streams import (
    ACCOUNT_STREAMS,
    CHANGES_STREAM,
    LIST_TEMPLATES,
    PARENTS,
    PLATFORM_STREAMS,
)

if TYPE_CHECKING:
    from pathlib import Path

    from helpers import SandboxProcess

pytestmark = pytest.mark.e2e
TOKEN = "POST /oauth/token"  # noqa: S105 - an endpoint template, not a secret
#: The tap with `PartitionReport.PROGRESS_SECONDS` (a class constant) set from argv[1], so a
#: short run shows several progress lines.
TAP_WITH_INTERVAL = [
    sys.executable,
    "-c",
    (
        "import sys\n"
        "from tap_mindzpay.run.progress import PartitionReport\n"
        "PartitionReport.PROGRESS_SECONDS = float(sys.argv.pop(1))\n"
        "from tap_mindzpay.tap import TapMindzPay\n"
        "TapMindzPay.cli()"
    ),
]


def events(stderr: str, kind: str) -> list[dict[str, Any]]:
    """Structured log lines of one `report` kind: top-level fields plus `extra`."""
    found = []
    for line in stderr.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        extra = entry.get("extra") or {}
        if extra.get("report") == kind:
            found.append({**extra, **entry, "extra": None})
    return found


def summaries(stderr: str) -> dict[tuple[str, str], dict[str, Any]]:
    lines = events(stderr, "summary")
    keyed = {(line["stream_name"], line["account"]): line for line in lines}
    assert len(keyed) == len(lines), "one summary line per stream and account"
    return keyed


def run_summary(stderr: str) -> dict[str, Any]:
    [line] = events(stderr, "run_summary")
    return line


def served(stats: dict[str, Any], stream: str) -> Counter[str]:
    """Answers the sandbox served for a stream's endpoints, by status."""
    total: Counter[str] = Counter()
    platform = LIST_TEMPLATES.get(stream)
    for template, by_status in stats["requests"].items():
        if platform is not None:
            # The platform's lists (/users, /courses/{course_id}/grades) and their Gets.
            one = template.startswith(f"{platform}/{{") and "/" not in template[len(platform) + 1 :]
            if template == platform or one:
                total.update(by_status)
            continue
        # /mindzpay/accounts, /mindzpay/accounts/{account_key}/invoices[/{invoice_id}/...]
        segments = template.split(" ", 1)[1].split("/")
        index = 4 if len(segments) > 4 else 2 if segments[1] == "mindzpay" else 1
        if template != TOKEN and (segments + [""] * 5)[index] == stream:
            total.update(by_status)
    return total


def account_of(stream: str, record: dict[str, Any], keys_by_id: dict[int, str]) -> str | None:
    if stream == "subscriptions":
        return keys_by_id.get(record.get("account_id"))  # type: ignore[arg-type]
    return record.get("account_key")


def assert_summary_matches(
    sandbox: SandboxProcess, stderr: str, landed: dict[str, list[dict[str, Any]]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Every count of the summary against the sandbox's stats and the rows that landed."""
    stats = sandbox.stats()
    parts = summaries(stderr)
    run = run_summary(stderr)
    keys_by_id = {a["id"]: a["key"] for a in sandbox.truth("accounts")}
    assert run["outcome"] == "completed"
    assert run["reason"] is None
    assert (
        run["partitions"]
        == len(parts)
        == (1 + len(ACCOUNT_STREAMS) * len(keys_by_id) + len(PLATFORM_STREAMS))
    )
    assert all(p["status"] == "done" for p in parts.values())
    names = ("new", "changed", "refreshed", "settled", "deleted", "status_changes", "requests")
    for name in (*names, "retries"):
        assert run[name] == sum(p[name] for p in parts.values()), name
    assert run["http_429"] == sum(p["http_429"] for p in parts.values())
    assert run["records"] == sum(len(rows) for rows in landed.values())
    # Requests: what the sandbox counted, endpoint by endpoint, token requests apart.
    assert run["requests"] + run["token_requests"] == stats["total_requests"]
    assert run["token_requests"] == sum(stats["requests"].get(TOKEN, {}).values())
    for stream in ("accounts", *ACCOUNT_STREAMS, *PLATFORM_STREAMS):
        answers = served(stats, stream)
        mine = [p for (name, _), p in parts.items() if name == stream]
        assert sum(p["requests"] for p in mine) == sum(answers.values()), stream
        assert sum(p["http_429"] for p in mine) == answers["429"], stream
        transient = sum(n for status, n in answers.items() if status not in {"200", "404"})
        assert sum(p["retries"] for p in mine) == transient, stream
    # Records: what target-jsonl wrote, per stream and account.
    assert parts["accounts", "all"]["new"] == len(landed["accounts"])
    for stream in ACCOUNT_STREAMS:
        rows = landed.get(stream, [])
        markers = [row for row in rows if row.get("_sdc_deleted_at")]
        live = Counter(account_of(stream, row, keys_by_id) for row in rows if row not in markers)
        for key in keys_by_id.values():
            part = parts[stream, key]
            assert part["new"] + part["changed"] == live[key], (stream, key)
        assert sum(parts[stream, key]["deleted"] for key in keys_by_id.values()) == len(markers)
    for stream in PLATFORM_STREAMS:
        rows = landed.get(stream, [])
        markers = [row for row in rows if row.get("_sdc_deleted_at")]
        part = parts[stream, "all"]
        assert part["new"] + part["changed"] == len(rows) - len(markers), stream
        assert part["deleted"] == len(markers), stream
    changes = Counter(row["account_key"] for row in landed[CHANGES_STREAM])
    assert changes
    for key in keys_by_id.values():
        assert parts["invoices", key]["status_changes"] == changes[key], key
    # Refreshes: the sandbox's refresh log (found invoices) plus deletions found by refresh.
    log = Counter(entry["account_key"] for entry in stats["refreshes"])
    for key in keys_by_id.values():
        part = parts["invoices", key]
        assert part["refreshed"] == log[key] + part["deleted"], key
    payment_gets = sum(
        n
        for template, by_status in stats["requests"].items()
        if template.endswith("/payments/{payment_id}")
        for status, n in by_status.items()
        if status in {"200", "404"}
    )
    assert sum(parts["payments", key]["refreshed"] for key in keys_by_id.values()) == payment_gets
    return parts


def sync_into_jsonl(
    sandbox: SandboxProcess,
    target: str,
    workdir: Path,
    state: dict[str, Any] | None,
) -> tuple[str, dict[str, list[dict[str, Any]]], dict[str, Any] | None]:
    workdir.mkdir(parents=True)
    synced = sync_jsonl(
        sandbox.tap_config(page_size=25),
        target,
        workdir,
        state=state,
        env=structured_logging(workdir),
    )
    streams = ("accounts", *ACCOUNT_STREAMS, CHANGES_STREAM, *PLATFORM_STREAMS)
    landed = {s: synced.rows.get(s, []) for s in streams}
    return synced.piped.tap_stderr, landed, synced.state


def test_summary_counts_equal_what_the_sandbox_served_and_target_jsonl_wrote(
    sandbox_factory, target_jsonl, tmp_path
):
    sandbox = sandbox_factory(seed=11, accounts=2, invoices_per_account=300)
    faults = {"seed": 4, "http_429": 0.05, "http_5xx": 0.03, "retry_after": 0}
    sandbox.admin("POST", "/_sandbox/faults", body=faults)
    # Run 1: a first full sync. Every record the sandbox has is new.
    stderr, landed, state = sync_into_jsonl(sandbox, target_jsonl, tmp_path / "run1", None)
    parts = assert_summary_matches(sandbox, stderr, landed)
    keys_by_id = {a["id"]: a["key"] for a in sandbox.truth("accounts")}
    for stream in ACCOUNT_STREAMS:
        truth = Counter(account_of(stream, r, keys_by_id) for r in sandbox.truth(stream))
        assert set(truth) == set(keys_by_id.values())
        for key, count in truth.items():
            assert parts[stream, key]["new"] == count, (stream, key)
    assert sum(p["http_429"] for p in parts.values()) > 0, "the faults made 429s to count"
    assert sum(p["retries"] for p in parts.values()) > 0
    # Run 2: six simulated hours later, from the state: new records, refreshes, settlements.
    sandbox.advance(6 * 3600)
    sandbox.reset_stats()
    stderr, landed, _ = sync_into_jsonl(sandbox, target_jsonl, tmp_path / "run2", state)
    parts = assert_summary_matches(sandbox, stderr, landed)
    assert sum(parts["invoices", k]["refreshed"] for _, k in parts if k != "all") > 0
    assert sum(parts["invoices", k]["settled"] for _, k in parts if k != "all") > 0
    assert sum(parts["invoices", k]["new"] for _, k in parts if k != "all") > 0


def run_tap_with_interval(
    config: dict[str, Any], workdir: Path, interval: float
) -> tuple[int, list[dict[str, Any]], str]:
    argv, _ = tap_argv(config, workdir)
    completed = subprocess.run(
        [*TAP_WITH_INTERVAL, str(interval), *argv[1:]],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=child_env(structured_logging(workdir)),
        cwd=workdir,
        timeout=300,
        check=False,
    )
    return completed.returncode, parse_messages(completed.stdout), completed.stderr


def test_progress_lines_show_done_of_meta_total_and_refreshed_of_in_flight(
    sandbox_factory, tmp_path
):
    interval = 0.5
    sandbox = sandbox_factory(seed=5, accounts=1, invoices_per_account=400)
    sandbox.admin("POST", "/_sandbox/in_flight", params={"count": 150})
    sandbox.admin("POST", "/_sandbox/faults", body={"latency_ms": 15})
    # One request at a time: each phase lasts several progress intervals (pages fetched ahead
    # would finish the payments list within one).
    config = sandbox.tap_config(page_size=10, max_concurrency=1)
    code, messages, stderr = run_tap_with_interval(config, tmp_path, interval)
    assert code == 0, stderr[-3000:]
    progress = events(stderr, "progress")
    [key] = [a["key"] for a in sandbox.truth("accounts")]
    totals = {s: len(sandbox.truth(s)) for s in (*ACCOUNT_STREAMS, *PLATFORM_STREAMS)}
    by_phase: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for line in progress:
        assert line["account"] == ("all" if line["stream_name"] in PLATFORM_STREAMS else key)
        by_phase.setdefault((line["stream_name"], line["phase"]), []).append(line)
    assert {("invoices", "new"), ("payments", "new"), ("invoices", "refresh")} <= set(by_phase)
    # A nested list's lines count within one parent's list (done, total, rate start again per
    # parent; an empty list shows 0): only streams whose partitions have a report of their own
    # are checked line by line here.
    for (stream, phase), lines in by_phase.items():
        if stream in PARENTS:
            continue
        dones = [line["done"] for line in lines]
        assert dones == sorted(dones), (stream, phase)
        for line in lines:
            assert 0 < line["done"] <= line["total"]
            assert line["percent"] == round(100 * line["done"] / line["total"], 1)
            assert line["rate_per_second"] > 0
            assert line["eta_seconds"] >= 0
            if phase == "new":
                assert line["total"] == totals[stream]  # meta.total of the list
        stamps = [line["ts"] for line in lines]
        assert all(b - a >= interval - 0.01 for a, b in itertools.pairwise(stamps))
    parts = summaries(stderr)
    invoices = parts["invoices", key]
    assert {line["total"] for line in by_phase["invoices", "refresh"]} == {invoices["refreshed"]}
    assert invoices["refreshed"] >= 150
    # No line per record: far fewer progress lines than records or even list pages.
    records = [m for m in messages if m["type"] == "RECORD"]
    assert len(progress) < sum(p["requests"] for p in parts.values()) / 3
    emitted = sum(
        p["new"] + p["changed"] + p["deleted"] + p["status_changes"] for p in parts.values()
    )
    assert emitted == len(records)


def test_small_run_prints_no_progress_and_one_plain_summary_block(sandbox, tmp_path):
    argv, _ = tap_argv(sandbox.tap_config(), tmp_path)
    done = subprocess.run(
        argv, capture_output=True, text=True, env=child_env(), timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line.split(" | ")[-1] for line in done.stderr.splitlines()]
    assert not [line for line in lines if line.startswith("Progress ")]
    summary = [line for line in lines if line.startswith("Summary ")]
    assert len(summary) == 1 + 3 * len(ACCOUNT_STREAMS) + len(PLATFORM_STREAMS)
    records = Counter(m["stream"] for m in parse_messages(done.stdout) if m["type"] == "RECORD")
    for stream in ("accounts", *ACCOUNT_STREAMS):
        mine = [line for line in summary if line.startswith(f"Summary {stream} [")]
        news = [int(line.split(": new ", 1)[1].split(",", 1)[0].replace(",", "")) for line in mine]
        assert sum(news) <= records[stream]
        assert all(line.endswith(", done") for line in mine)
    [run_line] = [line for line in lines if line.startswith("Run completed in ")]
    assert f"{sum(records.values()):,} records (new " in run_line


def test_a_run_stopped_by_sigterm_summarises_what_it_did_and_why(sandbox_factory, tmp_path):
    # Large enough, and paged one request at a time, that the run outlasts many progress
    # intervals: the stop always comes while the second account's work is under way.
    sandbox = sandbox_factory(seed=6, accounts=2, invoices_per_account=2000)
    sandbox.admin("POST", "/_sandbox/faults", body={"latency_ms": 20})
    argv, _ = tap_argv(sandbox.tap_config(page_size=10, max_concurrency=1), tmp_path)
    stdout_path = tmp_path / "stdout.jsonl"
    stderr_path = tmp_path / "stderr.txt"
    with stdout_path.open("w") as out, stderr_path.open("w+") as err:
        tap = subprocess.Popen(
            [*TAP_WITH_INTERVAL, "0.5", *argv[1:]],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=child_env(structured_logging(tmp_path)),
            cwd=tmp_path,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and tap.poll() is None:
            # Stop once the second account is under way: the first one's partitions are done.
            accounts = {line["account"] for line in events(stderr_path.read_text(), "progress")}
            if len(accounts) > 1:
                break
            time.sleep(0.1)
        tap.send_signal(signal.SIGTERM)
        code = tap.wait(timeout=60)
    stderr = stderr_path.read_text()
    assert code == 128 + signal.SIGTERM, stderr[-3000:]
    run = run_summary(stderr)
    assert run["outcome"] == "stopped"
    assert run["reason"] == "SIGTERM (exit 143)"
    assert run["message"].endswith("; why: SIGTERM (exit 143)")
    parts = summaries(stderr)
    statuses = Counter(p["status"] for p in parts.values())
    assert statuses["done"] >= 3, statuses  # accounts' own work, the first account's streams
    assert statuses["stopped"] >= 1, statuses  # the partition it was in, at least
    assert all(p["phase"] for p in parts.values() if p["status"] == "stopped")
    records = [m for m in parse_messages(stdout_path.read_text()) if m["type"] == "RECORD"]
    assert run["records"] == len(records)  # what was emitted before the stop, exactly
    per_stream = Counter(m["stream"] for m in records)
    for stream, count in per_stream.items():
        if stream == CHANGES_STREAM:  # written by the invoices partitions, counted there
            assert sum(p["status_changes"] for p in parts.values()) == count
            continue
        mine = [p for (name, _), p in parts.items() if name == stream]
        assert sum(p["new"] + p["changed"] + p["deleted"] for p in mine) == count, stream


def test_a_run_refused_by_the_api_summarises_the_stop_reason(sandbox_factory, tmp_path):
    sandbox = sandbox_factory(seed=3, accounts=1, invoices_per_account=10)
    sandbox.admin("POST", "/_sandbox/faults", body={"forbidden_accounts": 1})
    argv, _ = tap_argv(sandbox.tap_config(), tmp_path)
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=child_env(structured_logging(tmp_path)),
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    run = run_summary(done.stderr)
    assert run["outcome"] == "stopped"
    assert run["reason"].startswith("ForbiddenError: MindzPay denied GET /mindzpay/accounts")
    assert "HTTP 403" in run["reason"]
    assert run["level"] == "error"
    assert summaries(done.stderr)["accounts", "all"]["status"] == "stopped"
    assert summaries(done.stderr)["accounts", "all"]["requests"] == 1


def test_the_summary_names_undeclared_properties_per_stream_and_counts_skipped_malformed(
    sandbox_factory, tmp_path
):
    # Two accounts: the accounts page loses one of them (malformed), the other one syncs.
    sandbox = sandbox_factory(seed=3, accounts=2, invoices_per_account=30)
    # Every record carries six undeclared properties; one record of every page lacks created_at.
    faults = {"undeclared_properties": 1, "malformed": 1, "malformed_kind": 2}
    sandbox.admin("POST", "/_sandbox/faults", body=faults)
    argv, _ = tap_argv(sandbox.tap_config(skip_malformed_records=True), tmp_path)
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=child_env(structured_logging(tmp_path)),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run = run_summary(done.stderr)
    added = {"channel", "external_reference", "legacy_id", "metadata", "risk_analysis", "tags"}
    streams = {"accounts", *ACCOUNT_STREAMS, *PLATFORM_STREAMS}
    assert run["undeclared_properties"] == {s: sorted(added) for s in streams}
    skipped = Counter(
        json.loads(line)["message"].split("stream ", 1)[1].split(",", 1)[0]
        for line in done.stderr.splitlines()
        if "Skipping malformed record: " in line
    )
    assert skipped
    assert run["malformed_skipped"] == {s: skipped.get(s, 0) for s in streams}
    assert (
        sum(run["malformed_skipped"].values())
        == sandbox.stats()["faults"]["malformed_missing_field"]
    )
