"""The sandbox's OAuth2 side: the token endpoint, the tokens it issued and the rate limit.

`POST /api/v2/oauth/token` grants `client_credentials` (no refresh token) and `refresh_token`
(rotated: the old one is spent, a new one comes with the answer); errors have the RFC 6749 shape.
Every API request shows a Bearer token that `Tokens.authorize` checks and counts against the
token's fixed rate-limit window.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from tap_mindzpay.sandbox.messages import ApiError, Reply

if TYPE_CHECKING:
    from tap_mindzpay.sandbox.messages import Request
    from tap_mindzpay.sandbox.server import Sandbox, ServerConfig

KEY = "POST /oauth/token"
SCOPE = "mindzpay.read mindzpay.invoices.refresh"


@dataclass
class Token:
    """An issued access token and its rate-limit window."""

    client_id: str
    expires: float
    window_start: float = 0.0
    window_count: int = 0


class RateLimitedError(Exception):
    """Over the per-token rate limit."""

    def __init__(self, headers: dict[str, str]) -> None:
        """Carry the rate headers of the 429."""
        super().__init__("rate limited")
        self.headers = headers


class Tokens:
    """Access and refresh tokens of the sandbox's one app (thread-safe)."""

    def __init__(self, config: ServerConfig) -> None:
        """Register the configured refresh token, if any."""
        self.config = config
        self.lock = threading.Lock()
        self.access: dict[str, Token] = {}
        self.refresh: dict[str, str] = {}  # refresh token -> client id
        #: Every access and refresh token ever issued (revoked and used ones too), so a test can
        #: scan what a client wrote for them (`GET /_sandbox/tokens`).
        self.issued: dict[str, list[str]] = {"access_tokens": [], "refresh_tokens": []}
        if config.refresh_token:
            self.refresh[config.refresh_token] = config.client_id
            self.issued["refresh_tokens"].append(config.refresh_token)

    def issue(self, client_id: str, *, with_refresh: bool) -> dict[str, Any]:
        """A token response body."""
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.access[token] = Token(client_id, time.monotonic() + self.config.token_ttl)
            self.issued["access_tokens"].append(token)
        body: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(self.config.token_ttl),
            "scope": SCOPE,
        }
        if with_refresh:
            new_refresh = secrets.token_urlsafe(24)
            with self.lock:
                self.refresh[new_refresh] = client_id
                self.issued["refresh_tokens"].append(new_refresh)
            body["refresh_token"] = new_refresh
        return body

    def spend_refresh(self, refresh_token: str) -> str | None:
        """Use up a refresh token; the client it was issued to, or None if it is not valid."""
        with self.lock:
            return self.refresh.pop(refresh_token, None)

    def revoke_all(self) -> None:
        """Revoke every access token (refresh tokens stay valid)."""
        with self.lock:
            self.access.clear()

    def authorize(self, header: str | None) -> dict[str, str]:
        """Check the Bearer token and count it against the rate limit; the rate headers."""
        if not header or not header.startswith("Bearer "):
            raise ApiError(401, "invalid_token", "Missing Bearer access token")
        limit, window = self.config.rate_limit, self.config.rate_window
        with self.lock:
            token = self.access.get(header[7:])
            if token is None:
                raise ApiError(401, "invalid_token", "The access token is not valid")
            now = time.monotonic()
            if now >= token.expires:
                raise ApiError(401, "token_expired", "The access token has expired")
            if now - token.window_start >= window:
                token.window_start, token.window_count = now, 0
            token.window_count += 1
            reset = max(0.0, token.window_start + window - now)
            headers = {
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": str(max(0, limit - token.window_count)),
                "X-RateLimit-Reset": str(math.ceil(reset)),
            }
            if token.window_count > limit:
                headers["Retry-After"] = str(max(1, math.ceil(reset)))
                raise RateLimitedError(headers)
        return headers


#: Where the ``token_redirect`` fault sends a grant: another host, plain http.
TOKEN_REDIRECT_TARGET = "http://elsewhere.invalid/oauth/token"  # noqa: S105 - a URL


def grant(app: Sandbox, request: Request) -> Reply:
    """`POST /oauth/token`: a form-encoded grant, answered `Cache-Control: no-store`."""
    form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
    instead = app.faults.answer_instead()
    if instead is not None:
        app.count(KEY, instead.status)
        return instead
    if app.faults.roll("token_redirect"):
        app.count(KEY, 307)
        return Reply(307, b"", {"Location": TOKEN_REDIRECT_TARGET})
    config, tokens = app.config, app.tokens
    status, body = 200, None
    if form.get("client_id") != config.client_id or not secrets.compare_digest(
        form.get("client_secret", ""), config.client_secret
    ):
        status, body = 401, {"error": "invalid_client", "error_description": "Unknown client"}
    elif form.get("grant_type") == "client_credentials":
        body = tokens.issue(config.client_id, with_refresh=False)
    elif form.get("grant_type") == "refresh_token":
        owner = tokens.spend_refresh(form.get("refresh_token", ""))
        if owner is None:
            status = 400
            body = {"error": "invalid_grant", "error_description": "Refresh token not valid"}
        else:
            body = tokens.issue(owner, with_refresh=True)
            if app.faults.roll("refresh_race"):
                app.count(KEY, 0)
                return Reply.dropped()
    else:
        status = 400
        body = {"error": "unsupported_grant_type", "error_description": "Unknown grant"}
    app.count(KEY, status)
    return Reply.json(status, body, {"Cache-Control": "no-store"})
