"""Deterministic test data for the Mindz platform: users, courses, bundles, plans, enrollments.

Each generator takes the `random.Random` it draws from; the platform keeps its own seeded
generators, apart from the MindzPay ones, so adding these records leaves the accounts,
invoices, payments and subscriptions of a seed as they were.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from tap_mindzpay.sandbox.data import (
    BRT,
    DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    Record,
    amount,
    cnpj,
    cpf,
    money,
    ts,
)

if TYPE_CHECKING:
    import random

CITIES = (
    ("SP", "São Paulo", "01"),
    ("SP", "Campinas", "13"),
    ("RJ", "Rio de Janeiro", "20"),
    ("MG", "Belo Horizonte", "30"),
    ("PR", "Curitiba", "80"),
    ("RS", "Porto Alegre", "90"),
    ("BA", "Salvador", "40"),
    ("PE", "Recife", "50"),
    ("DF", "Brasília", "70"),
)
DISTRICTS = ("Centro", "Jardim América", "Vila Nova", "Boa Vista", "Santa Cecília", "Savassi")
STREETS = ("Rua das Flores", "Avenida Paulista", "Rua XV de Novembro", "Rua da Bahia")
SUBJECTS = (
    "Marketing Digital",
    "Fotografia",
    "Inglês",
    "Python",
    "Confeitaria",
    "Finanças Pessoais",
    "Yoga",
    "Violão",
    "Excel",
    "Redação",
)
LEVELS = ("Essencial", "Intermediário", "Avançado", "Masterclass", "Do Zero")
PLAN_NAMES = ("Mensal", "Trimestral", "Semestral", "Anual", "Premium", "Vitalício")
INTERVAL_DAYS = {"days": 1, "weeks": 7, "months": 30, "years": 365}


def slug(name: str, record_id: int) -> str:
    """A URL slug: ASCII, lower case, the id appended so it is unique."""
    plain = name.lower().translate(str.maketrans("áâãàéêíóôõúç", "aaaaeeiooouc"))
    return "-".join([*plain.split(), str(record_id)])


def phone(rng: random.Random, area: str) -> str:
    """A Brazilian mobile number, as the platform stores it."""
    return f"+55 {area} 9{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"


def address(rng: random.Random) -> Record:
    """The address fields of a user (state, city, zip code agree)."""
    state, city, prefix = rng.choice(CITIES)
    return {
        "country": "BR",
        "zip_code": f"{prefix}{rng.randint(0, 999_999):06d}",
        "state": state,
        "city": city,
        "district": rng.choice(DISTRICTS),
        "street": rng.choice(STREETS),
        "house_number": str(rng.randint(1, 3000)),
        "complement": rng.choice([None, None, f"Apto {rng.randint(11, 190)}", "Casa 2"]),
    }


def new_user(rng: random.Random, user_id: int, created: datetime, now: datetime) -> Record:
    """A platform user (learner, buyer or teacher); about 8% are companies (`pj`)."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    company = rng.random() < 0.08  # noqa: PLR2004
    where = address(rng)
    born = datetime(1960, 1, 1, tzinfo=BRT) + timedelta(days=rng.randint(0, 16_000))
    login = created + timedelta(hours=rng.randint(1, 24 * 300))
    return {
        "id": user_id,
        "email": f"{first}.{last}{user_id}@{rng.choice(DOMAINS)}",
        "first_name": first.capitalize(),
        "last_name": last.capitalize(),
        "username": f"{first}{last}{user_id}",
        "suspended": rng.random() < 0.02,  # noqa: PLR2004
        "gender": rng.choice(["female", "male", "female", "male", "other", None]),
        "phone": phone(rng, str(rng.randint(11, 99))),
        "birth_date": None if company else born.date().isoformat(),
        "person_type": "pj" if company else "pf",
        "cpf_cnpj": cnpj(rng) if company else cpf(rng),
        "corporate_name": f"{last.capitalize()} Treinamentos LTDA" if company else None,
        **where,
        "last_login_at": ts(login) if login <= now else None,
        "created_at": ts(created),
        "updated_at": ts(created),
    }


