"""The lifecycle clock: what moves the sandbox world forward in simulated time.

`Lifecycle` applies the world's events in steps of about a minute, each step drawn from a
`random.Random` seeded by the world's seed and the step number, so the same seed and the same
advances give the same world. Per account it creates sales, hands paid invoices to the fiscal
provider, lets the provider decide (hidden until Refresh), lets merchants cancel, reissue and edit
and support delete, settles and reverses payments (a boleto by its fate: paid when, or never) and
moves subscriptions; the platform's moves (`platform.py`) follow in the same step.
`RunningClock` lets the world catch up with wall time x speed while the server runs.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from tap_mindzpay.sandbox import data
from tap_mindzpay.sandbox.data import BRT, Record, events, pick, ts

if TYPE_CHECKING:
    from collections.abc import Callable

    from tap_mindzpay.sandbox.world import World

STEP_SECONDS = 60.0
MAX_STEPS_PER_ADVANCE = 2000
# Events per simulated hour and account (or per in-flight invoice where noted).
RATES = {
    "new_invoice": 12.0,
    "new_subscription": 1.0,
    "handed_to_provider": 0.5,  # per invoice in 0
    "provider_decides": 0.6,  # per invoice in 1 or 4 without a decision
    "merchant_cancel": 2.0,
    "merchant_reissue": 1.5,
    "merchant_edit": 1.0,
    "support_delete": 0.5,
    "payment_settles": 1.0,  # per pending payment
    "payment_reverses": 0.5,
    "subscription_moves": 1.5,
}
UNPAID_BOLETO_SHARE = 1 / 3
BOLETO_EXPIRES_AFTER_DUE = timedelta(days=4)  # midnight starting the 4th day after due_date
CLEARED = "paid"


def outcome(rng: random.Random, status: int) -> int:
    """The fiscal provider's decision for an invoice in 1 (issue) or 4 (cancel)."""
    if status == 1:
        return rng.choices([2, 8, 3], weights=[60, 25, 15])[0]
    return rng.choices([5, 6], weights=[85, 15])[0]


def boleto_paid_at(seed: int, payment: Record) -> datetime | None:
    """When a boleto is paid, or None: never (a third of them). Fixed per payment id."""
    digest = hashlib.blake2b(f"{seed}:boleto:{payment['id']}".encode()).digest()
    never, delay = (int.from_bytes(digest[i : i + 4], "big") / 2**32 for i in (0, 4))
    if never < UNPAID_BOLETO_SHARE:
        return None
    created = datetime.fromisoformat(payment["created_at"]).astimezone(BRT)
    return created + timedelta(hours=20 + 100 * delay)


def boleto_expiry(payment: Record) -> datetime:
    """When an unpaid boleto expires (its payment becomes `canceled`)."""
    due = datetime.fromisoformat(payment["due_date"]).replace(tzinfo=BRT)
    return due + BOLETO_EXPIRES_AFTER_DUE


