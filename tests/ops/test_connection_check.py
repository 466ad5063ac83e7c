"""`tap-mindzpay --test` as a process: one line saying what it found, and an exit code per problem.

Each failure kind is produced for real: a wrong secret or client id against the sandbox, the
sandbox's `forbidden_accounts` switch (403 on the accounts list), a closed loopback port, an
https URL to the sandbox's plain-HTTP port, an account key the credential cannot see, a URL that
is not the MindzPay API.
"""

from __future__ import annotations

import json
import socket
import subprocess
from typing import TYPE_CHECKING, Any

import pytest
from helpers import IsolatedMeltano, child_env, require_plugins, venv_script
from helpers.meltano import MELTANO_WORKER

from tap_mindzpay import connection

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e


def check(config: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return subprocess.run(
        [venv_script("tap-mindzpay"), "--config", str(path), "--test"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=child_env(),
        timeout=120,
        check=False,
    )


def check_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one connection-check line of stderr (exactly one), from its message on."""
    lines = [line for line in done.stderr.splitlines() if "Connection check" in line]
    assert len(lines) == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    return lines[0].split("Connection check", 1)[1]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_check_names_every_visible_account_then_runs_the_sdk_record_test(sandbox, tmp_path):
    done = check(sandbox.tap_config(), tmp_path)
    assert done.returncode == connection.EXIT_OK, done.stderr[-3000:]
    line = check_line(done)
    accounts = sandbox.truth("accounts")
    assert f": credential accepted, {len(accounts)} MindzPay accounts visible: " in line
    for account in accounts:
        assert f"{account['key']} ({account['name']})" in line
    assert '"type":"RECORD"' in done.stdout.replace(" ", "")


def test_wrong_secret_is_a_bad_client_id_or_secret_with_exit_3(sandbox, tmp_path):
    secret = "wrong-secret-value-1234"  # noqa: S105 - a deliberately wrong test value
    done = check(sandbox.tap_config(client_secret=secret), tmp_path)
    assert done.returncode == connection.EXIT_CREDENTIALS == 3
    line = check_line(done)
    assert " failed: bad client id or secret: " in line
    assert "HTTP 401, invalid_client" in line
    assert "client_id (APP_ID) and client_secret (API_KEY) under Configurações > API" in line
    assert secret not in done.stderr


def test_wrong_secret_in_sandbox_mode_names_the_settings_not_the_mindz_admin(tmp_path):
    secret = "wrong-secret-value-5678"  # noqa: S105 - a deliberately wrong test value
    done = check({"sandbox": True, "client_secret": secret}, tmp_path)
    assert done.returncode == connection.EXIT_CREDENTIALS
    line = check_line(done)
    assert " failed: bad client id or secret: " in line
    assert line.endswith(
        "the embedded sandbox (sandbox: true) takes its demo app only: unset client_id and "
        "client_secret"
    )
    assert "Mindz admin" not in done.stderr
    assert secret not in done.stderr


def test_unknown_client_id_is_a_bad_client_id_or_secret_with_exit_3(sandbox, tmp_path):
    done = check(sandbox.tap_config(client_id="someone-else"), tmp_path)
    assert done.returncode == connection.EXIT_CREDENTIALS
    assert "bad client id or secret: " in check_line(done)
    assert "refused client_id someone-else" in check_line(done)


def test_403_on_the_accounts_list_is_no_mindzpay_permission_with_exit_4(sandbox_factory, tmp_path):
    sandbox = sandbox_factory(seed=3, accounts=2, invoices_per_account=20)
    sandbox.admin("POST", "/_sandbox/faults", body={"forbidden_accounts": 1})
    done = check(sandbox.tap_config(), tmp_path)
    assert done.returncode == connection.EXIT_FORBIDDEN == 4
    line = check_line(done)
    assert " failed: no MindzPay permission: the credential was accepted, but " in line
    assert "GET /mindzpay/accounts answered HTTP 403 (forbidden: " in line
    assert "read permission on MindzPay under Configurações > API" in line
    assert sandbox.stats()["requests"]["GET /mindzpay/accounts"] == {"403": 1}


def test_closed_loopback_port_is_an_unreachable_host_with_exit_5(tmp_path):
    port = closed_port()
    config = {
        "api_url": f"http://127.0.0.1:{port}/api/v2",
        "client_id": "app",
        "client_secret": "key",
    }
    done = check(config, tmp_path)
    assert done.returncode == connection.EXIT_UNREACHABLE == 5
    line = check_line(done)
    assert f" failed: unreachable host: cannot connect to 127.0.0.1:{port} (" in line
    assert "Connection refused" in line
    assert "check api_url" in line


def test_https_to_a_plain_http_port_is_a_tls_error_with_exit_6(sandbox, tmp_path):
    url = sandbox.api_url.replace("http://", "https://")
    done = check(sandbox.tap_config(api_url=url), tmp_path)
    assert done.returncode == connection.EXIT_TLS == 6
    line = check_line(done)
    host = url.split("/")[2]
    assert f" failed: TLS error: the TLS handshake with {host} failed ([SSL" in line
    assert "check that api_url is the platform's https address" in line


def test_account_key_the_credential_cannot_see_exits_8_naming_it(sandbox, tmp_path):
    visible = sandbox.truth("accounts")[0]["key"]
    config = sandbox.tap_config(account_keys=[visible, "acc_not_there"])
    done = check(config, tmp_path)
    assert done.returncode == connection.EXIT_ACCOUNT_KEYS == 8
    line = check_line(done)
    assert "credential accepted, 3 MindzPay accounts visible" in line
    assert line.endswith("account_keys names accounts this credential cannot see: acc_not_there")


def test_a_url_that_is_not_the_mindzpay_api_is_an_unexpected_answer_with_exit_7(sandbox, tmp_path):
    done = check(sandbox.tap_config(api_url=sandbox.root + "/not-the-api"), tmp_path)
    assert done.returncode == connection.EXIT_UNEXPECTED == 7
    line = check_line(done)
    assert " failed: unexpected answer: MindzPay's token endpoint " in line
    assert "answered HTTP 404 (not_found: Unknown path); check api_url" in line


@MELTANO_WORKER
def test_meltano_invoke_test_reads_tap_mindzpay_env_and_keeps_the_exit_code(sandbox, tmp_path):
    require_plugins(("extractors", "tap-mindzpay"))
    good = IsolatedMeltano(tmp_path / "good", env=sandbox.tap_env())
    done = good.run("--environment=prod", "invoke", "tap-mindzpay", "--test", timeout=300)
    assert done.returncode == connection.EXIT_OK, done.stderr[-3000:]
    assert "Connection check: credential accepted, 3 MindzPay accounts visible" in done.stderr
    wrong = {**sandbox.tap_env(), "TAP_MINDZPAY_CLIENT_SECRET": "not-the-secret"}
    bad = IsolatedMeltano(tmp_path / "bad", env=wrong)
    done = bad.run("--environment=prod", "invoke", "tap-mindzpay", "--test", timeout=300)
    assert done.returncode == connection.EXIT_CREDENTIALS
    assert "Connection check failed: bad client id or secret: " in done.stderr
    assert "not-the-secret" not in done.stderr
