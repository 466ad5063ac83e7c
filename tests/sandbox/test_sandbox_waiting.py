"""Invoices that wait for their boleto, and the switch that adds undeclared properties, over HTTP.

The sandbox runs as a process with a frozen clock; the test moves it a day at a time and, like a
client, refreshes every invoice it saw waiting. A boleto that gets paid hands its invoice to the
provider (0 -> 1), which only a Refresh shows; an unpaid one expires and its invoice stays at 0.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from helpers import SandboxProcess
from sandbox_api import Api

from tap_mindzpay.sandbox.platform import PLATFORM_STREAMS

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.e2e
DAY = 86400
WAS_PAID = frozenset({"paid", "refunded", "chargeback"})  # a paid payment may be reversed later


def _waiting(api: Api) -> dict[int, dict[str, Any]]:
    """Invoices at 0 whose payment is a pending boleto, by id, as the API lists them."""
    found = {}
    for account in api.every("/mindzpay/accounts"):
        key = account["key"]
        payments = {p["id"]: p for p in api.every(f"/mindzpay/accounts/{key}/payments")}
        for invoice in api.every(f"/mindzpay/accounts/{key}/invoices"):
            payment = payments[invoice["payment_id"]]
            if invoice["status"] == 0 and (payment["method"], payment["status"]) == (
                "boleto",
                "pending",
            ):
                found[invoice["id"]] = invoice
    return found


@pytest.fixture(scope="module")
def waiting_story() -> Iterator[dict[str, Any]]:
    """Eight simulated days of refreshing every invoice that was waiting for a boleto."""
    sandbox = SandboxProcess.start(seed=11, accounts=1, invoices_per_account=300)
    try:
        api = Api(sandbox)
        sandbox.advance(DAY)  # a day of sales: fresh boletos, none of them due yet
        waiting = _waiting(api)
        story: dict[str, Any] = {
            "waiting": waiting,
            "unchanged_refreshes": Counter(),  # invoice id -> refreshes that changed nothing
            "seen_hidden": set(),  # Get said 0 while the truth already said 1
            "reached": {},  # invoice id -> status its first changing refresh returned
            "deleted": set(),
        }
        for _ in range(9):
            truth = {r["id"]: r for r in sandbox.truth("invoices")}
            for invoice_id, first in waiting.items():
                if invoice_id in story["reached"] or invoice_id in story["deleted"]:
                    continue
                base = f"/mindzpay/accounts/{first['account_key']}/invoices/{invoice_id}"
                status, before = api.call("GET", base)
                if status == 404:
                    story["deleted"].add(invoice_id)
                    continue
                if before["status"] == 0 and truth[invoice_id]["status"] == 1:
                    story["seen_hidden"].add(invoice_id)
                _, after = api.refresh(first["account_key"], invoice_id)
                if after == before:
                    story["unchanged_refreshes"][invoice_id] += 1
                else:
                    story["reached"][invoice_id] = after["status"]
            sandbox.advance(DAY)
        story["payments"] = {
            p["id"]: p
            for p in sandbox.truth("payments")
            if p["id"] in {w["payment_id"] for w in waiting.values()}
        }
        story["invoices"] = {r["id"]: r for r in sandbox.truth("invoices")}
        story["transitions"] = sandbox.transitions()
        yield story
    finally:
        sandbox.stop()


def test_paid_boletos_hand_their_invoice_to_the_provider_seen_only_through_refresh(waiting_story):
    waiting, payments = waiting_story["waiting"], waiting_story["payments"]
    assert len(waiting) >= 25, "a day of sales leaves dozens of invoices waiting for boletos"
    paid = [i for i, inv in waiting.items() if payments[inv["payment_id"]]["status"] in WAS_PAID]
    assert paid, "most boletos get paid"
    for invoice_id in paid:
        if invoice_id in waiting_story["deleted"]:
            continue
        assert waiting_story["reached"].get(invoice_id) == 1, invoice_id
        # Before it was paid, refreshing it changed nothing.
        assert waiting_story["unchanged_refreshes"][invoice_id] >= 1, invoice_id
    assert waiting_story["seen_hidden"] & set(paid), "a plain Get keeps showing 0 after payment"
    handed = {
        t["invoice_id"]
        for t in waiting_story["transitions"]
        if (t["from_status"], t["to_status"]) == (0, 1)
    }
    assert set(waiting_story["reached"]) <= handed


def test_unpaid_boletos_expire_and_their_invoices_stay_at_zero_through_every_refresh(
    waiting_story,
):
    waiting, payments = waiting_story["waiting"], waiting_story["payments"]
    unpaid = [
        i for i, inv in waiting.items() if payments[inv["payment_id"]]["status"] not in WAS_PAID
    ]
    assert {payments[waiting[i]["payment_id"]]["status"] for i in unpaid} == {"canceled"}, (
        "eight days after the sale every unpaid boleto has expired"
    )
    share = len(unpaid) / len(waiting)
    assert 0.15 <= share <= 0.55, f"about a third of boletos are never paid, got {share:.2f}"
    for invoice_id in unpaid:
        if invoice_id in waiting_story["deleted"]:
            continue
        assert invoice_id not in waiting_story["reached"], "no refresh ever changed it"
        assert waiting_story["invoices"][invoice_id]["status"] == 0
        assert waiting_story["unchanged_refreshes"][invoice_id] >= 8, invoice_id


def test_a_new_world_already_holds_invoices_waiting_for_expired_boletos(sandbox):
    api = Api(sandbox)
    payments = {p["id"]: p for p in api.truth("payments")}
    boletos = [p for p in payments.values() if p["method"] == "boleto"]
    expired = [p for p in boletos if p["status"] == "canceled"]
    assert 0.2 <= len(expired) / len(boletos) <= 0.5
    stuck = [
        i
        for i in api.truth("invoices")
        if i["status"] == 0 and payments[i["payment_id"]] in expired
    ]
    # Most expired boletos are never-paid ones, whose invoices wait (a few are "Nao emitir", 7).
    assert len(stuck) >= 0.7 * len(expired)
    one = stuck[0]
    _, refreshed = api.refresh(one["account_key"], one["id"])
    assert refreshed == one


@pytest.mark.parametrize("how", ["fault switch", "command line"])
def test_undeclared_properties_switch_adds_stable_keys_to_every_record(sandbox_factory, how):
    extra_args = ("--undeclared-properties",) if how == "command line" else ()
    sandbox = sandbox_factory(invoices_per_account=40, extra_args=extra_args)
    api = Api(sandbox)
    key = api.get("/mindzpay/accounts")["data"][0]["key"]
    paths = {
        "accounts": "/mindzpay/accounts",
        "invoices": f"/mindzpay/accounts/{key}/invoices",
        "payments": f"/mindzpay/accounts/{key}/payments",
        "subscriptions": "/mindzpay/accounts/1/subscriptions",
        **{stream: f"/{stream}" for stream in PLATFORM_STREAMS},
    }

    def lists() -> dict[str, list[dict[str, Any]]]:
        return {stream: api.every(path) for stream, path in paths.items()}

    if how == "fault switch":
        plain = lists()
        for stream, rows in plain.items():
            declared = {r["id"]: r for r in api.truth(stream)}
            assert all(r == declared[r["id"]] for r in rows), f"{stream}: off by default"
        sandbox.admin("POST", "/_sandbox/faults", body={"undeclared_properties": 1})
    else:
        sandbox.admin("POST", "/_sandbox/faults", body={"seed": 1})  # faults do not turn it off
    with_extra = lists()
    for stream, rows in with_extra.items():
        declared = {r["id"]: r for r in api.truth(stream)}
        described = {r["id"]: r for r in api.truth(stream, undeclared=1)}
        assert rows, stream
        for row in rows:
            extra = set(row) - set(declared[row["id"]])
            assert len(extra) >= 5, (stream, extra)
            assert {k: row[k] for k in declared[row["id"]]} == declared[row["id"]]
            assert row == described[row["id"]], "the truth says what they are"
            assert any(isinstance(row[k], dict) for k in extra)
            assert any(isinstance(row[k], list) for k in extra)
        one = rows[-1]
        assert api.get(f"{paths[stream]}/{one['id']}") == one, "Get carries the same keys"
    assert lists() == with_extra, "stable per record"
    if how == "fault switch":
        sandbox.admin("POST", "/_sandbox/faults", body={})
        assert lists() == plain


@pytest.mark.parametrize("never_expire", [True, False], ids=["never expire", "expire"])
def test_boletos_long_past_due_stay_pending_only_while_the_switch_says_they_never_expire(
    sandbox_factory, never_expire
):
    faults = json.dumps({"boletos_never_expire": 1} if never_expire else {})
    sandbox = sandbox_factory(
        seed=5, accounts=1, invoices_per_account=300, extra_args=("--faults", faults)
    )
    api = Api(sandbox)
    sandbox.advance(DAY)  # a day of sales: fresh boletos, none of them due yet
    made = sandbox.admin("POST", "/_sandbox/waiting", params={"count": 10, "overdue_days": 90})
    assert made == {"waiting": 10}
    today = date.fromisoformat(sandbox.admin("GET", "/_sandbox/health")["clock"][:10])
    payments = {p["id"]: p for p in api.truth("payments")}
    waiting = [
        i
        for i in api.truth("invoices")
        if i["status"] == 0
        and payments[i["payment_id"]]["status"] == "pending"
        and payments[i["payment_id"]]["method"] == "boleto"
    ]
    overdue = [
        i
        for i in waiting
        if date.fromisoformat(payments[i["payment_id"]]["due_date"]) <= today - timedelta(days=90)
    ]
    assert len(overdue) == 10
    for invoice in overdue:
        payment = payments[invoice["payment_id"]]
        # As the sale left them: nothing about them changed since.
        assert payment["updated_at"] == payment["created_at"]
        assert invoice["updated_at"] == invoice["created_at"]
    fresh = {
        i for i, p in payments.items() if p["method"] == "boleto" and p["status"] == "pending"
    } - {i["payment_id"] for i in overdue}
    sandbox.advance(8 * DAY)  # past any fresh boleto's expiry (due in 3 days, then 4 more)
    after = {p["id"]: p for p in api.truth("payments")}
    statuses = {after[i["payment_id"]]["status"] for i in overdue}
    assert statuses == ({"pending"} if never_expire else {"canceled"})
    invoices = {i["id"]: i for i in api.truth("invoices")}
    for invoice in overdue:
        if invoice["id"] in invoices:  # support may delete one
            assert invoices[invoice["id"]]["status"] == 0
            _, refreshed = api.refresh(invoice["account_key"], invoice["id"])
            assert refreshed == invoices[invoice["id"]]
    never_paid = [i for i in fresh if after[i]["status"] not in WAS_PAID]
    assert never_paid, "the world had fresh boletos that are never paid"
    assert {after[i]["status"] for i in never_paid} == (
        {"pending"} if never_expire else {"canceled"}
    )