class Lifecycle:
    """The moves of one world's MindzPay records, step by step (the platform's follow)."""

    def __init__(self, world: World) -> None:
        """Move `world`; boleto fates are cached here as pending boletos are met."""
        self.world = world
        self._fates: dict[int, datetime | None] = {}  # pending boletos' `boleto_paid_at`

    def advance(self, seconds: float) -> dict[str, int]:
        """Move simulated time forward, applying events in steps (deterministic per step)."""
        applied: dict[str, int] = {}
        if seconds <= 0:
            return applied

        def bump(kind: str) -> None:
            applied[kind] = applied.get(kind, 0) + 1

        world = self.world
        steps = max(1, math.ceil(seconds / STEP_SECONDS))
        steps = min(steps, MAX_STEPS_PER_ADVANCE)
        dt = seconds / steps
        for _ in range(steps):
            world.now += timedelta(seconds=dt)
            world.step += 1
            rng = random.Random(f"{world.config.seed}:{world.step}")
            world.platform.begin_step(world.step)
            self._step(rng, dt / 3600.0, bump)
            world.platform.step(dt / 3600.0, bump)
            world.school.step(world.step, dt / 3600.0, bump)
        return applied

    def _step(self, rng: random.Random, hours: float, bump: Callable[[str], None]) -> None:
        world = self.world
        for account in sorted(world.records["accounts"].values(), key=lambda a: a["id"]):
            key = account["key"]
            for _ in range(events(rng, RATES["new_invoice"] * hours)):
                world.create_invoice(rng, key, world.now, rng.choice([0, 0, 0, 7]))
                bump("new_invoice")
            self._in_flight(rng, hours, key, bump)
            self._merchant_and_support(rng, hours, key, bump)
            self._payments(rng, hours, account, bump)
            self._subscriptions(rng, hours, account, bump)

    def _in_flight(
        self, rng: random.Random, hours: float, key: str, bump: Callable[[str], None]
    ) -> None:
        """Paid invoices go to the provider (visible); the provider decides (hidden)."""
        world = self.world
        invoices = world.records["invoices"]
        for invoice_id in world.watched("invoices", key):
            record = invoices[invoice_id]
            if record["status"] == 0 and invoice_id in world.hidden:
                continue  # handed to the provider when its boleto was paid
            if (
                record["status"] == 0
                and self._payment_status(record) == CLEARED
                and _chance(rng, RATES["handed_to_provider"], hours)
            ):
                world.set_status(record, 1, "mindzpay")
                bump("handed_to_provider")
            elif (
                record["status"] in {1, 4}
                and invoice_id not in world.hidden
                and _chance(rng, RATES["provider_decides"], hours)
            ):
                world.hidden[invoice_id] = outcome(rng, record["status"])
                bump("provider_decides")

    def _merchant_and_support(
        self, rng: random.Random, hours: float, key: str, bump: Callable[[str], None]
    ) -> None:
        world = self.world
        invoices = world.records["invoices"]
        ids = world.ids("invoices", key)
        if not ids:
            return
        for kind, wanted, target in (
            ("merchant_cancel", {2, 8}, 4),
            ("merchant_reissue", {3, 9}, 0),
        ):
            for _ in range(events(rng, RATES[kind] * hours)):
                picked = pick(rng, ids, _status_in(invoices, wanted))
                if picked is not None and picked not in world.hidden:
                    world.set_status(invoices[picked], target, "merchant")
                    bump(kind)
        for _ in range(events(rng, RATES["merchant_edit"] * hours)):
            record = invoices[rng.choice(ids)]
            record["amount"] = data.money(data.amount(rng))
            world.stamp("invoices", record)
            bump("merchant_edit")
        for _ in range(events(rng, RATES["support_delete"] * hours)):
            if len(ids) > 1:
                world.delete("invoices", rng.choice(ids))
                bump("support_delete")

    def _payments(
        self, rng: random.Random, hours: float, account: Record, bump: Callable[[str], None]
    ) -> None:
        world = self.world
        payments = world.records["payments"]
        pay_ids = world.ids("payments", account["key"])
        for payment_id in world.watched("payments", account["key"]):
            self._pending_moves(rng, hours, payments[payment_id], bump)
        for _ in range(events(rng, RATES["payment_reverses"] * hours)):
            picked = pick(rng, pay_ids, lambda i: payments[i]["status"] == "paid")
            if picked is not None:
                payments[picked]["status"] = rng.choice(["refunded", "refunded", "chargeback"])
                world.stamp("payments", payments[picked])
                world.platform.on_reversed(payments[picked], bump)
                bump("payment_reverses")

    def _subscriptions(
        self, rng: random.Random, hours: float, account: Record, bump: Callable[[str], None]
    ) -> None:
        world = self.world
        subs = world.records["subscriptions"]
        sub_ids = world.ids("subscriptions", str(account["id"]))
        for _ in range(events(rng, RATES["new_subscription"] * hours)):
            world.create_subscription(rng, account["id"], world.now)
            bump("new_subscription")
        for _ in range(events(rng, RATES["subscription_moves"] * hours)):
            picked = pick(rng, sub_ids, lambda i: subs[i]["status"] != "canceled")
            if picked is None:
                continue
            record = subs[picked]
            if rng.random() < 0.25:  # noqa: PLR2004
                record.update(status="canceled", active=False, canceled_at=ts(world.now))
            else:
                active = record["status"] != "active"
                record.update(status="active" if active else "suspended", active=active)
            world.stamp("subscriptions", record)
            bump("subscription_moves")

    def _pending_moves(
        self, rng: random.Random, hours: float, record: Record, bump: Callable[[str], None]
    ) -> None:
        """A pending card or Pix payment settles within the hour; a boleto follows its fate."""
        if record["method"] == "boleto":
            self._boleto_moves(record, bump)
        elif _chance(rng, RATES["payment_settles"], hours):
            record["status"] = rng.choices(["paid", "refused", "canceled"], [85, 10, 5])[0]
            if record["status"] == "paid":
                record["paid_at"] = ts(self.world.now)
                self.world.platform.on_paid(record)
            self.world.stamp("payments", record)
            bump("payment_settles")

    def _boleto_moves(self, payment: Record, bump: Callable[[str], None]) -> None:
        """Pay a pending boleto when its fate says so, or expire it after its due date.

        With the switch ``boletos_never_expire`` an unpaid boleto stays pending for ever.

        Paying hands its waiting invoice to the provider: visible only through Refresh.
        """
        world = self.world
        if payment["id"] not in self._fates:
            self._fates[payment["id"]] = boleto_paid_at(world.config.seed, payment)
        paid = self._fates[payment["id"]]
        if paid is None:
            if not world.boletos_never_expire and world.now >= boleto_expiry(payment):
                del self._fates[payment["id"]]
                payment["status"] = "canceled"
                world.stamp("payments", payment)
                bump("boleto_expires")
            return
        if paid > world.now:
            return
        del self._fates[payment["id"]]
        payment.update(status="paid", paid_at=ts(world.now))
        world.stamp("payments", payment)
        world.platform.on_paid(payment)
        bump("boleto_paid")
        invoice = world.records["invoices"].get(payment["id"])  # each sale takes both ids at once
        if invoice and invoice["payment_id"] == payment["id"] and invoice["status"] == 0:
            world.hidden[invoice["id"]] = 1
            bump("handed_to_provider")

    def _payment_status(self, invoice: Record) -> str | None:
        payment = self.world.records["payments"].get(invoice["payment_id"] or 0)
        return CLEARED if payment is None else payment["status"]


