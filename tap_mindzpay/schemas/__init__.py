"""JSON schemas of the MindzPay and Mindz platform streams, from shared fragments defined here.

* Money: the API sends BRL as two-decimal strings (``"1234.50"``); the tap parses them into
  ``Decimal`` and the Singer writer emits an exact JSON number. ``MONEY`` is the only place that
  says so. With the setting ``money_as_string`` the streams use ``MONEY_AS_STRING`` instead
  (``money_as_strings``) and emit the decimal text, for warehouses whose loaders turn a JSON
  number into a float.
* Timestamps are ``date-time`` strings kept exactly as the API sends them, offset included.
* Properties the contract allows to be null are nullable; ids and keys are not.
* Properties the API adds later are not in these schemas: the SDK drops them from the records
  and logs one warning naming them (see ``conform``), so a schema change is a
  reviewed edit here, never a silent column in the warehouse.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from decimal import Decimal

Schema = dict[str, Any]

ID: Schema = {"type": "integer"}
INTEGER: Schema = {"type": ["integer", "null"]}
STRING: Schema = {"type": ["string", "null"]}
BOOLEAN: Schema = {"type": ["boolean", "null"]}
TIMESTAMP: Schema = {"type": ["string", "null"], "format": "date-time"}
DATE: Schema = {"type": ["string", "null"], "format": "date"}
#: No ``multipleOf``: a float 0.01 fails validation of amounts read back as floats.
MONEY: Schema = {"type": ["number", "null"]}
#: Money as its decimal text (setting ``money_as_string``): the Singer SDK's convention, which
#: its SQL targets map to ``DECIMAL``. No ``precision``/``scale``: the SDK's catalog ``Schema``
#: keeps neither, so they would never reach a target (docs/loaders.md says what that means).
MONEY_AS_STRING: Schema = {"type": ["string", "null"], "format": "x-singer.decimal"}


def enum(*values: str) -> Schema:
    """A nullable string with the contract's values listed, not enforced.

    A value the contract does not know yet must reach the warehouse rather than fail a load.
    """
    return {"type": ["string", "null"], "description": "One of: " + ", ".join(values)}


def stream_schema(required: tuple[str, ...], **properties: Schema) -> Schema:
    """An object schema with the given properties; ``required`` ones must be present."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


TIMES: dict[str, Schema] = {"created_at": TIMESTAMP, "updated_at": TIMESTAMP}
#: Added to child records from the parent account (the SDK copies the child context in).
ACCOUNT_ID: Schema = {"type": "integer", "description": "Id of the parent account."}
ACCOUNT_KEY: Schema = {"type": "string", "description": "Key of the parent account."}

ACCOUNTS = stream_schema(
    ("id", "key"),
    id=ID,
    key={"type": "string"},
    name=STRING,
    document=STRING,
    status=enum("pending", "accepted", "rejected", "blocked"),
    **TIMES,
)

#: An invoice status code (the contract's table, 0-9; labels in ``endpoints``).
INVOICE_STATUS: Schema = {"type": ["integer", "null"], "minimum": 0, "maximum": 9}

#: Set on the record that says support deleted this id (its other fields are null).
DELETED_AT: Schema = {"type": ["string", "null"], "format": "date-time"}

INVOICES = stream_schema(
    ("id",),
    id=ID,
    account_key=ACCOUNT_KEY,
    account_id=ACCOUNT_ID,
    nfe_id=STRING,
    status=INVOICE_STATUS,
    status_label=STRING,
    payment_id=INTEGER,
    client_id=INTEGER,
    amount=MONEY,
    file_url=STRING,
    issued_at=TIMESTAMP,
    canceled_at=TIMESTAMP,
    _sdc_deleted_at=DELETED_AT,
    **TIMES,
)

PAYMENTS = stream_schema(
    ("id",),
    id=ID,
    account_key=ACCOUNT_KEY,
    account_id=ACCOUNT_ID,
    client_id=INTEGER,
    subscription_id=INTEGER,
    method=enum("boleto", "credit_card", "pix"),
    card_brand=STRING,
    installments={"type": ["integer", "null"], "minimum": 1, "maximum": 12},
    amount=MONEY,
    fee=MONEY,
    status=enum("pending", "paid", "refused", "refunded", "chargeback", "canceled"),
    due_date=DATE,
    paid_at=TIMESTAMP,
    _sdc_deleted_at=DELETED_AT,
    **TIMES,
)

SUBSCRIPTIONS = stream_schema(
    ("id",),
    id=ID,
    account_id=ACCOUNT_ID,
    account_key=ACCOUNT_KEY,
    plan_id=INTEGER,
    customer_email=STRING,
    active=BOOLEAN,
    status=enum("active", "suspended", "canceled"),
    interval=enum("days", "weeks", "months", "years"),
    frequency=INTEGER,
    amount=MONEY,
    next_charge_at=TIMESTAMP,
    canceled_at=TIMESTAMP,
    _sdc_deleted_at=DELETED_AT,
    **TIMES,
)


