"""A small authenticated client of the sandbox's API, for the tests of the sandbox itself."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import requests
from helpers.sandbox import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

if TYPE_CHECKING:
    from helpers import SandboxProcess


class Api:
    """Bearer-authenticated calls to one sandbox; JSON numbers with a point become Decimal."""

    def __init__(self, sandbox: SandboxProcess) -> None:
        self.sandbox = sandbox
        self.session = requests.Session()
        self.session.trust_env = False
        token = self.session.post(
            f"{sandbox.api_url}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": DEMO_CLIENT_ID,
                "client_secret": DEMO_CLIENT_SECRET,
            },
            timeout=10,
        )
        assert token.status_code == 200, token.text
        self.session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def call(self, method: str, path: str, **params: Any) -> tuple[int, Any]:
        response = self.session.request(
            method, f"{self.sandbox.api_url}{path}", params=params, timeout=30
        )
        return response.status_code, json.loads(response.content, parse_float=Decimal)

    def get(self, path: str, **params: Any) -> Any:
        status, body = self.call("GET", path, **params)
        assert status == 200, (path, params, body)
        return body

    def refresh(self, account_key: str, invoice_id: int) -> tuple[int, Any]:
        return self.call("POST", f"/mindzpay/accounts/{account_key}/invoices/{invoice_id}/refresh")

    def every(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """All records of a list, paged with limit 100 (the world must not move meanwhile)."""
        rows: list[dict[str, Any]] = []
        while True:
            page = self.get(path, limit=100, offset=len(rows), **params)
            rows.extend(page["data"])
            if len(rows) >= page["meta"]["total"] or not page["data"]:
                assert len(rows) == page["meta"]["total"]
                return rows

    def truth(self, stream: str, **params: Any) -> list[dict[str, Any]]:
        return list(self.sandbox.admin("GET", f"/_sandbox/truth/{stream}", params=params)["data"])
