"""The performance levers never change what the tap emits.

tap-mindzpay's fast path (msgspec writer, per-record flat conformance instead of the SDK's
per-property pass, msgspec page decoding, RECORD lines written straight from the record and the
bookmark moved in place by ``fastpath``) is run against the shared sandbox next to a plain run
of the same tap with every lever switched back to the SDK's default, and next to the
template-style baseline tap the benchmark measures. Records are compared exactly: same streams,
same order, same keys in the same order, same values with money as the exact decimal text; the
bookmarks of every STATE are compared too. With stream maps, flattening or a catalog deselecting
a property the fast record path must step aside: those runs are compared with the plain SDK
path under the same settings.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from helpers import PROJECT_ROOT, child_env, parse_messages, venv_script
from helpers.streams import MINDZPAY_STREAMS, PARENTS

if TYPE_CHECKING:
    from pathlib import Path

    from helpers import SandboxProcess

pytestmark = pytest.mark.e2e

# The tap with every lever set back to the SDK's defaults, then its usual CLI. WRITER is the
# SDK's default writer (simplejson) or, for a byte-level comparison, its msgspec writer.
PLAIN_TAP = """
import json, sys, types
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.io_base import SingerWriter
from tap_mindzpay import client
from tap_mindzpay.http import requester
from tap_mindzpay.tap import TapMindzPay

