"""Error paths of a sync, with the tap and the sandbox as processes: what stops, what it says.

Each test switches one sandbox fault on, runs ``tap-mindzpay`` to the end and reads its exit
code, stdout and stderr: a refusal stops the run with one actionable message (the setting to
check, the permission to grant, the API's own error code and message) and no traceback; a
malformed record fails the run naming stream, record and field unless
``skip_malformed_records`` is set; nothing the tap writes carries the client_secret or a token,
even when the API echoes them back in an error body or URL.

Already proven elsewhere with processes (not repeated here): ``--test`` exit codes for a wrong
secret and a 403 (tests/ops/test_connection_check.py), the run summary of a 403 stop
(tests/ops/test_run_report.py), a bad config (tests/unit/test_settings.py).
"""

from __future__ import annotations

import json
import re
import socket
from typing import TYPE_CHECKING, Any

import pytest
from helpers import TRUTH_STREAMS, SandboxProcess, run_tap, run_tap_cli
from helpers.streams import ACCOUNT_STREAMS, MINDZPAY_STREAMS, STREAM_SCHEMAS

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from helpers import TapRun

pytestmark = pytest.mark.e2e

SECRET = "errpath-secret-Hq7Wz3"  # noqa: S105 - the sandbox's client_secret in these tests
REFRESH = "errpath-refresh-Pv2Kd8"


@pytest.fixture(scope="module")
def world() -> Iterator[SandboxProcess]:
    """One small sandbox with its own secret; each test sets its faults and clears them."""
    with SandboxProcess.start(
        seed=5,
        accounts=2,
        invoices_per_account=40,
        extra_args=("--client-secret", SECRET, "--refresh-token", REFRESH),
    ) as sandbox:
        yield sandbox


@pytest.fixture
def faults(world: SandboxProcess) -> Iterator[Any]:
    def switch(**rates: float) -> None:
        world.admin("POST", "/_sandbox/faults", body={"seed": 1, **rates})
        world.reset_stats()

    yield switch
    world.admin("POST", "/_sandbox/faults", body={})


def sync(world: SandboxProcess, tmp_path: Path, **settings: Any) -> TapRun:
    config = world.tap_config(client_secret=SECRET, **settings)
    return run_tap(config, workdir=tmp_path, timeout=120)


def errors(run: TapRun) -> list[str]:
    return [line for line in run.stderr.splitlines() if "| ERROR " in line]


def final_error(run: TapRun) -> str:
    """The tap's last word: the one-line message of the error that stopped it."""
    assert run.returncode != 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    # One line per event: the SDK's "An unhandled error occurred" would say it first.
    assert "An unhandled error occurred" not in run.stderr, run.stderr[-3000:]
    lines = errors(run)
    assert lines, run.stderr[-3000:]
    return lines[-1]


def stdout_text(run: TapRun) -> str:
    return (run.files["config"].parent / "stdout.jsonl").read_text(encoding="utf-8")


def assert_no_secret(world: SandboxProcess, run: TapRun) -> None:
    issued = world.admin("GET", "/_sandbox/tokens")
    secrets = [issued["client_secret"], *issued["access_tokens"], *issued["refresh_tokens"]]
    assert issued["access_tokens"], "no token was issued: the test proves nothing"
    stdout = stdout_text(run)
    for secret in secrets:
        assert secret not in run.stderr
        assert secret not in stdout


def test_401_that_persists_after_refreshes_stops_naming_the_credential_settings(
    world, faults, tmp_path
):
    faults(revoke_every_seconds=0.001)  # every token is revoked before it can be used
    run = sync(world, tmp_path)
    line = final_error(run)
    assert (
        "MindzPay rejected the access token again after 2 refreshes (HTTP 401, invalid_token"
        in (line)
    )
    assert "check the settings client_id, client_secret and refresh_token" in line
    assert world.stats()["requests"]["POST /oauth/token"] == {"200": 3}
    assert run.records() == []
    assert_no_secret(world, run)


def test_wrong_client_secret_stops_naming_the_settings_not_the_value(world, faults, tmp_path):
    faults()
    config = world.tap_config(client_secret="wrong-" + SECRET)
    run = run_tap(config, workdir=tmp_path, timeout=120)
    line = final_error(run)
    assert "MindzPay rejected the credentials at " in line
    assert "(HTTP 401, invalid_client: Unknown client); check the settings client_id and " in line
    assert "client_secret" in line
    assert SECRET not in run.stderr


