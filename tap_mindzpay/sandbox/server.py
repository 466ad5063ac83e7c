"""The sandbox's HTTP server: the MindzPay v2 contract, rate limits, faults and admin endpoints.

A stdlib `ThreadingHTTPServer` speaking HTTP/1.1 with keep-alive, one thread per connection, so
added latency does not serialise concurrent clients. List pages are built by joining each
record's cached JSON bytes. The Mindz platform routes (`/users`, ...) and their sorts come from
`platform.py` and share the envelope, auth, rate limit, faults and paging of the MindzPay lists.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from typing_extensions import override

from tap_mindzpay.sandbox import platform
from tap_mindzpay.sandbox.data import ts
from tap_mindzpay.sandbox.faults import FaultError, Faults
from tap_mindzpay.sandbox.world import ALL_STREAMS, IN_FLIGHT, STEP_SECONDS, STREAMS, World

if TYPE_CHECKING:
    from collections.abc import Callable

    from tap_mindzpay.sandbox.storage import Storage
    from tap_mindzpay.sandbox.world import WorldConfig

API = "/api/v2"
SORTS = {
    "accounts": ("id", "created_at"),
    "invoices": ("id", "created_at", "amount", "status"),
    "payments": ("id", "created_at", "amount", "status"),
    "subscriptions": ("id", "created_at", "customer_email", "active"),
    **platform.SORTS,
}
ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(r"/mindzpay/accounts"), "accounts"),
    ("GET", re.compile(r"/mindzpay/accounts/(?P<id>\d+)"), "account"),
    (
        "GET",
        re.compile(r"/mindzpay/accounts/(?P<owner>[^/]+)/(?P<stream>invoices|payments)"),
        "list",
    ),
    (
        "GET",
        re.compile(
            r"/mindzpay/accounts/(?P<owner>[^/]+)/(?P<stream>invoices|payments)/(?P<id>\d+)"
        ),
        "get",
    ),
    (
        "POST",
        re.compile(r"/mindzpay/accounts/(?P<owner>[^/]+)/invoices/(?P<id>\d+)/refresh"),
        "refresh",
    ),
    ("GET", re.compile(r"/mindzpay/accounts/(?P<owner>\d+)/(?P<stream>subscriptions)"), "list"),
    (
        "GET",
        re.compile(r"/mindzpay/accounts/(?P<owner>\d+)/(?P<stream>subscriptions)/(?P<id>\d+)"),
        "get",
    ),
    *platform.ROUTES,
]
TEMPLATES = {
    "accounts": "/mindzpay/accounts",
    "account": "/mindzpay/accounts/{account_id}",
    "refresh": "/mindzpay/accounts/{account_key}/invoices/{invoice_id}/refresh",
}


@dataclass
class ServerConfig:
    """How the sandbox behaves towards clients."""

    client_id: str = "mindzpay-demo"
    client_secret: str = "mindzpay-demo-secret"  # noqa: S105 - documented demo credential
    refresh_token: str = "mindzpay-demo-refresh"  # noqa: S105 - documented demo credential
    token_ttl: float = 3600.0
    rate_limit: int = 6000
    rate_window: float = 60.0
    speed: float = 60.0
    frozen: bool = False
    undeclared: bool = False  # records carry properties no schema declares


@dataclass
class Token:
    """An issued access token."""

    client_id: str
    expires: float
    window_start: float = 0.0
    window_count: int = 0


class ApiError(Exception):
    """An error answered with the contract's error envelope."""

    def __init__(self, status: int, code: str, message: str) -> None:
        """Status, snake_case code and human message."""
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Sandbox:
    """Everything the handler threads share."""

    world: World
    world_config: WorldConfig
    config: ServerConfig
    storage: Storage | None = None
    faults: Faults = field(default_factory=Faults)
    tokens: dict[str, Token] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    refreshes: list[dict[str, Any]] = field(default_factory=list)
    #: Every access and refresh token ever issued (revoked and used ones too), so a test can
    #: scan what a client wrote for them (`GET /_sandbox/tokens`).
    issued: dict[str, list[str]] = field(
        default_factory=lambda: {"access_tokens": [], "refresh_tokens": []}
    )
    lock: threading.Lock = field(default_factory=threading.Lock)
    wall_base: float = field(default_factory=time.monotonic)
    sim_base: Any = None

    def __post_init__(self) -> None:
        """Register the demo refresh token and anchor the running clock."""
        if self.config.refresh_token:
            self.refresh_tokens[self.config.refresh_token] = self.config.client_id
            self.issued["refresh_tokens"].append(self.config.refresh_token)
        self.sim_base = self.world.now

    def apply_undeclared(self) -> None:
        """Undeclared properties on when the server config or the fault switch says so."""
        on = self.config.undeclared or self.faults.value("undeclared_properties", 0) > 0
        with self.world.lock:
            self.world.set_undeclared(on=on)

    def tick(self) -> None:
        """Let the running clock catch up with wall time x speed (no-op when frozen)."""
        if self.config.frozen:
            return
        elapsed = (time.monotonic() - self.wall_base) * self.config.speed
        with self.world.lock:
            behind = (self.sim_base - self.world.now).total_seconds() + elapsed
            if behind >= STEP_SECONDS:
                self.world.advance(behind)

    def count(self, key: str, status: int) -> None:
        """Count one API request by endpoint template and status."""
        with self.lock:
            per = self.stats.setdefault(key, {})
            per[str(status)] = per.get(str(status), 0) + 1

    def save(self) -> None:
        """Persist the world when a database is configured."""
        if self.storage is not None:
            with self.world.lock:
                self.storage.save(self.world, self.world_config)

    def issue(self, client_id: str, *, with_refresh: bool) -> dict[str, Any]:
        """A token response body."""
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = Token(client_id, time.monotonic() + self.config.token_ttl)
            self.issued["access_tokens"].append(token)
        body: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(self.config.token_ttl),
            "scope": "mindzpay.read mindzpay.invoices.refresh",
        }
        if with_refresh:
            new_refresh = secrets.token_urlsafe(24)
            with self.lock:
                self.refresh_tokens[new_refresh] = client_id
                self.issued["refresh_tokens"].append(new_refresh)
            body["refresh_token"] = new_refresh
        return body

    def revoke_all(self) -> None:
        """Revoke every access token (refresh tokens stay valid)."""
        with self.lock:
            self.tokens.clear()

    def authorize(self, header: str | None) -> tuple[Token, dict[str, str]]:
        """Check the Bearer token and the rate limit; return it with the rate headers."""
        if self.faults.revoke_due():
            self.revoke_all()
        if not header or not header.startswith("Bearer "):
            raise ApiError(401, "invalid_token", "Missing Bearer access token")
        with self.lock:
            token = self.tokens.get(header[7:])
            if token is None:
                raise ApiError(401, "invalid_token", "The access token is not valid")
            now = time.monotonic()
            if now >= token.expires:
                raise ApiError(401, "token_expired", "The access token has expired")
            if now - token.window_start >= self.config.rate_window:
                token.window_start, token.window_count = now, 0
            token.window_count += 1
            reset = max(0.0, token.window_start + self.config.rate_window - now)
            remaining = max(0, self.config.rate_limit - token.window_count)
            headers = {
                "X-RateLimit-Limit": str(self.config.rate_limit),
                "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": str(math.ceil(reset)),
            }
            if token.window_count > self.config.rate_limit:
                headers["Retry-After"] = str(max(1, math.ceil(reset)))
                raise RateLimitedError(headers)
        return token, headers


