"""REST client handling, including the MindzPayStream base class (template style)."""

from __future__ import annotations

import copy
import decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk.helpers.jsonpath import extract_jsonpath
from singer_sdk.pagination import OffsetPaginator
from singer_sdk.streams import RESTStream

from baseline_tap.auth import MindzPayAuthenticator

if TYPE_CHECKING:
    from collections.abc import Iterable

    import requests
    from singer_sdk.helpers.types import Context
    from singer_sdk.tap_base import Tap


STATUS_LABELS = {
    0: "Pendente",
    1: "Em processo de emissão",
    2: "Emitida",
    3: "Falha ao emitir",
    4: "Em processo de cancelamento",
    5: "Cancelada",
    6: "Falha ao cancelar",
    7: "Não emitir",
    8: "Enviado por email",
    9: "Não emitida",
}


class MindzPayPaginator(OffsetPaginator):
    """Offset paging that stops at `meta.total`."""

    def has_more(self, response: requests.Response) -> bool:
        """True while the next offset is below the list's total."""
        meta = response.json()["meta"]
        return bool(meta["offset"] + meta["limit"] < meta["total"])


class MindzPayStream(RESTStream[int]):
    """MindzPay stream class."""

    records_jsonpath = "$.data[*]"
    #: tap-mindzpay's own schema dict (its `schemas` module), so both taps emit the same SCHEMA.
    record_schema: ClassVar[dict[str, Any]] = {}

    def __init__(self, tap: Tap) -> None:
        """Create the stream with its schema."""
        super().__init__(tap, schema=copy.deepcopy(self.record_schema))

    @property
    def url_base(self) -> str:
        """Return the API URL root, configurable via tap settings."""
        return str(self.config["api_url"])

    @cached_property
    def authenticator(self) -> MindzPayAuthenticator:
        """Return a new authenticator object."""
        return MindzPayAuthenticator(
            client_id=self.config["client_id"],
            client_secret=self.config["client_secret"],
            auth_endpoint=f"{self.config['api_url']}/oauth/token",
        )

    @property
    def http_headers(self) -> dict[str, str]:
        """Return the http headers needed."""
        return {"User-Agent": "tap-mindzpay-baseline"}

    def get_new_paginator(self) -> MindzPayPaginator:
        """Offset paging, one page of `page_size` records at a time."""
        return MindzPayPaginator(start_value=0, page_size=self.config.get("page_size", 100))

    def get_url_params(
        self,
        context: Context | None,  # noqa: ARG002
        next_page_token: int | None,
    ) -> dict[str, Any]:
        """Return a dictionary of values to be used in URL parameterization."""
        return {
            "limit": self.config.get("page_size", 100),
            "offset": next_page_token or 0,
            "sort_by": "id",
            "sort_direction": "asc",
        }

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """Parse the response and return an iterator of result records."""
        yield from extract_jsonpath(
            self.records_jsonpath,
            input=response.json(parse_float=decimal.Decimal),
        )

    def post_process(
        self,
        row: dict[str, Any],
        context: Context | None = None,  # noqa: ARG002
    ) -> dict[str, Any] | None:
        """Money strings become Decimal; invoices get their status label; no deletion marker."""
        if "_sdc_deleted_at" in self.schema["properties"]:
            row.setdefault("_sdc_deleted_at", None)
        for name, prop in self.schema["properties"].items():
            value = row.get(name)
            if isinstance(value, str) and "number" in prop.get("type", ()):
                row[name] = decimal.Decimal(value)
        if "status_label" in self.schema["properties"] and isinstance(row.get("status"), int):
            row["status_label"] = STATUS_LABELS.get(row["status"])
        return row