def test_403_stops_naming_the_credential_and_the_permission(world, faults, tmp_path):
    faults(forbidden_accounts=1)
    run = sync(world, tmp_path)
    line = final_error(run)
    assert "MindzPay denied GET /mindzpay/accounts (stream accounts; HTTP 403, forbidden: " in line
    assert "give the API credential mindzpay-demo read permission on accounts" in line
    assert "under Configurações > API" in line
    assert run.records() == []
    assert_no_secret(world, run)


def test_403_on_one_account_stops_naming_that_account_and_the_remedy_works(world, faults, tmp_path):
    accounts = {a["id"]: a["key"] for a in world.truth("accounts")}
    faults(forbidden_account_id=2)  # no permission on account 2 only
    run = sync(world, tmp_path / "all")
    line = final_error(run)
    key = accounts[2]
    # Payments sync first in each account (invoices' refresh schedule reads what they saw).
    assert f"MindzPay denied GET /mindzpay/accounts/{key}/payments (stream payments, " in line
    assert f"account {key}; HTTP 403, forbidden: " in line
    assert "give the API credential mindzpay-demo read permission on payments" in line
    assert "or leave that account out with the setting account_keys" in line
    assert_no_secret(world, run)
    # The remedy the message names: leave that account out.
    rerun = sync(world, tmp_path / "without", account_keys=[accounts[1]]).check()
    assert {r["account_key"] for r in rerun.records("invoices")} == {accounts[1]}


def test_unexpected_4xx_stops_with_the_api_code_and_message_and_no_echoed_secret(
    world, faults, tmp_path
):
    faults(echo_secret=1)  # 400 whose message and url repeat the bearer token and the secret
    run = sync(world, tmp_path)
    line = final_error(run)
    assert "MindzPay answered GET /mindzpay/accounts with HTTP 400, bad_request: " in line
    assert "Request rejected for Authorization: Bearer *** (client mindzpay-demo, secret ***)" in (
        line
    )
    assert "client_secret=***&access_token=***" in line
    assert world.stats()["faults"]["echo_secret"] == 1
    assert_no_secret(world, run)


def test_an_error_body_quoting_a_cpf_and_an_email_stops_without_repeating_them(
    world, faults, tmp_path
):
    faults(echo_personal=1)  # 422 whose message quotes the first user's CPF/CNPJ and e-mail
    run = sync(world, tmp_path)
    line = final_error(run)
    assert "MindzPay answered GET /mindzpay/accounts with HTTP 422, invalid_request: " in line
    assert "Client *** (***) has an invalid document for this operation" in line
    first = min(world.truth("users"), key=lambda user: user["id"])
    for personal in (first["cpf_cnpj"], first["email"]):
        assert personal not in run.stderr
    assert world.stats()["faults"]["echo_personal"] == 1


def test_a_redirect_of_the_token_call_stops_with_one_line_and_is_not_followed(
    world, faults, tmp_path
):
    faults(token_redirect=1)  # 307 to http://elsewhere.invalid/oauth/token
    run = sync(world, tmp_path)
    line = final_error(run)
    assert (
        "oauth/token answered HTTP 307 (a redirect), which the tap does not follow: it would "
        "send the client secret on; set token_url to the address that answers"
    ) in line
    # Followed, the grant would have gone to elsewhere.invalid and failed to connect, retried.
    assert "elsewhere.invalid" not in run.stderr
    assert world.stats()["requests"]["POST /oauth/token"] == {"307": 1}
    assert SECRET not in run.stderr


def test_record_with_an_id_of_the_wrong_type_fails_naming_stream_and_record(
    world, faults, tmp_path
):
    faults(malformed=1, malformed_kind=1)  # "id": "#123" in one record of every page
    for skip in (False, True):
        run = sync(world, tmp_path / str(skip), skip_malformed_records=skip)
        line = final_error(run)
        # An id-less record cannot be keyed, deduplicated or paged past: never skipped.
        assert re.search(r"stream accounts: a record has no integer id: \{'id': '#\d+'", line)


def test_record_with_a_bad_amount_fails_naming_stream_record_and_field(world, faults, tmp_path):
    faults(malformed=1, malformed_kind=4)  # "amount": "12,50"
    run = sync(world, tmp_path)
    line = final_error(run)
    assert re.search(
        r"stream (invoices|payments|subscriptions), record id \d+, field amount: "
        r"'\d+,\d\d' is not a decimal amount \(set skip_malformed_records",
        line,
    ), line