#: One record per invoice status transition the tap observed (written while syncing invoices).
INVOICE_STATUS_CHANGES = stream_schema(
    ("invoice_id", "account_key", "to_status", "observed_at", "via"),
    invoice_id={"type": "integer", "description": "Id of the invoice."},
    account_key=ACCOUNT_KEY,
    from_status={
        **INVOICE_STATUS,
        "description": "Status before; null when the tap had not seen the invoice before.",
    },
    from_status_label=STRING,
    to_status={"type": "integer", "minimum": 0, "maximum": 9},
    to_status_label=STRING,
    observed_at={
        "type": "string",
        "format": "date-time",
        "description": "The invoice's updated_at on the read that showed the new status "
        "(when MindzPay recorded it), so a rerun after a crash yields the same key.",
    },
    via={
        "type": "string",
        "description": "How the tap saw it: new (first listing), refresh, or sweep.",
    },
)


#: A list of ids of another platform resource (a course's teachers, a bundle's courses).
ID_LIST: Schema = {"type": ["array", "null"], "items": {"type": "integer"}}

#: User properties that are personal data under Brazil's LGPD: in the schema, but not selected
#: unless a catalog or Meltano ``select`` asks for them (``platform.PlatformStream``).
PERSONAL_DATA = (
    "cpf_cnpj",
    "phone",
    "birth_date",
    "zip_code",
    "street",
    "house_number",
    "complement",
    "district",
)

USERS = stream_schema(
    ("id",),
    id=ID,
    email=STRING,
    first_name=STRING,
    last_name=STRING,
    username=STRING,
    suspended=BOOLEAN,
    gender=STRING,
    phone=STRING,
    birth_date=DATE,
    person_type=enum("pf", "pj"),
    cpf_cnpj={**STRING, "description": "CPF (11 digits) or CNPJ (14 digits)."},
    corporate_name=STRING,
    country=STRING,
    zip_code=STRING,
    state=STRING,
    city=STRING,
    district=STRING,
    street=STRING,
    house_number=STRING,
    complement=STRING,
    last_login_at=TIMESTAMP,
    _sdc_deleted_at=DELETED_AT,
    **TIMES,
)

COURSES = stream_schema(
    ("id",),
    id=ID,
    name=STRING,
    slug=STRING,
    status=enum("draft", "published", "archived"),
    price=MONEY,
    access_days=INTEGER,
    teacher_ids={**ID_LIST, "description": "Ids of the users who teach the course."},
    _sdc_deleted_at=DELETED_AT,
    **TIMES,
)

BUNDLES = stream_schema(
    ("id",),
    id=ID,
    name=STRING,
    slug=STRING,
    price=MONEY,
    course_ids=ID_LIST,
    _sdc_deleted_at=DELETED_AT,
    **TIMES,
)

PLANS = stream_schema(
    ("id",),
    id=ID,
    name=STRING,
    description=STRING,
    interval=enum("days", "weeks", "months", "years"),
    frequency=INTEGER,
    max_cycles={**INTEGER, "description": "Charges before the plan ends; 0 is unlimited."},
    price=MONEY,
    access_days=INTEGER,
    course_ids=ID_LIST,
    _sdc_deleted_at=DELETED_AT,
    **TIMES,
)

ENROLLMENTS = stream_schema(
    ("id",),
    id=ID,
    user_id=INTEGER,
    course_id=INTEGER,
    bundle_id=INTEGER,
    plan_id=INTEGER,
    payment_id={**INTEGER, "description": "The payment that bought it; null if free or manual."},
    status=enum("active", "expired", "canceled"),
    expires_at=TIMESTAMP,
    progress={"type": ["integer", "null"], "minimum": 0, "maximum": 100},
    completed_at=TIMESTAMP,
    _sdc_deleted_at=DELETED_AT,
    **TIMES,
)


#: Each stream's schema by the stream's name (a stream finds its own: ``client``).
BY_STREAM: dict[str, Schema] = {
    "accounts": ACCOUNTS,
    "invoices": INVOICES,
    "invoice_status_changes": INVOICE_STATUS_CHANGES,
    "payments": PAYMENTS,
    "subscriptions": SUBSCRIPTIONS,
    "users": USERS,
    "courses": COURSES,
    "bundles": BUNDLES,
    "plans": PLANS,
    "enrollments": ENROLLMENTS,
}


def money_fields(schema: Schema) -> tuple[str, ...]:
    """Names of the top-level properties that use the ``MONEY`` fragment."""
    return tuple(name for name, prop in schema["properties"].items() if prop is MONEY)


def money_as_strings(schema: Schema) -> Schema:
    """A copy of a stream schema whose money properties are ``MONEY_AS_STRING``."""
    copied = copy.deepcopy(schema)
    for name in money_fields(schema):
        copied["properties"][name] = copy.deepcopy(MONEY_AS_STRING)
    return copied


def money_text(value: Decimal) -> str | None:
    """The exact decimal text of an amount (never an exponent); ``None`` if not finite."""
    return format(value, "f") if value.is_finite() else None
