"""Fault switches of the sandbox: what to break, how often, seeded so runs repeat.

Rates are probabilities per API request (admin calls under `/_sandbox/` are never faulted).

| key | effect |
|---|---|
| `seed` | seed of the fault draws |
| `http_5xx` | answer 500/502/503 with the error envelope |
| `http_429` | answer 429 with `Retry-After` (`retry_after` seconds, default 1) |
| `reset` | close the connection without an answer |
| `slow_body` | send the headers, then wait `slow_seconds` (default 5) before the body |
| `truncated` | answer 200 with only the first half of the JSON body |
| `malformed` | one record of a list page is broken (wrong type, missing field, new field) |
| `malformed_kind` | 1 `id` a string, 2 no `created_at`, 3 new field, 4 `amount` `12,50`; 0 drawn |
| `shift_pages` | before a list page, support deletes a record and a new one is created |
| `refresh_race` | a refresh_token grant rotates the token, then the connection drops |
| `revoke_every_seconds` | every N wall seconds every access token is revoked |
| `latency_ms` | added to every API request |
| `forbidden_accounts` | 403 `forbidden` on the accounts list (a credential without permission) |
| `forbidden_account_id` | 403 `forbidden` on every request under that account (id or key) |
| `echo_secret` | 400 `bad_request` repeating the bearer token and client_secret (message, url) |
| `echo_personal` | 422 `invalid_request` quoting a user's CPF/CNPJ and e-mail address |
| `token_redirect` | the token endpoint answers 307 to another host over plain http |
| `undeclared_properties` | 1: every record carries properties no schema declares (not a rate) |
| `boletos_never_expire` | 1: unpaid boletos stay `pending` for ever, past due (not a rate) |
| `page_cap` | lists serve at most this many records a page whatever `limit` asks (`meta.limit`) |
| `id_base` | new invoices, payments, subscriptions take ids from this base on, 1..1000 apart |
| `reset_header_epoch` | 1: `X-RateLimit-Reset` is the Unix time of the reset (not seconds) |
| `forbidden_resources` | comma list of platform resources (`users,plans`) answering 403 |
| `poison_invoices` | comma list of invoice ids whose Refresh and Get always answer 500 |
| `list_hides` | comma list of invoice ids lists (and `meta.total`) leave out; Get serves them |
| `max_in_flight` | an API request arriving while N are served gets 429 with `Retry-After` at once |
"""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any

from tap_mindzpay.sandbox.messages import Reply

RATE_KEYS = (
    "http_5xx",
    "http_429",
    "reset",
    "slow_body",
    "truncated",
    "malformed",
    "shift_pages",
    "refresh_race",
    "forbidden_accounts",
    "echo_secret",
    "echo_personal",
    "token_redirect",
)
NUMBER_KEYS = (
    "slow_seconds",
    "retry_after",
    "revoke_every_seconds",
    "latency_ms",
    "malformed_kind",
    "forbidden_account_id",
    "undeclared_properties",
    "boletos_never_expire",
    "page_cap",
    "id_base",
    "reset_header_epoch",
    "max_in_flight",
)
#: Switches holding a comma list of names or ids (a JSON string, or a JSON list).
LIST_KEYS = (
    "forbidden_resources",
    "poison_invoices",
    "list_hides",
)


class FaultError(ValueError):
    """A fault configuration that cannot be used."""


