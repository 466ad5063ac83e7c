"""SDK settings for features the tap does not advertise stop the tap with one line, as a process.

`batch_config` would switch the SDK to BATCH files and `emit_activate_version_messages` to
ACTIVATE_VERSION messages; the tap offers neither (README, "BATCH and ACTIVATE_VERSION"), and
`--about` does not list them. The config points at a closed loopback port: the refusal must come
before any request.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from helpers import run_tap_cli

if TYPE_CHECKING:
    from pathlib import Path

BASE = {
    "api_url": "http://127.0.0.1:9/api/v2",
    "client_id": "mindzpay-demo",
    "client_secret": "never-printed",
}
BATCH = {"encoding": {"format": "jsonl", "compression": "gzip"}, "storage": {"root": "file://b"}}


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("batch_config", BATCH, "BATCH messages are not supported"),
        ("emit_activate_version_messages", True, "ACTIVATE_VERSION messages are not supported"),
    ],
)
@pytest.mark.parametrize("mode", [(), ("--test",)], ids=["sync", "test"])
def test_unadvertised_sdk_feature_stops_with_one_line(
    setting: str, value: Any, says: str, mode: tuple[str, ...], tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**BASE, setting: value}), encoding="utf-8")
    completed = run_tap_cli("--config", str(config), *mode, cwd=tmp_path, timeout=60)
    assert completed.returncode == 1, completed.stderr
    assert completed.stdout == ""
    problems = [line for line in completed.stderr.splitlines() if "| INFO " not in line]
    assert len(problems) == 1, completed.stderr
    assert problems[0].startswith(f"tap-mindzpay: config error: setting {setting}: {says}")
    assert "never-printed" not in completed.stderr


def test_unset_null_or_false_unadvertised_settings_ask_for_nothing() -> None:
    """Only a value that asks for the feature is refused (``check_unsupported``, one function)."""
    from tap_mindzpay.settings import check_unsupported  # noqa: PLC0415 - the one pure check

    assert check_unsupported({}) == []
    assert check_unsupported({"batch_config": None, "emit_activate_version_messages": False}) == []
    assert len(check_unsupported({"batch_config": {}, "emit_activate_version_messages": 1})) == 2
