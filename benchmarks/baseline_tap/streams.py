"""Stream type classes for the baseline tap."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from baseline_tap.client import MindzPayStream
from tap_mindzpay import schemas

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


class AccountsStream(MindzPayStream):
    """Accounts, parent of every other stream."""

    name = "accounts"
    record_schema = schemas.ACCOUNTS
    path = "/mindzpay/accounts"
    primary_keys = ("id",)
    replication_key = None

    def get_child_context(self, record: dict[str, Any], context: Context | None) -> dict[str, Any]:  # noqa: ARG002
        """Invoices and payments go by account key, subscriptions by account id."""
        return {"account_id": record["id"], "account_key": record["key"]}


class _AccountChildStream(MindzPayStream):
    parent_stream_type = AccountsStream
    primary_keys = ("id",)
    replication_key = "id"
    is_sorted = True


class InvoicesStream(_AccountChildStream):
    """Invoices of one account."""

    name = "invoices"
    record_schema = schemas.INVOICES
    path = "/mindzpay/accounts/{account_key}/invoices"


class PaymentsStream(_AccountChildStream):
    """Payments of one account."""

    name = "payments"
    record_schema = schemas.PAYMENTS
    path = "/mindzpay/accounts/{account_key}/payments"


class SubscriptionsStream(_AccountChildStream):
    """Subscriptions of one account."""

    name = "subscriptions"
    record_schema = schemas.SUBSCRIPTIONS
    path = "/mindzpay/accounts/{account_id}/subscriptions"
