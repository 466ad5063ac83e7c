"""The MindzPay streams: one small class each; everything shared lives in ``client``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from typing_extensions import override

from tap_mindzpay import endpoints, schemas
from tap_mindzpay.client import MindzPayStream, RefreshRule

if TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.helpers.types import Context


#: Invoice statuses the fiscal provider may still change: Pendente, Em processo de emissão,
#: Em processo de cancelamento.
INVOICE_IN_FLIGHT = frozenset({0, 1, 4})


class AccountsStream(MindzPayStream):
    """Accounts the credential can see (full table), limited by ``account_keys``; the parent."""

    name = "accounts"
    path = endpoints.ACCOUNTS_PATH
    resource = "accounts"
    record_schema = schemas.ACCOUNTS

    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        wanted = set(self.config.get("account_keys") or ())
        if not wanted:
            yield from super().get_records(context)
            return
        seen: set[str] = set()
        for record in super().get_records(context):
            if record.get("key") in wanted:
                seen.add(record["key"])
                yield record
        if missing := sorted(wanted - seen):
            self.logger.warning(
                "Setting account_keys names accounts this credential cannot see: %s", missing
            )

    @override
    def get_child_context(self, record: dict[str, Any], context: Context | None) -> Context:
        return {"account_id": record["id"], "account_key": record["key"]}


class AccountChildStream(MindzPayStream):
    """A per-account list synced incrementally by id ascending, one partition per account."""

    parent_stream_type = AccountsStream
    replication_key = "id"
    is_sorted = True


class InvoicesStream(AccountChildStream):
    """Invoices (notas fiscais) of each account, by account key; status with its pt-BR label."""

    name = "invoices"
    path = endpoints.INVOICES_PATH
    resource = "invoices"
    record_schema = schemas.INVOICES
    capture_rule = RefreshRule(
        in_flight=lambda r: r.get("status") in INVOICE_IN_FLIGHT,
        method="POST",
        path_suffix=endpoints.INVOICE_REFRESH_SUFFIX,
    )


class PaymentsStream(AccountChildStream):
    """Payments (boleto, card, Pix) of each account, by account key."""

    name = "payments"
    path = endpoints.PAYMENTS_PATH
    resource = "payments"
    record_schema = schemas.PAYMENTS
    capture_rule = RefreshRule(
        in_flight=lambda r: r.get("status") == "pending",
        method="GET",
        path_suffix=endpoints.GET_ONE_SUFFIX,
    )


class SubscriptionsStream(AccountChildStream):
    """Subscriptions of each account, by numeric account id."""

    name = "subscriptions"
    path = endpoints.SUBSCRIPTIONS_PATH
    resource = "subscriptions"
    record_schema = schemas.SUBSCRIPTIONS


STREAM_TYPES: tuple[type[MindzPayStream], ...] = (
    AccountsStream,
    InvoicesStream,
    PaymentsStream,
    SubscriptionsStream,
)
