"""MindzPayAuthenticator: OAuth2 access tokens shared by every stream of a run.

Grants (RFC 6749, form-encoded ``POST {token_url}``):

* ``client_credentials`` with ``client_id`` (APP_ID), ``client_secret`` (API_KEY), ``scope``;
* ``refresh_token`` with ``refresh_token``, ``client_id``, ``client_secret`` when a refresh token
  is configured. The response may rotate the refresh token (the old one stops working); the new
  one is kept for the rest of the run and, with ``refresh_token_file``, written to that file
  (mode 0600, replaced atomically) so that the next run starts from it.

A refused refresh token (spent, revoked) stops the run with one line naming the setting: a
silent switch to another grant could sync under another identity. The one exception is a
refusal that follows an unanswered attempt of this run with the same token (a reset or timeout
after the server rotated it): then the run goes on with the client_credentials grant, with a
warning that the next run needs a new refresh token.

The token is fetched lazily, refreshed a margin before it expires (clock skew, slow requests;
``refresh_margin``: 10% of the lifetime, at most ``skew_seconds``, so a short-lived token is
still used for most of its life), and ``invalidate(token)`` drops it after a 401 so the next
caller fetches a new one; only one thread fetches at a time and the others reuse its result.
Secrets never reach a log line or an exception: every text that may echo one goes through
``redact``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import requests
from singer_sdk.authenticators import APIAuthenticatorBase
from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

from tap_mindzpay.endpoints import GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH_TOKEN
from tap_mindzpay.http.redaction import Secrets
from tap_mindzpay.http.retry import backoff_seconds, retry_after_seconds
from tap_mindzpay.http.tokenfile import (
    first_refresh_token,
    keep_refresh_token,
    locked,
    read_refresh_token_file,
)
from tap_mindzpay.http.tokenreply import (
    AuthenticationError,
    require_one_line,
    token_response_body,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager
    from pathlib import Path

#: Refresh at most this long before the announced expiry...
DEFAULT_SKEW_SECONDS = 60.0
#: ...and at most this fraction of the token's lifetime before it (a 20 s token: 2 s).
SKEW_FRACTION = 0.1
#: Lifetime assumed when the token response has no usable ``expires_in``.
DEFAULT_EXPIRES_IN = 3600.0
#: Attempts at the token endpoint before giving up (the tap passes ``max_retries`` + 1).
TOKEN_ATTEMPTS = 4
#: Backoff between token attempts: jittered, doubling (``retry``), capped at this.
TOKEN_BACKOFF_CAP_SECONDS = 30.0
HTTP_SERVER_ERROR = 500
HTTP_429 = 429


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
    return backoff_seconds(attempt, retry_after, cap=TOKEN_BACKOFF_CAP_SECONDS)


def request_headers(user_agent: str) -> dict[str, str]:
    """The headers of every request to MindzPay (API and token endpoint)."""
    return {"User-Agent": user_agent, "Accept": "application/json"}


def access_token_of(body: object) -> str | None:
    """The ``access_token`` of a token response body, if it has a usable one."""
    token = body.get("access_token") if isinstance(body, dict) else None
    return token if isinstance(token, str) and token else None


def refresh_margin(expires_in: float, skew_seconds: float = DEFAULT_SKEW_SECONDS) -> float:
    """Seconds before expiry to fetch the next token: ``skew_seconds``, or 10% of a short life."""
    return max(0.0, min(skew_seconds, SKEW_FRACTION * expires_in))


def _expires_in(body: dict[str, Any]) -> float:
    """The token lifetime announced by a token response (3,600 s if absent or unusable)."""
    try:
        seconds = float(body.get("expires_in", DEFAULT_EXPIRES_IN))
    except (TypeError, ValueError):
        return DEFAULT_EXPIRES_IN
    return seconds if seconds > 0 and seconds != float("inf") else DEFAULT_EXPIRES_IN


class MindzPayAuthenticator(APIAuthenticatorBase):
    """Bearer tokens from the MindzPay token endpoint, one per run, thread-safe.

    Args:
        token_url: The token endpoint.
        client_id: APP_ID (setting ``client_id``).
        client_secret: API_KEY (setting ``client_secret``).
        refresh_token: Optional refresh token (setting ``refresh_token``).
        refresh_token_file: Optional file keeping the latest refresh token across runs
            (setting ``refresh_token_file``); when it holds one, it wins over ``refresh_token``.
        scope: Optional OAuth2 scope.
        session: HTTP session for the token endpoint.
        timeout: Seconds before a token request is abandoned (setting ``request_timeout``).
        user_agent: Sent as ``User-Agent``.
        skew_seconds: Largest refresh margin before expiry (see ``refresh_margin``).
        clock: Monotonic clock (injectable for tests).
        max_attempts: Attempts at the token endpoint on transient failures (429, 5xx,
            resets, timeouts, undecodable bodies) before giving up.
        uninterrupted: A context in which a stop signal waits (the run's stop control): one
            grant attempt and the save of a rotated refresh token run inside it.
    """

    def __init__(  # noqa: PLR0913 - explicit arguments, no config dict read inside
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str | None = None,
        refresh_token_file: Path | None = None,
        scope: str | None = None,
        session: requests.Session | None = None,
        timeout: float,
        user_agent: str = "tap-mindzpay",
        skew_seconds: float = DEFAULT_SKEW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_attempts: int = TOKEN_ATTEMPTS,
        uninterrupted: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext,
    ) -> None:
        """Keep the credentials; no request is made until a token is needed."""
        super().__init__()
        self.logger = logging.getLogger("tap-mindzpay.auth")
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self._refresh_token_file = refresh_token_file
        if refresh_token_file is not None:
            refresh_token = first_refresh_token(refresh_token_file, refresh_token)
        self._refresh_token = refresh_token
        #: A grant with the current refresh token went unanswered (it may have rotated it).
        self._refresh_unanswered = False
        self.scope = scope
        self._session = session or requests.Session()
        self._timeout = timeout
        self._user_agent = user_agent
        self._skew = skew_seconds
        self._clock = clock
        self._max_attempts = max(1, max_attempts)
        self._uninterrupted = uninterrupted
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self._secrets = Secrets(client_secret, refresh_token)
        self.token_requests = 0

    @property
    def refresh_token(self) -> str | None:
        """The refresh token in use (the latest one if the API rotated it)."""
        return self._refresh_token

    def redact(self, text: str) -> str:
        """``text`` with every secret this authenticator has seen replaced by ``***``."""
        return self._secrets.redact(text)

    def access_token(self) -> str:
        """A valid access token, fetched or refreshed when missing or about to expire."""
        with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
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
        """Run the grant; keep the access token, when to refresh it, a rotated refresh token."""
        try:
            body = self._post_grant(refresh=bool(self._refresh_token))
        except AuthenticationError:
            if not self._refresh_token or not self._refresh_unanswered:
                raise
            # This run's own unanswered attempt may have rotated the token (answer lost).
            self.logger.warning(
                "MindzPay refused the refresh token after an unanswered attempt (the rotated "
                "token was probably lost on the way); continuing with the client_credentials "
                "grant. The next run needs a new refresh token (setting %s).",
                self._refresh_setting,
            )
            self._refresh_token = None
            body = self._post_grant(refresh=False)
        token = access_token_of(body)
        if token is None:
            msg = f"MindzPay token endpoint {self.token_url} answered without an access_token"
            raise FatalAPIError(msg)
        self._secrets.add(token)
        require_one_line(token, token_url=self.token_url, what="an access_token")
        self._refresh_unanswered = False
        expires_in = _expires_in(body)
        self._token = token
        self._refresh_at = self._clock() + expires_in - refresh_margin(expires_in, self._skew)
        self.logger.info("Obtained a MindzPay access token (expires in %.0f s).", expires_in)

    def _latest_refresh_token(self) -> str | None:
        """The refresh token to spend now: the file's, if another process rotated it since."""
        path = self._refresh_token_file
        kept = read_refresh_token_file(path) if path is not None else None
        if kept and kept != self._refresh_token:
            self._secrets.add(kept)
            self._refresh_token = kept
            self._refresh_unanswered = False
        return self._refresh_token

    def _take_rotated(self, body: dict[str, Any], refresh_token: str | None) -> None:
        """Keep the refresh token a grant rotated (for this run, and in the file if set)."""
        rotated = body.get("refresh_token")
        if not (refresh_token and isinstance(rotated, str) and rotated):
            return
        self._secrets.add(rotated)
        require_one_line(rotated, token_url=self.token_url, what="a rotated refresh_token")
        self._refresh_token = rotated
        if self._refresh_token_file is not None:
            keep_refresh_token(self._refresh_token_file, rotated, self.logger)

    @property
    def _refresh_setting(self) -> str:
        return "refresh_token_file" if self._refresh_token_file else "refresh_token"

    def _post_grant(self, *, refresh: bool) -> dict[str, Any]:
        """The token response body of a grant, retried on transient failures.

        Each attempt runs whole or not at all as far as a stop signal goes (``uninterrupted``)
        and, with ``refresh_token_file``, under the file's lock: the token the file holds now
        is spent, and the rotated one written, before another shard may grant.
        """
        headers = request_headers(self._user_agent)
        file_lock = self._refresh_token_file if refresh else None
        for attempt in range(1, self._max_attempts + 1):
            self.token_requests += 1
            retry_after: float | None = None
            with (
                self._uninterrupted(),
                locked(file_lock) if file_lock is not None else contextlib.nullcontext(),
            ):
                refresh_token = self._latest_refresh_token() if refresh else None
                data = grant_body(
                    client_id=self.client_id,
                    client_secret=self._client_secret,
                    refresh_token=refresh_token,
                    scope=self.scope,
                )
                try:
                    # Never follow a redirect: it would re-send the secret to another address.
                    response = self._session.post(
                        self.token_url,
                        data=data,
                        headers=headers,
                        timeout=self._timeout,
                        allow_redirects=False,
                    )
                    if (
                        response.status_code < HTTP_SERVER_ERROR
                        and response.status_code != HTTP_429
                    ):
                        body = token_response_body(
                            response,
                            token_url=self.token_url,
                            refresh_token=refresh_token,
                            refresh_setting=self._refresh_setting,
                            redact=self.redact,
                        )
                        self._take_rotated(body, refresh_token)
                        return body
                    problem = f"HTTP {response.status_code}"
                    retry_after = retry_after_seconds(response.headers)
                except (requests.ConnectionError, requests.Timeout, ValueError) as exc:
                    problem = type(exc).__name__
                if refresh_token:
                    self._refresh_unanswered = True
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