def edit_user(rng: random.Random, record: Record) -> None:
    """A profile edit: a new phone, a move, a new name after marriage, or a login."""
    kind = rng.randrange(4)
    if kind == 0:
        record["phone"] = phone(rng, str(rng.randint(11, 99)))
    elif kind == 1:
        record.update(address(rng))
    elif kind == 2:  # noqa: PLR2004
        record["last_name"] = rng.choice(LAST_NAMES).capitalize()
    else:
        record["suspended"] = not record["suspended"]


def new_course(
    rng: random.Random, course_id: int, created: datetime, teacher_ids: list[int]
) -> Record:
    """A course; most are published, a few still drafts or archived."""
    name = f"{rng.choice(SUBJECTS)} {rng.choice(LEVELS)}"
    return {
        "id": course_id,
        "name": name,
        "slug": slug(name, course_id),
        "status": rng.choices(["published", "draft", "archived"], weights=[75, 15, 10])[0],
        "price": money(amount(rng)),
        "access_days": rng.choice([None, 90, 180, 365, 365, 730]),
        "teacher_ids": teacher_ids,
        "created_at": ts(created),
        "updated_at": ts(created),
    }


def new_bundle(
    rng: random.Random, bundle_id: int, created: datetime, course_ids: list[int]
) -> Record:
    """A bundle of courses sold together."""
    name = f"Combo {rng.choice(SUBJECTS)} {bundle_id}"
    return {
        "id": bundle_id,
        "name": name,
        "slug": slug(name, bundle_id),
        "price": money(amount(rng) * len(course_ids) * Decimal("0.7")),
        "course_ids": course_ids,
        "created_at": ts(created),
        "updated_at": ts(created),
    }


def new_plan(rng: random.Random, plan_id: int, created: datetime, course_ids: list[int]) -> Record:
    """A subscription plan of the school (what a MindzPay subscription's `plan_id` names)."""
    interval = rng.choices(["months", "years", "weeks", "days"], weights=[80, 12, 6, 2])[0]
    frequency = rng.choice([1, 1, 1, 3, 6])
    name = f"Plano {rng.choice(PLAN_NAMES)} {plan_id}"
    return {
        "id": plan_id,
        "name": name,
        "description": f"Acesso a {len(course_ids)} cursos, cobrança a cada {frequency} {interval}",
        "interval": interval,
        "frequency": frequency,
        "max_cycles": rng.choice([0, 0, 0, 6, 12, 24]),
        "price": money(amount(rng)),
        "access_days": INTERVAL_DAYS[interval] * frequency,
        "course_ids": course_ids,
        "created_at": ts(created),
        "updated_at": ts(created),
    }


def new_enrollment(  # noqa: PLR0913 - one record's many independent fields
    rng: random.Random,
    *,
    enrollment_id: int,
    user_id: int,
    target: tuple[str, int],
    access_days: int | None,
    payment_id: int | None,
    created: datetime,
    now: datetime,
) -> Record:
    """An enrollment in a course, bundle or plan (`target`), active until `access_days` pass."""
    expires = created + timedelta(days=access_days) if access_days else None
    days = max(0.0, (now - created).total_seconds() / 86400)
    progress = min(100, int(days * rng.uniform(0, 3)))
    record: Record = {
        "id": enrollment_id,
        "user_id": user_id,
        "course_id": None,
        "bundle_id": None,
        "plan_id": None,
        "payment_id": payment_id,
        "status": "active",
        "expires_at": ts(expires) if expires else None,
        "progress": progress,
        "completed_at": None,
        "created_at": ts(created),
        "updated_at": ts(created),
    }
    record[target[0]] = target[1]
    last = created
    if progress == 100:  # noqa: PLR2004
        finished = min(now, created + timedelta(days=rng.randint(5, 90)))
        record["completed_at"] = ts(finished)
        last = finished
    if expires is not None and expires <= now:
        record["status"] = "expired"
        last = max(last, expires)
    record["updated_at"] = ts(last)
    return record
