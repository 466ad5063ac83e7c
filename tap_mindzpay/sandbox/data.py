"""Deterministic Brazilian test data for the MindzPay sandbox: accounts, invoices, payments, subs.

Everything is drawn from one `random.Random` so the same seed gives the same world.
"""

from __future__ import annotations

import math
import zlib
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import random
    from collections.abc import Callable

BRT = timezone(timedelta(hours=-3))
EPOCH = datetime(2026, 11, 1, 9, 0, 0, tzinfo=BRT)
"""Simulated time at which every new world starts."""

Record = dict[str, Any]

FIRST_NAMES = ("ana", "bruno", "carla", "diego", "elisa", "fabio", "gabriela", "heitor", "isabela")
LAST_NAMES = ("silva", "santos", "oliveira", "souza", "lima", "pereira", "costa", "almeida")
DOMAINS = ("gmail.com", "hotmail.com", "uol.com.br", "outlook.com", "bol.com.br")
COMPANY = ("Escola", "Academia", "Instituto", "Cursos", "Mentoria")
TOPIC = ("Digital", "do Saber", "Online", "Criativa", "Tech", "Fitness", "de Idiomas")
CARD_BRANDS = ("American Express", "Diners", "Elo", "MasterCard", "Visa")
# Initial invoice statuses of recent invoices: mostly settled, about 12% in flight (0, 1, 4).
IN_FLIGHT_STATUSES = frozenset({0, 1, 4})
RECENT = timedelta(days=2)  # only invoices this young start in flight
INVOICE_STATUS_WEIGHTS = {2: 45, 8: 20, 5: 8, 7: 7, 3: 3, 9: 3, 6: 2, 0: 4, 1: 5, 4: 3}


CHANNELS = ("checkout", "app", "api", "marketplace", "whatsapp")
TAGS = ("black-friday", "afiliado", "b2b", "renovacao", "cupom", "parceiro", "lead-quente")


def undeclared(stream: str, record_id: int) -> Record:
    """Properties no schema declares, as an API that added fields sends them; fixed per record."""
    h = zlib.crc32(f"{stream}:{record_id}".encode())
    return {
        "external_reference": f"{stream[:3]}-{h:08x}",
        "channel": CHANNELS[h % len(CHANNELS)],
        "tags": [TAGS[(h >> shift) % len(TAGS)] for shift in range(h % 3)],
        "metadata": {
            "source": CHANNELS[(h >> 3) % len(CHANNELS)],
            "utm": {"campaign": f"campanha-{h % 17}", "medium": ("cpc", "email", "social")[h % 3]},
            "schema_version": 1 + h % 3,
        },
        "risk_analysis": {"score": (h % 1000) / 10, "signals": [f"s{h % 7}", f"s{h % 11}"]},
        "legacy_id": None if h % 3 == 0 else h % 100_000,
    }


def ts(moment: datetime) -> str:
    """Format a moment as the API does: ISO 8601, seconds, Brazil offset."""
    return moment.astimezone(BRT).isoformat(timespec="seconds")


def money(value: Decimal) -> str:
    """Format BRL money as the API does: a two-decimal string."""
    return f"{value.quantize(Decimal('0.01'))}"


def _check_digit(digits: list[int], weights: list[int]) -> int:
    rest = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
    return 0 if rest < 2 else 11 - rest  # noqa: PLR2004 - the CPF/CNPJ rule


def cnpj(rng: random.Random) -> str:
    """A CNPJ (14 digits) with valid check digits."""
    base = [rng.randint(0, 9) for _ in range(8)] + [0, 0, 0, 1]
    base.append(_check_digit(base, [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]))
    base.append(_check_digit(base, [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]))
    return "".join(map(str, base))


def cpf(rng: random.Random) -> str:
    """A CPF (11 digits) with valid check digits."""
    base = [rng.randint(0, 9) for _ in range(9)]
    base.append(_check_digit(base, list(range(10, 1, -1))))
    base.append(_check_digit(base, list(range(11, 1, -1))))
    return "".join(map(str, base))


def email(rng: random.Random) -> str:
    """A plausible Brazilian customer e-mail."""
    return (
        f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}{rng.randint(1, 999)}"
        f"@{rng.choice(DOMAINS)}"
    )


def amount(rng: random.Random) -> Decimal:
    """A course price in BRL, two decimals."""
    return Decimal(rng.randint(1990, 249_990)) / 100


def weighted_status(rng: random.Random, *, recent: bool) -> int:
    """An initial invoice status: the full mix when `recent`, else settled (the provider answered).

    The fiscal provider decides within hours, so only invoices of the last days are still in
    flight; older ones have long been settled (MindzPay's nightly job refreshes them).
    """
    weights = {
        status: weight
        for status, weight in INVOICE_STATUS_WEIGHTS.items()
        if recent or status not in IN_FLIGHT_STATUSES
    }
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def new_account(rng: random.Random, account_id: int, created: datetime) -> Record:
    """An account record."""
    return {
        "id": account_id,
        "key": f"acc_{rng.getrandbits(48):012x}",
        "name": f"{rng.choice(COMPANY)} {rng.choice(TOPIC)} {account_id}",
        "document": cnpj(rng) if rng.random() < 0.8 else cpf(rng),  # noqa: PLR2004
        "status": rng.choices(["accepted", "pending", "blocked"], weights=[90, 7, 3])[0],
        "created_at": ts(created),
        "updated_at": ts(created),
    }