class RateLimitedError(Exception):
    """Over the per-token rate limit."""

    def __init__(self, headers: dict[str, str]) -> None:
        """Carry the rate headers of the 429."""
        super().__init__("rate limited")
        self.headers = headers


class Handler(BaseHTTPRequestHandler):
    """One connection's requests."""

    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK add ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    server: SandboxServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Stay quiet: the sandbox's stdout carries the URL only."""

    def do_GET(self) -> None:
        """Dispatch a GET."""
        self._dispatch("GET")

    def do_POST(self) -> None:
        """Dispatch a POST."""
        self._dispatch("POST")

    # ---- plumbing -------------------------------------------------------------------------

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self, status: int, body: bytes, headers: dict[str, str] | None = None, *, slow: float = 0
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if slow:
            self.wfile.flush()
            time.sleep(slow)
        self.wfile.write(body)

    def _json(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload, separators=(",", ":")).encode(), headers)

    def _reset(self) -> None:
        self.close_connection = True
        try:
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        app = self.server.app
        if url.path.startswith("/_sandbox/"):
            self._admin(method, url.path[len("/_sandbox/") :], query)
            return
        if not url.path.startswith(API):
            self._json(404, {"error": {"code": "not_found", "message": "Unknown path"}})
            return
        latency = app.faults.value("latency_ms", 0.0)
        if latency:
            time.sleep(latency / 1000)
        path = url.path[len(API) :]
        if path == "/oauth/token" and method == "POST":
            self._token()
            return
        self._api(method, path, query)

    # ---- OAuth2 ---------------------------------------------------------------------------

    def _token(self) -> None:
        app = self.server.app
        key = "POST /oauth/token"
        form = {k: v[-1] for k, v in parse_qs(self._body().decode()).items()}
        if self._faulted(key):
            return
        status, body = 200, None
        if form.get("client_id") != app.config.client_id or not secrets.compare_digest(
            form.get("client_secret", ""), app.config.client_secret
        ):
            status, body = 401, {"error": "invalid_client", "error_description": "Unknown client"}
        elif form.get("grant_type") == "client_credentials":
            body = app.issue(app.config.client_id, with_refresh=False)
        elif form.get("grant_type") == "refresh_token":
            with app.lock:
                owner = app.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if owner is None:
                status = 400
                body = {"error": "invalid_grant", "error_description": "Refresh token not valid"}
            else:
                body = app.issue(owner, with_refresh=True)
                if app.faults.roll("refresh_race"):
                    app.count(key, 0)
                    self._reset()
                    return
        else:
            status = 400
            body = {"error": "unsupported_grant_type", "error_description": "Unknown grant"}
        app.count(key, status)
        self._json(status, body, {"Cache-Control": "no-store"})

    # ---- the API --------------------------------------------------------------------------

    def _faulted(self, key: str) -> bool:
        """Inject the per-request faults that replace an answer; True when one did."""
        faults = self.server.app.faults
        if faults.roll("reset"):
            self.server.app.count(key, 0)
            self._reset()
            return True
        if faults.roll("http_5xx"):
            status = faults.choice(["500", "502", "503"])
            self.server.app.count(key, int(status))
            self._json(int(status), {"error": {"code": "server_error", "message": "Try again"}})
            return True
        if faults.roll("http_429"):
            self.server.app.count(key, 429)
            retry = str(int(faults.value("retry_after", 1)))
            self._json(
                429,
                {"error": {"code": "rate_limited", "message": "Too many requests"}},
                {"Retry-After": retry},
            )
            return True
        return False

    def _api(self, method: str, path: str, query: dict[str, str]) -> None:
        app = self.server.app
        for route_method, pattern, kind in ROUTES:  # noqa: B007 - kind is used after the loop
            match = pattern.fullmatch(path)
            if match and route_method == method:
                break
        else:
            self._json(
                404, {"error": {"code": "not_found", "message": f"No route {method} {path}"}}
            )
            return
        params = match.groupdict()
        key = f"{method} {self._template(kind, params)}"
        if self._faulted(key):
            return
        try:
            _, headers = app.authorize(self.headers.get("Authorization"))
        except RateLimitedError as limited:
            app.count(key, 429)
            self._json(
                429,
                {"error": {"code": "rate_limited", "message": "Rate limit exceeded"}},
                limited.headers,
            )
            return
        except ApiError as err:
            app.count(key, err.status)
            self._json(err.status, {"error": {"code": err.code, "message": err.message}})
            return
        if self._refused(key, kind, params, headers):
            return
        app.tick()
        try:
            body = self._answer(kind, params, query)
        except ApiError as err:
            app.count(key, err.status)
            self._json(err.status, {"error": {"code": err.code, "message": err.message}}, headers)
            return
        app.count(key, 200)
        faults = app.faults
        if faults.roll("truncated"):
            body = body[: len(body) // 2]
        slow = faults.value("slow_seconds", 5.0) if faults.roll("slow_body") else 0.0
        self._send(200, body, headers, slow=slow)

    def _refused(
        self, key: str, kind: str, params: dict[str, str], headers: dict[str, str]
    ) -> bool:
        """Inject the faults that refuse an authorised request (4xx); True when one did."""
        app = self.server.app
        denied = int(app.faults.value("forbidden_account_id", 0))
        if denied and "owner" in params and self._account_id(params["owner"]) == denied:
            app.faults.count("forbidden_account_id")
            app.count(key, 403)
            message = f"The API credential has no permission on MindzPay account {denied}"
            self._json(403, {"error": {"code": "forbidden", "message": message}}, headers)
            return True
        if app.faults.roll("echo_secret"):
            app.count(key, 400)
            self._json(400, {"error": self._echo_secret()}, headers)
            return True
        if kind == "accounts" and app.faults.roll("forbidden_accounts"):
            app.count(key, 403)
            message = "The API credential has no permission on MindzPay accounts"
            self._json(403, {"error": {"code": "forbidden", "message": message}}, headers)
            return True
        return False

    def _account_id(self, owner: str) -> int | None:
        """The account id of a path's owner (an account key, or an id for subscriptions)."""
        if owner.isdigit():
            return int(owner)
        with self.server.app.world.lock:
            account = self.server.app.world.account_by_key(owner)
        return int(account["id"]) if account else None

    def _echo_secret(self) -> dict[str, str]:
        """A careless API's error: it repeats the client's credentials in its text and a URL."""
        app = self.server.app
        bearer = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        url = (
            f"{API}/oauth/token?client_id={app.config.client_id}"
            f"&client_secret={app.config.client_secret}&access_token={bearer}"
        )
        message = (
            f"Request rejected for Authorization: Bearer {bearer} "
            f"(client {app.config.client_id}, secret {app.config.client_secret}); retry at {url}"
        )
        return {"code": "bad_request", "message": message, "url": url}

    @staticmethod
    def _template(kind: str, params: dict[str, str]) -> str:
        if kind in TEMPLATES:
            return TEMPLATES[kind]
        stream = params["stream"]
        if kind.startswith("platform_"):
            return platform.template(kind, stream)
        owner = "{account_id}" if stream == "subscriptions" else "{account_key}"
        suffix = "" if kind == "list" else f"/{{{stream[:-1]}_id}}"
        return f"/mindzpay/accounts/{owner}/{stream}{suffix}"

    def _answer(self, kind: str, params: dict[str, str], query: dict[str, str]) -> bytes:
        world = self.server.app.world
        with world.lock:
            if kind == "accounts":
                return self._page("accounts", "all", query)
            if kind == "account":
                if int(params["id"]) not in world.records["accounts"]:
                    raise ApiError(404, "not_found", "Account not found")
                return world.record_json("accounts", int(params["id"]))
            if kind.startswith("platform_"):
                return self._platform(kind, params, query)
            stream, owner = params.get("stream", "invoices"), params["owner"]
            self._check_owner(stream, owner)
            if kind == "list":
                shifting = stream == "invoices" and query.get("offset", "0") != "0"
                if shifting and self.server.app.faults.roll("shift_pages"):
                    world.shift_partition(self.server.app.faults.rng, stream, owner)
                return self._page(stream, owner, query)
            record_id = int(params["id"])
            record = world.records[stream].get(record_id)
            if record is None or world.owner(stream, record) != owner:
                noun = stream[:-1].capitalize()
                raise ApiError(404, "not_found", f"{noun} not found")
            if kind == "refresh":
                self.server.app.refreshes.append(
                    {
                        "account_key": owner,
                        "invoice_id": record_id,
                        "status_before": record["status"],
                    }
                )
                world.refresh_invoice(record_id)
            return world.record_json(stream, record_id)

    def _platform(self, kind: str, params: dict[str, str], query: dict[str, str]) -> bytes:
        stream, world = params["stream"], self.server.app.world
        if kind == "platform_list":
            return self._page(stream, "all", query)
        if int(params["id"]) not in world.records[stream]:
            raise ApiError(404, "not_found", f"{stream[:-1].capitalize()} not found")
        return world.record_json(stream, int(params["id"]))

    def _check_owner(self, stream: str, owner: str) -> None:
        world = self.server.app.world
        if stream == "subscriptions":
            if int(owner) not in world.records["accounts"]:
                raise ApiError(404, "not_found", "Account not found")
        elif world.account_by_key(owner) is None:
            raise ApiError(404, "not_found", "Account not found")

    def _page(self, stream: str, owner: str, query: dict[str, str]) -> bytes:
        world = self.server.app.world
        limit = _int_param(query, "limit", 50, 1, 100)
        offset = _int_param(query, "offset", 0, 0, None)
        sort_by = query.get("sort_by", "id")
        direction = query.get("sort_direction", "asc")
        if sort_by not in SORTS[stream]:
            raise ApiError(422, "invalid_parameter", f"sort_by must be one of {SORTS[stream]}")
        if direction not in {"asc", "desc"}:
            raise ApiError(422, "invalid_parameter", "sort_direction must be asc or desc")
        ids = world.sorted_ids(stream, owner, sort_by)
        search = query.get("search", "").lower()
        if search:
            ids = [i for i in ids if search in world.record_json(stream, i).decode().lower()]
        if direction == "desc":
            ids = ids[::-1]
        chosen = ids[offset : offset + limit]
        parts = [world.record_json(stream, i) for i in chosen]
        if parts and self.server.app.faults.roll("malformed"):
            parts[len(parts) // 2] = self.server.app.faults.malform(parts[len(parts) // 2])
        meta = json.dumps({"total": len(ids), "limit": limit, "offset": offset}).encode()
        return b'{"data":[' + b",".join(parts) + b'],"meta":' + meta + b"}"

    # ---- admin ----------------------------------------------------------------------------

    def _admin(self, method: str, path: str, query: dict[str, str]) -> None:
        app = self.server.app
        handler = ADMIN.get((method, path.split("/", maxsplit=1)[0]))
        if handler is None:
            self._json(404, {"error": {"code": "not_found", "message": "Unknown admin path"}})
            return
        try:
            status, payload = handler(self, path, query)
        except (ValueError, FaultError) as err:
            status, payload = 422, {"error": {"code": "invalid_parameter", "message": str(err)}}
        self._json(status, payload)
        del app

    def _advance(self, _path: str, query: dict[str, str]) -> tuple[int, Any]:
        seconds = float(query.get("seconds", "0"))
        if not 0 <= seconds <= 86400 * 30:
            msg = "seconds must be between 0 and 2592000"
            raise ValueError(msg)
        app = self.server.app
        with app.world.lock:
            applied = app.world.advance(seconds)
            app.sim_base = app.world.now
            app.wall_base = time.monotonic()
        app.save()
        return 200, {"clock": ts(app.world.now), "applied": applied}

    def _truth(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        stream = path.partition("/")[2]
        if stream not in ALL_STREAMS:
            return 404, {"error": {"code": "not_found", "message": f"streams: {ALL_STREAMS}"}}
        undeclared = query.get("undeclared", "0") not in {"0", "false", ""}
        with self.server.app.world.lock:
            return 200, {"data": self.server.app.world.truth(stream, undeclared=undeclared)}

    def _log(self, path: str, _query: dict[str, str]) -> tuple[int, Any]:
        """Transitions; deletions of the MindzPay streams, or of one stream (`deleted/users`)."""
        world = self.server.app.world
        kind, _, stream = path.partition("/")
        if kind == "deleted" and stream not in {"", *ALL_STREAMS}:
            return 404, {"error": {"code": "not_found", "message": f"streams: {ALL_STREAMS}"}}
        with world.lock:
            entries = list(getattr(world, kind))
        if kind == "deleted":
            wanted = {stream} if stream else set(STREAMS)
            entries = [e for e in entries if e["stream"] in wanted]
        return 200, {"data": entries}

    def _stats(self, path: str, _query: dict[str, str]) -> tuple[int, Any]:
        app = self.server.app
        with app.lock:
            if path == "stats/reset":
                app.stats.clear()
                app.refreshes.clear()
                app.faults.injected.clear()
                return 200, {"reset": True}
            total = sum(sum(v.values()) for v in app.stats.values())
            return 200, {
                "requests": {k: dict(v) for k, v in app.stats.items()},
                "total_requests": total,
                "refreshes": list(app.refreshes),
                "faults": dict(app.faults.injected),
            }

    def _faults(self, _path: str, _query: dict[str, str]) -> tuple[int, Any]:
        config = json.loads(self._body() or b"{}")
        if not isinstance(config, dict):
            msg = "faults must be a JSON object"
            raise TypeError(msg)
        self.server.app.faults.configure(config)
        self.server.app.apply_undeclared()
        return 200, {"faults": config}

    def _tokens(self, _path: str, _query: dict[str, str]) -> tuple[int, Any]:
        app = self.server.app
        with app.lock:
            return 200, {
                "client_secret": app.config.client_secret,
                **{kind: list(tokens) for kind, tokens in app.issued.items()},
            }

    def _revoke(self, _path: str, _query: dict[str, str]) -> tuple[int, Any]:
        self.server.app.revoke_all()
        return 200, {"revoked": True}

    def _health(self, _path: str, _query: dict[str, str]) -> tuple[int, Any]:
        app = self.server.app
        return 200, {"status": "ok", "clock": ts(app.world.now), "frozen": app.config.frozen}

    def _in_flight(self, _path: str, query: dict[str, str]) -> tuple[int, Any]:
        """Scenario: put `count` settled invoices in flight (status 1; decided unless decided=0)."""
        count = _int_param(query, "count", 0, 0, None)
        decided = _int_param(query, "decided", 1, 0, 1)
        world = self.server.app.world
        changed = 0
        with world.lock:
            for invoice_id, record in sorted(world.records["invoices"].items()):
                if changed >= count:
                    break
                if record["status"] not in IN_FLIGHT:
                    record["status"] = 1
                    record["updated_at"] = ts(world.now)
                    if decided:
                        world.hidden[invoice_id] = 2
                    world._touch("invoices", invoice_id)  # noqa: SLF001 - sandbox-internal
                    changed += 1
        self.server.app.save()
        return 200, {"in_flight": changed}


ADMIN: dict[tuple[str, str], Callable[[Handler, str, dict[str, str]], tuple[int, Any]]] = {
    ("POST", "advance"): Handler._advance,  # noqa: SLF001
    ("GET", "truth"): Handler._truth,  # noqa: SLF001
    ("GET", "transitions"): Handler._log,  # noqa: SLF001
    ("GET", "deleted"): Handler._log,  # noqa: SLF001
    ("GET", "stats"): Handler._stats,  # noqa: SLF001
    ("POST", "stats"): Handler._stats,  # noqa: SLF001
    ("POST", "faults"): Handler._faults,  # noqa: SLF001
    ("POST", "revoke"): Handler._revoke,  # noqa: SLF001
    ("GET", "tokens"): Handler._tokens,  # noqa: SLF001
    ("GET", "health"): Handler._health,  # noqa: SLF001
    ("POST", "in_flight"): Handler._in_flight,  # noqa: SLF001
}


def _int_param(query: dict[str, str], name: str, default: int, low: int, high: int | None) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, "invalid_parameter", f"{name} must be an integer") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ApiError(422, "invalid_parameter", f"{name} must be {bound}")
    return value


class SandboxServer(ThreadingHTTPServer):
    """The HTTP server carrying the shared sandbox state."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], app: Sandbox) -> None:
        """Bind and remember the app."""
        super().__init__(address, Handler)
        self.app = app

    @override
    def handle_error(self, request: object, client_address: object) -> None:
        """Stay quiet when a client goes away mid-answer; print anything else."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]
