"""A new world's history: a year of accounts, sales and subscriptions drawn from one seed.

Accounts open a day apart; their invoices (each with the payment it bills) and subscriptions
are interleaved over the year so ids grow with `created_at` across the platform. Then some
in-flight invoices get a provider decision not yet visible, the boletos are settled by their
fate (an unpaid one's invoice waits at 0), and the platform's enrollments follow the sales.
The Mindz platform draws from its own seed first, so the MindzPay draws stay as they were.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import TYPE_CHECKING

from tap_mindzpay.sandbox import data
from tap_mindzpay.sandbox.clock import boleto_expiry, boleto_paid_at, outcome
from tap_mindzpay.sandbox.data import EPOCH, RECENT, ts

if TYPE_CHECKING:
    from tap_mindzpay.sandbox.world import World


def generate(world: World) -> None:
    """Draw a new world's year of history from its config's seed (the same seed, the same world)."""
    world.platform.generate()  # its own seeded draws: the MindzPay ones stay as they were
    rng = random.Random(world.config.seed)
    cfg = world.config
    subs = cfg.subscriptions_per_account or max(1, cfg.invoices_per_account // 8)
    start = EPOCH - timedelta(days=365)
    for index in range(cfg.accounts):
        account = data.new_account(rng, index + 1, start + timedelta(days=index))
        world.insert("accounts", account, "all")
        world.next_id["accounts"] = index + 2
    keys = [a["key"] for a in world.records["accounts"].values()]
    span = (EPOCH - start).total_seconds()
    # Interleave the accounts' histories so ids grow with created_at across the platform.
    moments = sorted(
        (rng.random() * span, i % cfg.accounts)
        for i in range(cfg.invoices_per_account * cfg.accounts)
    )
    for offset, account_index in moments:
        created = start + timedelta(seconds=offset)
        recent = created >= EPOCH - RECENT
        status = data.weighted_status(rng, recent=recent)
        world.create_invoice(rng, keys[account_index], created, status)
    sub_moments = sorted(
        (rng.random() * span, i % cfg.accounts) for i in range(subs * cfg.accounts)
    )
    for offset, account_index in sub_moments:
        world.create_subscription(rng, account_index + 1, start + timedelta(seconds=offset))
    for invoice_id, record in world.records["invoices"].items():
        if record["status"] in {1, 4} and rng.random() < 0.5:  # noqa: PLR2004
            world.hidden[invoice_id] = outcome(rng, record["status"])
    _boleto_history(world)
    world.platform.generate_enrollments()
    world.school.generate()  # its own seeded draws, after the users and courses it links to


def _boleto_history(world: World) -> None:
    """Settle the generated boletos by their fate; an unpaid one's invoice waits at 0."""
    payments = world.records["payments"]
    for invoice in world.records["invoices"].values():
        payment = payments[invoice["payment_id"]]
        if payment["method"] != "boleto":
            continue
        paid = boleto_paid_at(world.config.seed, payment)
        if paid is not None and paid <= world.now:
            if payment["status"] == "pending":
                payment.update(status="paid", paid_at=ts(paid), updated_at=ts(paid))
                world.touch("payments", payment["id"])
            continue
        expiry = boleto_expiry(payment)
        if paid is None and expiry <= world.now:
            payment.update(status="canceled", paid_at=None, updated_at=ts(expiry))
        else:
            payment.update(status="pending", paid_at=None, updated_at=payment["created_at"])
        world.touch("payments", payment["id"])
        if invoice["status"] != 7:  # noqa: PLR2004 - "Nao emitir" never waits
            invoice.update(status=0, nfe_id=None, file_url=None, issued_at=None)
            invoice.update(canceled_at=None, updated_at=invoice["created_at"])
            world.hidden.pop(invoice["id"], None)
            world.touch("invoices", invoice["id"])