def new_payment(  # noqa: PLR0913 - one record's many independent fields
    rng: random.Random,
    *,
    payment_id: int,
    account_key: str,
    client_id: int,
    price: Decimal,
    created: datetime,
    now: datetime,
    settled: bool,
) -> Record:
    """A payment; `settled` payments are mostly paid, the rest pending."""
    method = rng.choices(["credit_card", "pix", "boleto"], weights=[55, 30, 15])[0]
    installments = rng.choice([1, 1, 1, 2, 3, 6, 10, 12]) if method == "credit_card" else 1
    status = "pending"
    if settled:
        status = rng.choices(
            ["paid", "refused", "canceled", "refunded", "chargeback"], weights=[85, 6, 5, 3, 1]
        )[0]
    fee_rate = {"credit_card": Decimal("0.0499"), "pix": Decimal("0.0099"), "boleto": Decimal(0)}
    fee = price * fee_rate[method] + (Decimal("3.49") if method == "boleto" else 0)
    paid = min(now, created + timedelta(minutes=rng.randint(1, 4000)))
    return {
        "id": payment_id,
        "account_key": account_key,
        "client_id": client_id,
        "subscription_id": None,
        "method": method,
        "card_brand": rng.choice(CARD_BRANDS) if method == "credit_card" else None,
        "installments": installments,
        "amount": money(price),
        "fee": money(fee),
        "status": status,
        "due_date": (created + timedelta(days=3)).date().isoformat(),
        "paid_at": ts(paid) if status in {"paid", "refunded", "chargeback"} else None,
        "created_at": ts(created),
        "updated_at": ts(paid if status != "pending" else created),
    }


def new_invoice(  # noqa: PLR0913 - one record's many independent fields
    rng: random.Random,
    *,
    invoice_id: int,
    account_key: str,
    payment: Record,
    created: datetime,
    now: datetime,
    status: int,
) -> Record:
    """An invoice tied to a payment and its client, in the given (visible) status."""
    record: Record = {
        "id": invoice_id,
        "account_key": account_key,
        "nfe_id": None,
        "status": status,
        "payment_id": payment["id"],
        "client_id": payment["client_id"],
        "amount": payment["amount"],
        "file_url": None,
        "issued_at": None,
        "canceled_at": None,
        "created_at": ts(created),
        "updated_at": ts(created),
    }
    if status in {2, 8, 4, 5, 6}:
        issued = min(now, created + timedelta(minutes=rng.randint(5, 600)))
        mark_issued(record, issued)
        record["updated_at"] = ts(issued)
    if status == 5:  # noqa: PLR2004 - cancelled
        canceled = min(now, created + timedelta(days=rng.randint(1, 20)))
        record["canceled_at"] = ts(canceled)
        record["updated_at"] = ts(canceled)
    return record


def mark_issued(record: Record, moment: datetime) -> None:
    """Fill the fields the fiscal provider sets when it issues a document."""
    record["nfe_id"] = f"NFe{35_000_000 + record['id']:010d}"
    record["file_url"] = f"https://nfe.mindz.com.br/docs/{record['account_key']}/{record['id']}.pdf"
    record["issued_at"] = ts(moment)


def new_subscription(
    rng: random.Random, subscription_id: int, account_id: int, created: datetime, now: datetime
) -> Record:
    """A subscription, mostly active."""
    status = rng.choices(["active", "suspended", "canceled"], weights=[80, 8, 12])[0]
    interval = rng.choices(["months", "years", "weeks", "days"], weights=[80, 12, 6, 2])[0]
    return {
        "id": subscription_id,
        "account_id": account_id,
        "plan_id": rng.randint(1, 40),
        "customer_email": email(rng),
        "active": status == "active",
        "status": status,
        "interval": interval,
        "frequency": rng.choice([1, 1, 1, 3, 6]),
        "amount": money(amount(rng)),
        "next_charge_at": ts(created + timedelta(days=rng.randint(1, 60))),
        "canceled_at": ts(min(now, created + timedelta(days=5))) if status == "canceled" else None,
        "created_at": ts(created),
        "updated_at": ts(
            min(now, created + timedelta(days=5)) if status == "canceled" else created
        ),
    }


def events(rng: random.Random, expected: float) -> int:
    """A Poisson-ish count of events with the given expectation (small expectations)."""
    count = 0
    threshold = math.exp(-expected)
    product = rng.random()
    while product > threshold and count < 1000:  # noqa: PLR2004
        count += 1
        product *= rng.random()
    return count


def pick(
    rng: random.Random, ids: list[int], wanted: Callable[[int], bool], tries: int = 40
) -> int | None:
    """A random id satisfying `wanted`, or None after a few tries."""
    for _ in range(tries):
        candidate = ids[rng.randrange(len(ids))] if ids else None
        if candidate is None:
            return None
        if wanted(candidate):
            return candidate
    return None
