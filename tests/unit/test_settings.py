"""Settings validation through the real CLI: one clear line naming the setting, exit 1."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

import pytest
from helpers.streams import MINDZPAY_STREAMS

if TYPE_CHECKING:
    from pathlib import Path

TAP = [sys.executable, "-c", "from tap_mindzpay.tap import TapMindzPay; TapMindzPay.cli()"]
REAL = {"api_url": "https://escola.mindz.com.br/api/v2", "client_id": "a", "client_secret": "b"}
BAD_CONFIGS = [
    ({}, "setting api_url is required"),
    ({**REAL, "client_secret": ""}, "setting client_secret is required"),
    ({"api_url": REAL["api_url"], "client_id": "a"}, "setting client_secret is required"),
    ({**REAL, "api_url": "http://escola.mindz.com.br/api/v2"}, "setting api_url must use https"),
    ({**REAL, "token_url": "http://10.0.0.1/token"}, "setting token_url must use https"),
    ({**REAL, "api_url": "escola.mindz.com.br"}, "setting api_url must be a URL"),
    ({"sandbox": True, "page_size": 0}, "setting page_size"),
    ({"sandbox": True, "page_size": 101}, "setting page_size"),
    ({"sandbox": True, "page_size": "many"}, "setting page_size"),
    ({"sandbox": True, "max_concurrency": 65}, "setting max_concurrency"),
    ({"sandbox": True, "max_retries": -1}, "setting max_retries"),
    ({"sandbox": True, "request_timeout": 0}, "setting request_timeout"),
    ({"sandbox": True, "start_date": "last week"}, "setting start_date"),
    ({"sandbox": True, "account_keys": "acc_1"}, "setting account_keys"),
    ({"sandbox": True, "api_url": REAL["api_url"]}, "settings sandbox and api_url"),
    ({**REAL, "api_url": "ftp://escola.mindz.com.br/api/v2"}, "setting api_url must be a URL"),
    ({**REAL, "api_url": "http://127.0.0.1.nip.io/api/v2"}, "setting api_url must use https"),
    ({**REAL, "token_url": "http://localhost.evil.example/t"}, "setting token_url must use https"),
    ({**REAL, "token_url": "oauth/token"}, "setting token_url must be a URL"),
    (
        {**REAL, "api_url": "https://app:pw-in-url@escola.mindz.com.br/api/v2"},
        "setting api_url must not carry credentials",
    ),
    ({"sandbox": True, "max_retries": 21}, "setting max_retries"),
    ({"sandbox": True, "sweep_interval_hours": -1}, "setting sweep_interval_hours"),
    ({"sandbox": True, "skip_malformed_records": "yes"}, "setting skip_malformed_records"),
]


def run(args: list[str], config: dict | None, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    if config is not None:
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config), encoding="utf-8")
        args = [*args, "--config", str(path)]
    return subprocess.run([*TAP, *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(("config", "expected"), BAD_CONFIGS)
def test_bad_setting_fails_with_one_line_naming_it(config, expected, tmp_path):
    done = run([], config, tmp_path)
    errors = [line for line in done.stderr.splitlines() if "config error" in line]
    assert done.returncode == 1
    assert len(errors) == 1, done.stderr
    assert expected in errors[0]
    assert "Traceback" not in done.stderr
    assert "pw-in-url" not in done.stderr
    assert done.stdout == ""


def test_http_is_allowed_only_for_loopback_hosts():
    from tap_mindzpay.settings import check_url  # noqa: PLC0415 - the one pure check, no process

    for url in ("http://127.0.0.1:8080/api/v2", "http://localhost/api/v2", "http://[::1]/api/v2"):
        assert check_url({"api_url": url}, "api_url") is None, url
    for url in ("http://10.0.0.1/api/v2", "http://localhost.evil.example/api/v2"):
        assert "must use https" in str(check_url({"api_url": url}, "api_url")), url


def test_bad_setting_fails_the_same_way_under_test_flag(tmp_path):
    done = run(["--test"], {}, tmp_path)
    assert done.returncode == 1
    assert "config error: setting api_url is required" in done.stderr
    assert "Traceback" not in done.stderr


def test_secret_value_never_appears_in_a_config_error(tmp_path):
    done = run([], {**REAL, "client_secret": 12345678, "page_size": 0}, tmp_path)
    assert done.returncode == 1
    assert "12345678" not in done.stderr


def test_about_and_discover_need_no_settings_and_start_no_sandbox(tmp_path):
    about = run(["--about", "--format=markdown"], {"sandbox": True}, tmp_path)
    discover = run(["--discover"], {"sandbox": True}, tmp_path)
    assert about.returncode == 0
    assert "| client_secret |" in about.stdout
    assert discover.returncode == 0
    streams = {s["tap_stream_id"] for s in json.loads(discover.stdout)["streams"]}
    assert streams >= set(MINDZPAY_STREAMS)
    assert "embedded MindzPay sandbox" not in about.stderr + discover.stderr


def test_sandbox_mode_starts_the_sandbox_for_test_and_stops_it_on_exit(tmp_path):
    done = run(["--test"], {"sandbox": True}, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    started = re.search(r"Started the embedded MindzPay sandbox at (\S+)", done.stderr)
    assert started, done.stderr[-2000:]
    assert '"type":"RECORD"' in done.stdout.replace(" ", "")
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(started.group(1) + "/_sandbox/health", timeout=5)  # noqa: S310