def test_skip_malformed_records_warns_and_skips_exactly_the_broken_records(world, faults, tmp_path):
    faults(malformed=1, malformed_kind=4)
    run = sync(world, tmp_path, skip_malformed_records=True)
    assert run.returncode == 0, run.stderr[-3000:]
    skipped = re.findall(
        r"Skipping malformed record: stream (\w+), record id (\d+), field amount", run.stderr
    )
    broken = world.stats()["faults"]["malformed_wrong_amount"]
    assert skipped
    assert len(skipped) == broken
    for stream in ACCOUNT_STREAMS:
        missed = {int(i) for s, i in skipped if s == stream}
        emitted = {r["id"] for r in run.records(stream)}
        truth = {r["id"] for r in world.truth(stream)}
        assert emitted == truth - missed, stream
        assert not missed & emitted


def test_record_missing_created_at_fails_naming_stream_record_and_field(world, faults, tmp_path):
    faults(malformed=1, malformed_kind=2)
    run = sync(world, tmp_path)
    line = final_error(run)
    assert re.search(r"stream \w+, record id \d+, field created_at", line)


def test_unknown_new_field_is_dropped_with_one_warning_per_stream(world, faults, tmp_path):
    faults(malformed=1, malformed_kind=3)  # "nfse_series": "A1" in one record of every page
    run = sync(world, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    warned = re.findall(
        r"Properties \['nfse_series'\] were present in the '(\w+)' stream but not found in the "
        r"schema; dropped",
        run.stderr,
    )
    # Every listed stream with a record to break; those with arrays are the SDK's (below).
    listed = {s for s in STREAM_SCHEMAS if s in TRUTH_STREAMS and world.truth(s)}
    arrays = {
        s
        for s in listed
        if any("array" in str(p.get("type")) for p in STREAM_SCHEMAS[s]["properties"].values())
    }
    assert sorted(warned) == sorted(listed - arrays)
    # Streams with array properties keep the SDK's type conformance, and its own warning.
    warned_by_sdk = re.findall(
        r"Properties \('nfse_series',\) were present in the '(\w+)' stream but not found in "
        r"catalog schema\. Ignoring\.",
        run.stderr,
    )
    assert sorted(warned_by_sdk) == sorted(arrays) == ["bundles", "courses", "plans"]
    assert world.stats()["faults"]["malformed_new_field"] > len(warned) + len(warned_by_sdk)
    assert all("nfse_series" not in record for record in run.records())
    assert len(run.records("invoices")) == len(world.truth("invoices"))


def test_about_and_discover_print_no_secret(world, tmp_path):
    config = world.tap_config(client_secret=SECRET, refresh_token=REFRESH)
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    for flags in (["--about", "--format=json"], ["--discover"]):
        done = run_tap_cli("--config", "config.json", *flags, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        assert json.loads(done.stdout), "nothing printed: the test proves nothing"
        for secret in (SECRET, REFRESH):
            assert secret not in done.stdout
            assert secret not in done.stderr


def test_a_successful_test_flag_prints_no_error_line(world, faults, tmp_path):
    faults()
    config = world.tap_config(client_secret=SECRET)
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    done = run_tap_cli("--config", "config.json", "--test", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Connection check: credential accepted, 2 MindzPay accounts visible" in done.stderr
    # The SDK's one-record test stopped every stream at its limit: that is success, not an error.
    assert "| ERROR " not in done.stderr, done.stderr[-3000:]
    assert "An unhandled error occurred" not in done.stderr
    streams = {
        json.loads(line)["stream"] for line in done.stdout.splitlines() if '"RECORD"' in line
    }
    assert streams >= set(MINDZPAY_STREAMS)


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_sync_that_cannot_connect_at_all_stops_at_once_naming_the_host(tmp_path):
    port = _closed_port()
    config = {
        "api_url": f"http://127.0.0.1:{port}/api/v2",
        "client_id": "someone",
        "client_secret": SECRET,
        "max_retries": 8,  # the default: retried, these waits would add up to about a minute
    }
    run = run_tap(config, workdir=tmp_path, timeout=120)
    line = final_error(run)
    assert (
        f"cannot connect to http://127.0.0.1:{port} (connection refused) at its first request "
        "of the run; check the setting api_url" in line
    )
    assert "retry" not in run.stderr.lower().replace("is retried instead", "")
    assert run.records() == []
    assert SECRET not in run.stderr


def test_connection_resets_mid_run_are_still_retried(world, faults, tmp_path):
    faults(reset=0.2)  # the server accepts, then drops the connection without an answer
    run = sync(world, tmp_path, max_retries=20, page_size=5)
    assert run.returncode == 0, run.stderr[-3000:]
    resets = world.stats()["faults"]["reset"]
    assert resets > 5, "too few resets: the test proves nothing"
    retried = re.findall(
        r"ConnectionError; retry \d+/20|Token request failed \(ConnectionError\)", run.stderr
    )
    assert len(retried) == resets
    assert len(run.records("invoices")) == len(world.truth("invoices"))
