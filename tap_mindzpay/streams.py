"""The MindzPay streams: one small class each; everything shared lives in ``client``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

from tap_mindzpay import endpoints, schemas
from tap_mindzpay.client import MindzPayStream, RefreshRule
from tap_mindzpay.connection import accounts_line
from tap_mindzpay.endpoints import INVOICE_STATUS_LABELS

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from singer_sdk.helpers.types import Context


#: Invoice statuses the fiscal provider may still change: Pendente, Em processo de emissão,
#: Em processo de cancelamento.
INVOICE_IN_FLIGHT = frozenset({0, 1, 4})


class AccountKeysError(FatalAPIError):
    """Setting ``account_keys`` matches no account the credential can see."""


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
        visible: list[dict[str, Any]] = []
        for record in super().get_records(context):
            visible.append({"key": record.get("key"), "name": record.get("name")})
            if record.get("key") in wanted:
                seen.add(record["key"])
                yield record
        if not seen:
            # Nothing would sync and the run would look green: fail as the check does.
            line, _ = accounts_line(visible, self.config.get("account_keys") or ())
            msg = f"{line}; none of the keys matches a visible account, so nothing would sync"
            raise AccountKeysError(self.authenticator.redact(msg))
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
        changes_stream="invoice_status_changes",
    )

    @override
    def generate_child_contexts(
        self, record: dict[str, Any], context: Context | None
    ) -> Iterable[Context | None]:
        # invoice_status_changes is written from this stream's sync (``write_derived``), in
        # the same STATE window as the invoice it belongs to; it is never synced on its own.
        return ()


class InvoiceStatusChangesStream(MindzPayStream):
    """One record per invoice status transition the tap observed (a history table).

    Written while invoices sync (new: first listing, from_status null; refresh; sweep), so
    selecting it syncs invoices too. Primary key (invoice_id, to_status, observed_at):
    ``observed_at`` is the invoice's ``updated_at`` on that read, so a rerun after a crash
    writes the same key again rather than a second row.
    """

    name = "invoice_status_changes"
    parent_stream_type = InvoicesStream
    primary_keys = ("invoice_id", "to_status", "observed_at")
    record_schema = schemas.INVOICE_STATUS_CHANGES
    path = endpoints.INVOICES_PATH
    resource = "invoices"

    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        return iter(())

    @override
    def transition_record(
        self,
        record: Mapping[str, Any],
        previous: object,
        via: str,
        context: Context | None,
    ) -> dict[str, Any] | None:
        status = record.get("status")
        if not isinstance(status, int):
            return None
        observed = record.get("updated_at") or record.get("created_at")
        return {
            "invoice_id": record["id"],
            "account_key": record.get("account_key") or (context or {}).get("account_key"),
            "from_status": previous if isinstance(previous, int) else None,
            "from_status_label": INVOICE_STATUS_LABELS.get(previous)
            if isinstance(previous, int)
            else None,
            "to_status": status,
            "to_status_label": INVOICE_STATUS_LABELS.get(status),
            "observed_at": observed,
            "via": via,
        }


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
    InvoiceStatusChangesStream,
    PaymentsStream,
    SubscriptionsStream,
)
