"""MindzPayAuthenticator: OAuth2 access tokens shared by every stream of a run.

Grants (RFC 6749, form-encoded ``POST {token_url}``):

* ``client_credentials`` with ``client_id`` (APP_ID), ``client_secret`` (API_KEY), ``scope``;
* ``refresh_token`` with ``refresh_token``, ``client_id``, ``client_secret`` when a refresh token
  is configured. The response may rotate the refresh token (the old one stops working); the new
  one is kept for the rest of the run.

The token is fetched lazily, refreshed ``skew_seconds`` before it expires (clock skew, slow
requests), and ``invalidate(token)`` drops it after a 401 so the next caller fetches a new one;
only one thread fetches at a time and the others reuse its result. Secrets never reach a log
line or an exception: every text that may echo one goes through ``redact``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import TYPE_CHECKING, Any

import requests
from singer_sdk.authenticators import APIAuthenticatorBase
from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

from tap_mindzpay.endpoints import GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH_TOKEN

if TYPE_CHECKING:
    from collections.abc import Callable

#: Refresh this long before the announced expiry.
DEFAULT_SKEW_SECONDS = 60.0
#: Attempts at the token endpoint before giving up (the tap passes ``max_retries`` + 1).
TOKEN_ATTEMPTS = 4
#: Backoff between token attempts: jittered, doubling from this, capped.
TOKEN_BACKOFF_BASE_SECONDS = 0.5
TOKEN_BACKOFF_CAP_SECONDS = 30.0
#: A token endpoint's Retry-After beyond this is treated as this.
RETRY_AFTER_CAP_SECONDS = 300.0
REDACTED = "***"
HTTP_SERVER_ERROR = 500
HTTP_429 = 429
#: Statuses of the token endpoint that mean "these credentials are refused" (RFC 6749 5.2).
CREDENTIAL_REJECTED = frozenset({400, 401, 403})


class AuthenticationError(FatalAPIError):
    """The token endpoint rejected the credentials; the message names the setting to check."""


def grant_body(
    *,
    client_id: str,
    client_secret: str,
    refresh_token: str | None = None,
    scope: str | None = None,
) -> dict[str, str]:
    """The form body of a token request: the refresh_token grant if a token is given."""
    body: dict[str, str]
    if refresh_token:
        body = {"grant_type": GRANT_REFRESH_TOKEN, "refresh_token": refresh_token}
    else:
        body = {"grant_type": GRANT_CLIENT_CREDENTIALS}
    body["client_id"] = client_id
    body["client_secret"] = client_secret
    if scope:
        body["scope"] = scope
    return body


def token_backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Wait before token attempt ``attempt + 1``: doubling with jitter, at least Retry-After."""
    ceiling = min(TOKEN_BACKOFF_CAP_SECONDS, TOKEN_BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
    wait = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography
    if retry_after is not None:
        wait = max(wait, min(retry_after, RETRY_AFTER_CAP_SECONDS))
    return wait


def _retry_after(response: requests.Response) -> float | None:
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class MindzPayAuthenticator(APIAuthenticatorBase):
    """Bearer tokens from the MindzPay token endpoint, one per run, thread-safe.

    Args:
        token_url: The token endpoint.
        client_id: APP_ID (setting ``client_id``).
        client_secret: API_KEY (setting ``client_secret``).
        refresh_token: Optional refresh token (setting ``refresh_token``).
        scope: Optional OAuth2 scope.
        session: HTTP session for the token endpoint.
        timeout: Seconds before a token request is abandoned.
        user_agent: Sent as ``User-Agent``.
        skew_seconds: Refresh margin before expiry.
        clock: Monotonic clock (injectable for tests).
        max_attempts: Attempts at the token endpoint on transient failures (429, 5xx,
            resets, timeouts, undecodable bodies) before giving up.
    """

    def __init__(  # noqa: PLR0913 - explicit arguments, no config dict read inside
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str | None = None,
        scope: str | None = None,
        session: requests.Session | None = None,
        timeout: float = 60.0,
        user_agent: str = "tap-mindzpay",
        skew_seconds: float = DEFAULT_SKEW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_attempts: int = TOKEN_ATTEMPTS,
    ) -> None:
        """Keep the credentials; no request is made until a token is needed."""
        super().__init__()
        self.logger = logging.getLogger("tap-mindzpay.auth")
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self.scope = scope
        self._session = session or requests.Session()
        self._timeout = timeout
        self._user_agent = user_agent
        self._skew = skew_seconds
        self._clock = clock
        self._max_attempts = max(1, max_attempts)
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self._secrets: set[str] = {s for s in (client_secret, refresh_token) if s}
        self.token_requests = 0

    @property
    def refresh_token(self) -> str | None:
        """The refresh token in use (the latest one if the API rotated it)."""
        return self._refresh_token

    def redact(self, text: str) -> str:
        """``text`` with every secret this authenticator has seen replaced by ``***``."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def access_token(self) -> str:
        """A valid access token, fetched or refreshed when missing or about to expire."""
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at - self._skew:
                self._fetch_token()
            assert self._token is not None  # noqa: S101 - set by _fetch_token or it raised
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` after the API answered 401 to it (no-op if already replaced)."""
        with self._lock:
            if self._token == token:
                self._token = None

    @override
    def authenticate_request(
        self,
        request: requests.PreparedRequest,
    ) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.access_token()}"
        return request

    def _fetch_token(self) -> None:
        """Run the grant; keep the access token, its expiry and a rotated refresh token."""
        try:
            body = self._post_grant(refresh_token=self._refresh_token)
        except AuthenticationError:
            if not self._refresh_token:
                raise
            # The refresh token may have been rotated by a response we never received.
            self.logger.warning(
                "MindzPay rejected the refresh token; retrying with the client_credentials "
                "grant (setting client_id/client_secret)."
            )
            self._refresh_token = None
            body = self._post_grant(refresh_token=None)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            msg = f"MindzPay token endpoint {self.token_url} answered without an access_token"
            raise FatalAPIError(msg)
        self._secrets.add(token)
        rotated = body.get("refresh_token")
        if isinstance(rotated, str) and rotated:
            self._secrets.add(rotated)
            self._refresh_token = rotated
        try:
            expires_in = float(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            expires_in = 3600.0
        self._token = token
        self._expires_at = self._clock() + expires_in
        self.logger.info("Obtained a MindzPay access token (expires in %.0f s).", expires_in)

    def _post_grant(self, *, refresh_token: str | None) -> dict[str, Any]:
        data = grant_body(
            client_id=self.client_id,
            client_secret=self._client_secret,
            refresh_token=refresh_token,
            scope=self.scope,
        )
        headers = {"User-Agent": self._user_agent, "Accept": "application/json"}
        for attempt in range(1, self._max_attempts + 1):
            self.token_requests += 1
            retry_after: float | None = None
            try:
                response = self._session.post(
                    self.token_url, data=data, headers=headers, timeout=self._timeout
                )
                if response.status_code < HTTP_SERVER_ERROR and response.status_code != HTTP_429:
                    return self._token_response_body(response, refresh_token=refresh_token)
                problem = f"HTTP {response.status_code}"
                retry_after = _retry_after(response)
            except (requests.ConnectionError, requests.Timeout, ValueError) as exc:
                problem = type(exc).__name__
            if attempt == self._max_attempts:
                msg = (
                    f"MindzPay token endpoint {self.token_url} failed {attempt} times "
                    f"(last: {problem}); check token_url/api_url and the platform's status, "
                    "or raise the setting max_retries"
                )
                raise FatalAPIError(msg)
            wait = token_backoff_seconds(attempt, retry_after)
            self.logger.warning(
                "Token request failed (%s); retry %d/%d in %.1f s",
                problem,
                attempt,
                self._max_attempts - 1,
                wait,
            )
            time.sleep(wait)
        raise AssertionError  # pragma: no cover - the loop returns or raises

    def _token_response_body(
        self, response: requests.Response, *, refresh_token: str | None
    ) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.ok and isinstance(body, dict):
            return body
        if response.ok:
            msg = "undecodable token response"
            raise ValueError(msg)  # retried by the caller like a truncated body
        error = description = ""
        if isinstance(body, dict):
            error = str(body.get("error", ""))
            description = str(body.get("error_description", ""))
        detail = self.redact(f"{error}: {description}" if description else error) or "no detail"
        if response.status_code not in CREDENTIAL_REJECTED:
            msg = (
                f"MindzPay token endpoint {self.token_url} answered HTTP "
                f"{response.status_code} ({detail}); check the settings token_url and api_url"
            )
            raise FatalAPIError(msg)
        settings = "refresh_token" if refresh_token else "client_id and client_secret"
        msg = (
            f"MindzPay rejected the credentials at {self.token_url} "
            f"(HTTP {response.status_code}, {detail}); check the settings {settings}"
        )
        raise AuthenticationError(msg)
