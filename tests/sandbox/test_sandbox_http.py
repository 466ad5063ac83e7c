"""The sandbox over HTTP, as a process: the contract, the clock, faults and persistence."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

import pytest
import requests
from helpers import SandboxProcess
from helpers.sandbox import SandboxError, sandbox_command

from tap_mindzpay.sandbox import world
from tap_mindzpay.sandbox.faults import Faults

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e
DEMO = {"client_id": "mindzpay-demo", "client_secret": "mindzpay-demo-secret"}


def _session(sandbox: SandboxProcess) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    token = session.post(
        f"{sandbox.api_url}/oauth/token",
        data={"grant_type": "client_credentials", **DEMO},
        timeout=10,
    )
    assert token.status_code == 200, token.text
    session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return session


def _accounts(session: requests.Session, sandbox: SandboxProcess) -> list[dict]:
    return session.get(f"{sandbox.api_url}/mindzpay/accounts").json()["data"]


def test_token_grants_rotate_refresh_token_and_reject_bad_client(fresh_sandbox):
    url = f"{fresh_sandbox.api_url}/oauth/token"
    bad = requests.post(
        url, data={"grant_type": "client_credentials", "client_id": "x"}, timeout=10
    )
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_client"
    first = requests.post(
        url,
        data={"grant_type": "refresh_token", "refresh_token": "mindzpay-demo-refresh", **DEMO},
        timeout=10,
    )
    assert first.status_code == 200
    rotated = first.json()["refresh_token"]
    assert rotated != "mindzpay-demo-refresh"
    reused = requests.post(
        url,
        data={"grant_type": "refresh_token", "refresh_token": "mindzpay-demo-refresh", **DEMO},
        timeout=10,
    )
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    again = requests.post(
        url,
        data={"grant_type": "refresh_token", "refresh_token": rotated, **DEMO},
        timeout=10,
    )
    assert again.status_code == 200


def test_expired_and_revoked_tokens_get_401_with_error_codes(sandbox_factory):
    sandbox = sandbox_factory(invoices_per_account=20, extra_args=("--token-ttl", "1"))
    session = _session(sandbox)
    assert session.get(f"{sandbox.api_url}/mindzpay/accounts").status_code == 200
    time.sleep(1.2)
    expired = session.get(f"{sandbox.api_url}/mindzpay/accounts")
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "token_expired"
    session = _session(sandbox)
    sandbox.admin("POST", "/_sandbox/revoke")
    revoked = session.get(f"{sandbox.api_url}/mindzpay/accounts")
    assert revoked.status_code == 401
    assert revoked.json()["error"]["code"] == "invalid_token"


def test_list_paging_sorting_search_and_errors_follow_the_contract(sandbox):
    session = _session(sandbox)
    key = _accounts(session, sandbox)[0]["key"]
    url = f"{sandbox.api_url}/mindzpay/accounts/{key}/invoices"
    page = session.get(url, params={"limit": 7, "offset": 3})
    body = page.json()
    assert body["meta"] == {"total": 300, "limit": 7, "offset": 3}
    ids = [r["id"] for r in body["data"]]
    assert ids == sorted(ids)
    assert len(ids) == 7
    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(page.headers)
    desc = session.get(url, params={"sort_by": "amount", "sort_direction": "desc", "limit": 100})
    amounts = [float(r["amount"]) for r in desc.json()["data"]]
    assert amounts == sorted(amounts, reverse=True)
    assert session.get(url).json()["meta"]["limit"] == 50
    assert session.get(url, params={"limit": 101}).status_code == 422
    assert session.get(url, params={"sort_by": "updated_at"}).status_code == 422
    one = body["data"][0]
    found = session.get(url, params={"search": one["amount"]}).json()["data"]
    assert one["id"] in [r["id"] for r in found]
    missing = session.get(f"{url}/999999999")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "not_found", "message": "Invoice not found"}}
    assert session.get(f"{sandbox.api_url}/mindzpay/accounts/nope/invoices").status_code == 404


def test_rate_limit_answers_429_with_retry_after(sandbox_factory):
    sandbox = sandbox_factory(
        invoices_per_account=20, extra_args=("--rate-limit", "5", "--rate-window", "30")
    )
    session = _session(sandbox)
    codes = [session.get(f"{sandbox.api_url}/mindzpay/accounts") for _ in range(7)]
    assert [r.status_code for r in codes] == [200] * 5 + [429] * 2
    assert codes[4].headers["X-RateLimit-Remaining"] == "0"
    assert int(codes[5].headers["Retry-After"]) >= 1


def test_refresh_reveals_provider_decision_that_get_does_not(fresh_sandbox):
    session = _session(fresh_sandbox)
    fresh_sandbox.advance(6 * 3600)
    truth = {r["id"]: r for r in fresh_sandbox.truth("invoices")}
    accounts = {a["key"] for a in _accounts(session, fresh_sandbox)}
    hidden = []
    for key in sorted(accounts):
        url = f"{fresh_sandbox.api_url}/mindzpay/accounts/{key}/invoices"
        for offset in range(0, 1000, 100):
            page = session.get(url, params={"limit": 100, "offset": offset}).json()["data"]
            hidden.extend(r for r in page if r["status"] != truth[r["id"]]["status"])
    assert hidden, "after six hours some provider decisions must be waiting for a refresh"
    record = hidden[0]
    base = f"{fresh_sandbox.api_url}/mindzpay/accounts/{record['account_key']}/invoices"
    assert session.get(f"{base}/{record['id']}").json()["status"] == record["status"]
    refreshed = session.post(f"{base}/{record['id']}/refresh").json()
    assert refreshed["status"] == truth[record["id"]]["status"]
    assert refreshed["status"] in {2, 3, 5, 6, 8}
    assert session.get(f"{base}/{record['id']}").json()["status"] == refreshed["status"]
    log = fresh_sandbox.stats()["refreshes"]
    assert log == [
        {
            "account_key": record["account_key"],
            "invoice_id": record["id"],
            "status_before": record["status"],
        }
    ]
    totals = fresh_sandbox.totals()
    assert totals["total_requests"] == fresh_sandbox.stats()["total_requests"] > 1
    assert totals["refreshes"] == 1
    assert totals["refreshes_seconds"] == 0  # one Refresh: no span
    assert totals["requests_seconds"] > 0


def test_advancing_the_clock_applies_every_kind_of_event(fresh_sandbox):
    before = {s: len(fresh_sandbox.truth(s)) for s in ("invoices", "subscriptions")}
    applied = Counter()
    for _ in range(4):
        applied.update(fresh_sandbox.advance(3600)["applied"])
    for kind in (
        "new_invoice",
        "handed_to_provider",
        "provider_decides",
        "merchant_cancel",
        "merchant_reissue",
        "merchant_edit",
        "support_delete",
        "payment_settles",
        "subscription_moves",
    ):
        assert applied[kind] > 0, kind
    after = {s: len(fresh_sandbox.truth(s)) for s in ("invoices", "subscriptions")}
    assert (
        after["invoices"] == before["invoices"] + applied["new_invoice"] - applied["support_delete"]
    )
    assert len(fresh_sandbox.deleted()) == applied["support_delete"]
    kinds = Counter(t["kind"] for t in fresh_sandbox.transitions())
    assert kinds["merchant"] == applied["merchant_cancel"] + applied["merchant_reissue"]


def test_same_seed_gives_the_same_world_in_two_processes(sandbox_factory):
    one = sandbox_factory(seed=5, invoices_per_account=50)
    two = sandbox_factory(seed=5, invoices_per_account=50)
    one.advance(7200)
    two.advance(7200)
    for stream in world.STREAMS:
        assert one.truth(stream) == two.truth(stream)


def test_world_survives_restart_and_catch_up_moves_it_on(tmp_path: Path):
    db = tmp_path / "world.sqlite"
    args = ("--db", str(db), "--invoices-per-account", "40", "--accounts", "2")
    with SandboxProcess.start(extra_args=args) as first:
        first.advance(3 * 3600)
        truth = first.truth("invoices")
        clock = first.admin("GET", "/_sandbox/health")["clock"]
    with SandboxProcess.start(extra_args=args) as second:
        assert second.truth("invoices") == truth
        assert second.admin("GET", "/_sandbox/health")["clock"] == clock
    time.sleep(1.1)
    with SandboxProcess.start(
        frozen=False, extra_args=(*args, "--catch-up", "--speed", "3600")
    ) as third:
        assert third.admin("GET", "/_sandbox/health")["clock"] > clock


def test_faults_are_injected_and_counted(sandbox_factory):
    sandbox = sandbox_factory(invoices_per_account=100)
    session = _session(sandbox)
    sandbox.admin(
        "POST",
        "/_sandbox/faults",
        body={"seed": 3, "http_5xx": 0.3, "http_429": 0.2, "truncated": 0.2},
    )
    url = f"{sandbox.api_url}/mindzpay/accounts/1/subscriptions"
    codes = Counter()
    broken = 0
    for _ in range(60):
        try:
            response = session.get(url)
        except requests.ConnectionError:
            codes["reset"] += 1
            continue
        codes[response.status_code] += 1
        if response.status_code == 200:
            try:
                response.json()
            except requests.JSONDecodeError:
                broken += 1
    faults = sandbox.stats()["faults"]
    assert codes[429] == faults["http_429"] > 0
    assert sum(codes[c] for c in (500, 502, 503)) == faults["http_5xx"] > 0
    assert broken == faults["truncated"] > 0


def test_bad_fault_config_is_rejected_with_422(sandbox):
    with pytest.raises(SandboxError, match="422"):
        sandbox.admin("POST", "/_sandbox/faults", body={"http_5xx": 2})


def test_sigterm_stops_the_sandbox_cleanly(tmp_path: Path):
    process = subprocess.Popen(
        [
            *sandbox_command(),
            "--port",
            "0",
            "--invoices-per-account",
            "10",
            "--db",
            str(tmp_path / "w.db"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().startswith("http://127.0.0.1:")
    process.terminate()
    assert process.wait(timeout=20) == 0
    process.stdout.close()
    assert (tmp_path / "w.db").stat().st_size > 0


def test_platform_difference_switches_refuse_poison_and_send_an_epoch_reset(sandbox_factory):
    sandbox = sandbox_factory(invoices_per_account=20)
    session = _session(sandbox)
    base = sandbox.api_url
    account = session.get(f"{base}/mindzpay/accounts").json()["data"][0]["key"]
    invoice = session.get(f"{base}/mindzpay/accounts/{account}/invoices").json()["data"][0]["id"]
    switches = {"reset_header_epoch": 1, "forbidden_resources": "users, plans"}
    sandbox.admin("POST", "/_sandbox/faults", body={**switches, "poison_invoices": [invoice]})
    for path in ("/users", "/users/1", "/plans"):
        refused = session.get(f"{base}{path}")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
    assert session.get(f"{base}/courses").status_code == 200
    invoice_path = f"{base}/mindzpay/accounts/{account}/invoices/{invoice}"
    assert session.get(invoice_path).status_code == 500
    assert session.post(f"{invoice_path}/refresh").status_code == 500
    listed = session.get(f"{base}/mindzpay/accounts/{account}/invoices")
    assert invoice in [r["id"] for r in listed.json()["data"]]
    # The reset is the Unix time of the window's end, by the clock of the answer's Date.
    date = parsedate_to_datetime(listed.headers["Date"]).timestamp()
    assert 0 <= int(listed.headers["X-RateLimit-Reset"]) - date <= 60
    assert sandbox.stats()["faults"] == {"forbidden_resources": 3, "poison_invoices": 2}


@pytest.mark.parametrize("value", [3, {"users": 1}, [["users"]]])
def test_a_list_switch_that_is_not_a_comma_list_is_rejected_with_422(sandbox, value):
    with pytest.raises(SandboxError, match="422"):
        sandbox.admin("POST", "/_sandbox/faults", body={"forbidden_resources": value})


def test_max_in_flight_refuses_a_request_while_that_many_are_served_with_a_429():
    faults = Faults()
    faults.configure({"max_in_flight": 2, "retry_after": 3})
    assert faults.admit()
    assert faults.admit()
    assert not faults.admit()
    refused = faults.busy()
    assert (refused.status, refused.headers["Retry-After"]) == (429, "3")
    faults.leave()
    assert faults.admit()
    assert faults.injected == {"max_in_flight": 1}
    faults.configure({})
    assert all(faults.admit() for _ in range(10))