class RunningClock:
    """Simulated time that follows wall time x speed while the server runs (unless frozen)."""

    def __init__(self, world: World, *, speed: float, frozen: bool) -> None:
        """Anchor simulated time `world.now` to wall time now."""
        self.world, self.speed, self.frozen = world, speed, frozen
        self.wall_base = time.monotonic()
        self.sim_base = world.now

    def tick(self) -> None:
        """Let the world catch up with wall time x speed (no-op when frozen)."""
        if self.frozen:
            return
        elapsed = (time.monotonic() - self.wall_base) * self.speed
        with self.world.lock:
            behind = (self.sim_base - self.world.now).total_seconds() + elapsed
            if behind >= STEP_SECONDS:
                self.world.clock.advance(behind)

    def advance(self, seconds: float) -> dict[str, int]:
        """Move the world by `seconds` now and run on from there (`POST /_sandbox/advance`)."""
        with self.world.lock:
            applied = self.world.clock.advance(seconds)
            self.sim_base = self.world.now
            self.wall_base = time.monotonic()
        return applied


def _chance(rng: random.Random, rate: float, hours: float) -> bool:
    return rng.random() < 1 - math.exp(-rate * hours)


def _status_in(invoices: dict[int, Record], wanted: set[int]) -> Callable[[int], bool]:
    return lambda invoice_id: invoices[invoice_id]["status"] in wanted
