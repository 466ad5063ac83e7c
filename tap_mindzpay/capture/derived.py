"""Records other streams get from change capture: one per invoice status transition."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tap_mindzpay.endpoints import INVOICE_STATUS_LABELS

if TYPE_CHECKING:
    from collections.abc import Mapping

    from singer_sdk.helpers.types import Context


def invoice_status_change(
    record: Mapping[str, Any],
    previous: object,
    via: str,
    context: Context | None,
) -> dict[str, Any] | None:
    """The ``invoice_status_changes`` record of an invoice seen in a new status.

    ``observed_at`` is the invoice's ``updated_at`` on that read, so a rerun after a crash
    writes the same key (invoice_id, to_status, observed_at) again rather than a second row.
    """
    status = record.get("status")
    if not isinstance(status, int):
        return None
    before = previous if isinstance(previous, int) else None
    return {
        "invoice_id": record["id"],
        "account_key": record.get("account_key") or (context or {}).get("account_key"),
        "from_status": before,
        "from_status_label": INVOICE_STATUS_LABELS.get(before) if before is not None else None,
        "to_status": status,
        "to_status_label": INVOICE_STATUS_LABELS.get(status),
        "observed_at": record.get("updated_at") or record.get("created_at"),
        "via": via,
    }
