"""The performance levers of issue 5 never change what the tap emits.

tap-mindzpay's fast path (msgspec writer, per-record flat conformance instead of the SDK's
per-property pass, msgspec page decoding) is run against the shared sandbox next to a plain run
of the same tap with every lever switched back to the SDK's default, and next to the
template-style baseline tap the benchmark measures. Records are compared exactly: same streams,
same order, same keys in the same order, same values with money as the exact decimal text.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from helpers import PROJECT_ROOT, child_env, parse_messages, venv_script

if TYPE_CHECKING:
    from pathlib import Path

    from helpers import SandboxProcess

pytestmark = pytest.mark.e2e

# The tap with every lever set back to the SDK's defaults, then its usual CLI.
PLAIN_TAP = """
import json, sys, types
from singer_sdk.io_base import SingerWriter
from tap_mindzpay import client
from tap_mindzpay.tap import TapMindzPay

# Each lever must still exist under its name, or this run would silently stay fast.
assert hasattr(client.MindzPayStream, "fast_conformance") and hasattr(client, "_decoder")
TapMindzPay.message_writer_class = SingerWriter
client.MindzPayStream.fast_conformance = False
client._decoder = types.SimpleNamespace(decode=json.loads)
sys.argv[0] = "tap-mindzpay"
TapMindzPay.cli()
"""

DATA_STREAMS = ("accounts", "invoices", "payments", "subscriptions")


def _run(argv: list[str], workdir: Path, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
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
    return parse_messages(completed.stdout)


def _records(messages: list[dict[str, Any]], streams: tuple[str, ...] | None = None) -> list[str]:
    # repr keeps a Decimal's exact text ("1234.50" is not "1234.5"); dumps keeps key order.
    return [
        f"{m['stream']} {json.dumps(m['record'], default=repr)}"
        for m in messages
        if m["type"] == "RECORD" and (streams is None or m["stream"] in streams)
    ]


@pytest.fixture(scope="module")
def config_file(sandbox: SandboxProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fastpath") / "config.json"
    path.write_text(json.dumps(sandbox.tap_config()), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def fast_messages(config_file: Path) -> list[dict[str, Any]]:
    return _run([venv_script("tap-mindzpay"), "--config", str(config_file)], config_file.parent)


def test_fast_path_emits_the_records_of_the_plain_sdk_path(
    config_file: Path, fast_messages: list[dict[str, Any]]
) -> None:
    plain = _run(
        [sys.executable, "-c", PLAIN_TAP, "--config", str(config_file)], config_file.parent
    )
    fast_records, plain_records = _records(fast_messages), _records(plain)
    assert {line.split(" ", 1)[0] for line in fast_records} >= set(DATA_STREAMS)
    assert len(fast_records) == len(plain_records)
    for number, (fast, slow) in enumerate(zip(fast_records, plain_records, strict=True)):
        assert fast == slow, f"record {number} differs:\nfast:  {fast}\nplain: {slow}"
    schemas = [m for m in fast_messages if m["type"] == "SCHEMA"]
    assert schemas == [m for m in plain if m["type"] == "SCHEMA"]


def test_fast_path_emits_the_records_of_the_template_baseline_tap(
    config_file: Path, fast_messages: list[dict[str, Any]]
) -> None:
    # The benchmark's tap / baseline ratio is only fair if both emit the same records.
    baseline = _run(
        [sys.executable, "-m", "baseline_tap", "--config", str(config_file)],
        config_file.parent,
        env={"PYTHONPATH": str(PROJECT_ROOT / "benchmarks")},
    )
    fast_records = _records(fast_messages, DATA_STREAMS)
    baseline_records = _records(baseline, DATA_STREAMS)
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