# Each lever must still exist under its name, or this run would silently stay fast.
assert hasattr(client.MindzPayStream, "fast_conformance") and hasattr(requester, "_decoder")
assert hasattr(client.MindzPayStream, "fast_records")
TapMindzPay.message_writer_class = WRITER
client.MindzPayStream.fast_conformance = False
client.MindzPayStream.fast_records = False
requester._decoder = types.SimpleNamespace(decode=json.loads)
sys.argv[0] = "tap-mindzpay"
TapMindzPay.cli()
"""

DATA_STREAMS = MINDZPAY_STREAMS
#: The nested platform lists (child streams of a platform stream) and their parents.
NESTED = frozenset(PARENTS) | frozenset(PARENTS.values())
# Any RECORD line's extraction time (a wall clock: the one field two runs cannot share).
TIME_EXTRACTED = re.compile(rb',"time_extracted":"[^"]*"')


def _run(argv: list[str], workdir: Path, env: dict[str, str] | None = None) -> str:
    completed = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=child_env(env),
        cwd=workdir,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, f"{argv[:3]} failed:\n{completed.stderr[-4000:]}"
    return completed.stdout


def _tap_args(config: Path, catalog: Path | None) -> list[str]:
    return ["--config", str(config), *(["--catalog", str(catalog)] if catalog else [])]


def _fast(config: Path, catalog: Path | None = None) -> str:
    return _run([venv_script("tap-mindzpay"), *_tap_args(config, catalog)], config.parent)


def _plain(config: Path, catalog: Path | None = None, writer: str = "SingerWriter") -> str:
    code = PLAIN_TAP.replace("WRITER", writer)
    return _run([sys.executable, "-c", code, *_tap_args(config, catalog)], config.parent)


def _records(messages: list[dict[str, Any]], streams: tuple[str, ...] | None = None) -> list[str]:
    # repr keeps a Decimal's exact text ("1234.50" is not "1234.5"); dumps keeps key order.
    return [
        f"{m['stream']} {json.dumps(m['record'], default=repr)}"
        for m in messages
        if m["type"] == "RECORD" and (streams is None or m["stream"] in streams)
    ]


def _bookmarks(messages: list[dict[str, Any]]) -> list[list[tuple[str, str, Any, Any]]]:
    """Per STATE: every partition's bookmark and offset hint (capture's clock left out).

    Nested platform lists (a course's lessons) and their parents are left out: on the fast
    path the nested partitions write STATE at the run's cadence, where the SDK's loop writes
    one per parent (before the parent's own bookmark moves); the STATE their parent writes once
    they are done carries them, and the final STATEs are compared whole (``_final_state``).
    A STATE that then repeats the one before is left out too.
    """
    states: list[list[tuple[str, str, Any, Any]]] = []
    for message in messages:
        if message["type"] != "STATE":
            continue
        marks = []
        for stream, entry in sorted(message["value"].get("bookmarks", {}).items()):
            for partition in entry.get("partitions", [entry]):
                context = json.dumps(partition.get("context"), sort_keys=True)
                if stream in NESTED:
                    continue
                marks.append(
                    (
                        stream,
                        context,
                        partition.get("replication_key_value"),
                        partition.get("offset_hint"),
                    )
                )
        if not states or marks != states[-1]:
            states.append(marks)
    return states


def _final_state(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The bookmarks of the last STATE, every partition's (capture's clock left out)."""
    [*_, last] = (m["value"] for m in messages if m["type"] == "STATE")
    return {
        (stream, json.dumps(p.get("context"), sort_keys=True)): p.get("replication_key_value")
        for stream, entry in last.get("bookmarks", {}).items()
        for p in entry.get("partitions", [entry])
    }


def _assert_same_records(fast: list[dict[str, Any]], plain: list[dict[str, Any]]) -> None:
    fast_records, plain_records = _records(fast), _records(plain)
    assert len(fast_records) == len(plain_records)
    for number, (ours, sdk) in enumerate(zip(fast_records, plain_records, strict=True)):
        assert ours == sdk, f"record {number} differs:\nfast:  {ours}\nplain: {sdk}"
    assert [m for m in fast if m["type"] == "SCHEMA"] == [m for m in plain if m["type"] == "SCHEMA"]


@pytest.fixture(scope="module")
def config_file(sandbox: SandboxProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fastpath") / "config.json"
    path.write_text(json.dumps(sandbox.tap_config()), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def fast_output(config_file: Path) -> str:
    return _fast(config_file)


@pytest.fixture(scope="module")
def fast_messages(fast_output: str) -> list[dict[str, Any]]:
    return parse_messages(fast_output)


def test_fast_path_emits_the_records_of_the_plain_sdk_path(
    config_file: Path, fast_messages: list[dict[str, Any]]
) -> None:
    plain = parse_messages(_plain(config_file))
    assert {line.split(" ", 1)[0] for line in _records(fast_messages)} >= set(DATA_STREAMS)
    _assert_same_records(fast_messages, plain)
    # Same STATE messages at the same places, with the same bookmarks: never ahead of what
    # was written, as often as the SDK writes them.
    assert _bookmarks(fast_messages) == _bookmarks(plain)
    assert _final_state(fast_messages) == _final_state(plain)


def test_fast_path_writes_the_sdk_msgspec_writers_record_lines_byte_for_byte(
    config_file: Path, fast_output: str
) -> None:
    plain = _plain(config_file, writer="MsgSpecWriter")

    def record_lines(output: str) -> list[bytes]:
        lines = output.encode().splitlines()
        return [TIME_EXTRACTED.sub(b"", line) for line in lines if b'"type":"RECORD"' in line]

    fast_lines, plain_lines = record_lines(fast_output), record_lines(plain)
    assert len(fast_lines) == len(plain_lines) > 0
    for number, (ours, sdk) in enumerate(zip(fast_lines, plain_lines, strict=True)):
        assert ours == sdk, f"line {number} differs:\nfast:  {ours!r}\nplain: {sdk!r}"


def test_fast_path_emits_the_records_of_the_template_baseline_tap(
    config_file: Path, fast_messages: list[dict[str, Any]]
) -> None:
    # The benchmark's tap / baseline ratio is only fair if both emit the same records.
    baseline = parse_messages(
        _run(
            [sys.executable, "-m", "baseline_tap", "--config", str(config_file)],
            config_file.parent,
            env={"PYTHONPATH": str(PROJECT_ROOT / "benchmarks")},
        )
    )
    # Each stream's records in the same order; the tap syncs payments before invoices in each
    # account (its refresh schedule), the baseline invoices first: streams are compared apart.
    by_stream = lambda line: line.split(" ", 1)[0]  # noqa: E731
    fast_records = sorted(_records(fast_messages, DATA_STREAMS), key=by_stream)
    baseline_records = sorted(_records(baseline, DATA_STREAMS), key=by_stream)
    assert len(fast_records) == len(baseline_records)
    for number, (fast, base) in enumerate(zip(fast_records, baseline_records, strict=True)):
        assert fast == base, f"record {number} differs:\ntap:      {fast}\nbaseline: {base}"


def test_money_keeps_its_exact_decimal_text_on_the_fast_path(
    fast_messages: list[dict[str, Any]],
) -> None:
    amounts = [
        m["record"]["amount"]
        for m in fast_messages
        if m["type"] == "RECORD" and m["stream"] == "invoices"
    ]
    assert amounts
    assert all(isinstance(a, Decimal) and a.as_tuple().exponent == -2 for a in amounts)


def test_money_as_string_gives_the_same_string_records_on_both_paths(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(sandbox.tap_config(money_as_string=True)), encoding="utf-8")
    fast, plain = parse_messages(_fast(config)), parse_messages(_plain(config))
    _assert_same_records(fast, plain)
    truth = {r["id"]: r for r in sandbox.truth("payments")}
    payments = [m["record"] for m in fast if m["type"] == "RECORD" and m["stream"] == "payments"]
    assert len(payments) == len(truth)
    for record in payments:
        # The API's own two-decimal text, as a JSON string.
        assert record["amount"] == truth[record["id"]]["amount"], record
        assert record["fee"] == truth[record["id"]]["fee"], record
    schemas = [m["schema"] for m in fast if m["type"] == "SCHEMA" and m["stream"] == "payments"]
    assert schemas
    for schema in schemas:
        for name in ("amount", "fee"):
            assert schema["properties"][name] == {
                "type": ["string", "null"],
                "format": "x-singer.decimal",
            }


def test_stream_maps_and_flattening_give_the_plain_sdk_paths_records(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    settings = sandbox.tap_config(
        stream_maps={
            "invoices": {"file_url": None, "amount_text": "str(amount)"},
            "payments": {"__alias__": "payments_renamed"},
            "subscriptions": {"__filter__": "id % 2 == 0"},
        },
        flattening_enabled=True,
        flattening_max_depth=1,
    )
    config.write_text(json.dumps(settings), encoding="utf-8")
    fast, plain = parse_messages(_fast(config)), parse_messages(_plain(config))
    _assert_same_records(fast, plain)
    # The maps took effect on both paths (so the fast path stepped aside, not the maps).
    invoices = [m["record"] for m in fast if m["type"] == "RECORD" and m["stream"] == "invoices"]
    assert invoices
    assert all("file_url" not in r and r["amount_text"] == str(r["amount"]) for r in invoices)
    streams = {m["stream"] for m in fast if m["type"] == "RECORD"}
    assert "payments_renamed" in streams
    assert "payments" not in streams
    subscriptions = [
        m["record"]["id"] for m in fast if m["type"] == "RECORD" and m["stream"] == "subscriptions"
    ]
    assert subscriptions
    assert all(i % 2 == 0 for i in subscriptions)


def test_a_catalog_deselecting_a_property_gives_the_plain_sdk_paths_records(
    config_file: Path, discovered_catalog: dict[str, Any], tmp_path: Path
) -> None:
    catalog = json.loads(json.dumps(discovered_catalog))
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if not meta["breadcrumb"]:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in DATA_STREAMS
            elif entry["tap_stream_id"] == "invoices" and meta["breadcrumb"] == [
                "properties",
                "file_url",
            ]:
                meta["metadata"]["selected"] = False
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog), encoding="utf-8")
    fast = parse_messages(_fast(config_file, path))
    plain = parse_messages(_plain(config_file, path))
    _assert_same_records(fast, plain)
    invoices = [m["record"] for m in fast if m["type"] == "RECORD" and m["stream"] == "invoices"]
    assert invoices
    assert all("file_url" not in r and "amount" in r for r in invoices)