class Faults:
    """The current fault switches and their seeded random draws (thread-safe)."""

    def __init__(self) -> None:
        """No faults."""
        self._lock = threading.Lock()
        self.config: dict[str, float] = {}
        self.rng = random.Random(0)
        self.last_revoke = time.monotonic()
        self.injected: dict[str, int] = {}
        self.lists: dict[str, frozenset[str]] = {}
        #: API requests being served now (``max_in_flight``).
        self.serving = 0

    def configure(self, config: dict[str, Any]) -> None:
        """Replace the switches; unknown keys or bad values raise FaultError."""
        unknown = set(config) - {*RATE_KEYS, *NUMBER_KEYS, *LIST_KEYS, "seed"}
        if unknown:
            msg = f"unknown fault keys: {sorted(unknown)}"
            raise FaultError(msg)
        clean: dict[str, float] = {}
        lists = {key: _names(key, config[key]) for key in LIST_KEYS if key in config}
        for key, value in config.items():
            if key == "seed" or key in LIST_KEYS:
                continue
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                msg = f"fault {key} must be a number >= 0"
                raise FaultError(msg)
            if key in RATE_KEYS and value > 1:
                msg = f"fault {key} is a probability (0..1)"
                raise FaultError(msg)
            clean[key] = float(value)
        with self._lock:
            self.config = clean
            self.lists = lists
            self.rng = random.Random(config.get("seed", 0))
            self.last_revoke = time.monotonic()

    def roll(self, key: str) -> bool:
        """Draw whether the fault `key` strikes this request (and count it)."""
        rate = self.config.get(key, 0.0)
        if rate <= 0:
            return False
        with self._lock:
            hit = self.rng.random() < rate
        if hit:
            self.count(key)
        return hit

    def answer_instead(self) -> Reply | None:
        """The answer a per-request fault puts in place of the real one (reset, 5xx, 429)."""
        if self.roll("reset"):
            return Reply.dropped()
        if self.roll("http_5xx"):
            status = int(self.choice(["500", "502", "503"]))
            return Reply.error(status, "server_error", "Try again")
        if self.roll("http_429"):
            retry = str(int(self.value("retry_after", 1)))
            return Reply.error(429, "rate_limited", "Too many requests", {"Retry-After": retry})
        return None

    def admit(self) -> bool:
        """Whether an API request may be served now (``max_in_flight``); ``leave`` when served.

        A request refused (``False``) is not being served and must not ``leave``.
        """
        most = self.config.get("max_in_flight", 0.0)
        with self._lock:
            if most and self.serving >= most:
                self.injected["max_in_flight"] = self.injected.get("max_in_flight", 0) + 1
                return False
            self.serving += 1
            return True

    def leave(self) -> None:
        """An admitted request has been answered."""
        with self._lock:
            self.serving -= 1

    def busy(self) -> Reply:
        """The 429 of a request refused by ``max_in_flight`` (``Retry-After``: ``retry_after``)."""
        retry = str(int(self.value("retry_after", 1)))
        return Reply.error(
            429, "too_many_requests", "Too many concurrent requests", {"Retry-After": retry}
        )

    def count(self, key: str) -> None:
        """Count one injected fault."""
        with self._lock:
            self.injected[key] = self.injected.get(key, 0) + 1

    def value(self, key: str, default: float) -> float:
        """A numeric switch."""
        return self.config.get(key, default)

    def listed(self, key: str, name: object) -> bool:
        """Whether ``name`` (a resource, an id) is in the list switch ``key`` (and count it)."""
        hit = str(name) in self.lists.get(key, frozenset())
        if hit:
            self.count(key)
        return hit

    def rate_headers(self, headers: dict[str, str], now: float) -> dict[str, str]:
        """The rate-limit headers as this platform sends them (``reset_header_epoch``).

        ``now``: the Unix time of the answer's ``Date`` (the world's clock), which an epoch
        reset is consistent with, as on a real server.
        """
        reset = headers.get("X-RateLimit-Reset")
        if reset is not None and self.value("reset_header_epoch", 0):
            headers["X-RateLimit-Reset"] = str(int(now + float(reset)))
        return headers

    def revoke_due(self) -> bool:
        """Whether the periodic token revocation is due now."""
        every = self.config.get("revoke_every_seconds", 0.0)
        if every <= 0:
            return False
        with self._lock:
            if time.monotonic() - self.last_revoke < every:
                return False
            self.last_revoke = time.monotonic()
        self.count("revoke")
        return True

    def choice(self, options: list[str]) -> str:
        """A seeded choice (kind of malformation)."""
        with self._lock:
            return self.rng.choice(options)

    def malform(self, raw: bytes) -> bytes:
        """Break one record's JSON the way `malformed` / `malformed_kind` say (and count it)."""
        record = json.loads(raw)
        kinds = ["wrong_type", "missing_field", "new_field"]
        pick = int(self.value("malformed_kind", 0))
        chosen = [*kinds, "wrong_amount"]
        kind = chosen[pick - 1] if 1 <= pick <= len(chosen) else self.choice(kinds)
        if kind == "wrong_amount" and "amount" not in record:
            kind = "new_field"  # accounts and the platform resources have no amount
        self.count(f"malformed_{kind}")
        if kind == "wrong_type":
            record["id"] = f"#{record['id']}"
        elif kind == "wrong_amount":
            record["amount"] = record["amount"].replace(".", ",")
        elif kind == "missing_field":
            record.pop("created_at", None)
        else:
            record["nfse_series"] = "A1"
        return json.dumps(record, separators=(",", ":")).encode()


def _names(key: str, value: object) -> frozenset[str]:
    """The members of a list switch: ``"users, plans"`` or ``["users", "plans"]``."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str | int) for i in items):
        msg = f"fault {key} must be a comma list (a string) or a list of names or ids"
        raise FaultError(msg)
    return frozenset(str(i).strip() for i in items if str(i).strip())
