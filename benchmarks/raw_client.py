"""The raw limit: page every MindzPay list endpoint over one keep-alive session, no SDK.

What a hand-written exporter would do at best in Python: one `requests.Session`, the
client-credentials token once, every account's invoices, payments and subscriptions paged by id
ascending, and one `{"type": "RECORD", ...}` line per record on a buffered stdout. No schema, no
state, no type conformance, no retries. The benchmark divides the tap's records/s by this one's.

With `--pages-only` it is the trivial client that measures the sandbox alone: it reads every
page's bytes over one keep-alive `http.client` connection (no `requests`, whose per-request work
would be counted as the server's) and decodes only the envelope of the first page of each list
(for `meta.total`).

    python benchmarks/raw_client.py --api-url http://127.0.0.1:PORT/api/v2 > /dev/null
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from collections.abc import Iterator

DEMO_CLIENT_ID = "mindzpay-demo"
DEMO_CLIENT_SECRET = "mindzpay-demo-secret"  # noqa: S105 - the sandbox's documented demo secret


class RawClient:
    """One keep-alive session against the API, with a bearer token fetched once."""

    def __init__(self, api_url: str, client_id: str, client_secret: str, page_size: int) -> None:
        """Fetch a token and keep the session for every later request."""
        self.api_url = api_url.rstrip("/")
        self.page_size = page_size
        self.session = requests.Session()
        self.session.trust_env = False  # loopback only: never through a proxy
        self.pages = 0
        self._connection: http.client.HTTPConnection | None = None
        self._prefix = ""
        response = self.session.post(
            f"{self.api_url}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret,
            },
            timeout=60,
        )
        response.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def _get(self, path: str, offset: int) -> requests.Response:
        response = self.session.get(
            f"{self.api_url}{path}",
            params={
                "limit": self.page_size,
                "offset": offset,
                "sort_by": "id",
                "sort_direction": "asc",
            },
            timeout=60,
        )
        response.raise_for_status()
        self.pages += 1
        return response

    def records(self, path: str) -> Iterator[dict[str, Any]]:
        """Every record of one list endpoint, page by page, decoded with the stdlib."""
        offset = 0
        while True:
            body = self._get(path, offset).json()
            data = body["data"]
            yield from data
            offset += len(data)
            if not data or offset >= body["meta"]["total"]:
                return

    def page_bytes(self, path: str) -> int:
        """Fetch every page of one list endpoint without decoding the records; return bytes."""
        first = self._get(path, 0)
        total = first.json()["meta"]["total"]
        size = len(first.content)
        for offset in range(self.page_size, total, self.page_size):
            size += len(self._get_bytes(path, offset))
        return size

    def _get_bytes(self, path: str, offset: int) -> bytes:
        # The thinnest keep-alive GET the stdlib has: what the server costs, not the client.
        if self._connection is None:
            parts = urllib.parse.urlsplit(self.api_url)
            https = parts.scheme == "https"
            kind = http.client.HTTPSConnection if https else http.client.HTTPConnection
            self._connection = kind(parts.netloc, timeout=60)
            self._prefix = parts.path
        query = urllib.parse.urlencode(
            {"limit": self.page_size, "offset": offset, "sort_by": "id", "sort_direction": "asc"}
        )
        self._connection.request(
            "GET",
            f"{self._prefix}{path}?{query}",
            headers={"Authorization": self.session.headers["Authorization"]},
        )
        response = self._connection.getresponse()
        body = response.read()
        if response.status != 200:
            msg = f"GET {path} offset {offset}: HTTP {response.status}"
            raise RuntimeError(msg)
        self.pages += 1
        return body


def child_paths(account: dict[str, Any]) -> dict[str, str]:
    """The per-account list paths of the contract, by stream name."""
    key, account_id = account["key"], account["id"]
    return {
        "invoices": f"/mindzpay/accounts/{key}/invoices",
        "payments": f"/mindzpay/accounts/{key}/payments",
        "subscriptions": f"/mindzpay/accounts/{account_id}/subscriptions",
    }


def export_records(client: RawClient) -> int:
    """Write a RECORD line per record of every stream to stdout; return the record count."""
    out = sys.stdout
    dumps = json.dumps
    count = 0
    accounts = list(client.records("/mindzpay/accounts"))
    for account in accounts:
        out.write(dumps({"type": "RECORD", "stream": "accounts", "record": account}))
        out.write("\n")
    count += len(accounts)
    for account in accounts:
        for stream, path in child_paths(account).items():
            for record in client.records(path):
                out.write(dumps({"type": "RECORD", "stream": stream, "record": record}))
                out.write("\n")
                count += 1
    out.flush()
    return count


def fetch_pages(client: RawClient) -> int:
    """Fetch every page of every list without decoding records; return the bytes read."""
    size = client.page_bytes("/mindzpay/accounts")
    for account in client.records("/mindzpay/accounts"):
        for path in child_paths(account).values():
            size += client.page_bytes(path)
    return size


def main(argv: list[str] | None = None) -> int:
    """Run the export (or the page fetch) and print a one-line JSON summary on stderr."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--client-id", default=DEMO_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEMO_CLIENT_SECRET)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--pages-only", action="store_true", help="measure the server alone")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    client = RawClient(args.api_url, args.client_id, args.client_secret, args.page_size)
    summary: dict[str, Any]
    if args.pages_only:
        summary = {"bytes": fetch_pages(client)}
    else:
        summary = {"records": export_records(client)}
    summary |= {"pages": client.pages, "seconds": time.perf_counter() - started}
    print(json.dumps(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
