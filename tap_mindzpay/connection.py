"""The connection check behind ``tap-mindzpay --test``: one line that says what works or what not.

Before the SDK's one-record-per-stream test, the tap asks for an access token and lists the
MindzPay accounts the credential can see, each in one plain HTTP exchange (no backoff: a check
should answer in seconds, and the exact failure matters more than getting through). The answer
is one line and an exit code:

| exit | line starts with | meaning |
|---|---|---|
| 0 | ``credential accepted, N MindzPay accounts visible: ...`` | ready to sync |
| 3 | ``bad client id or secret`` | the token endpoint (or the API) refused the credential |
| 4 | ``no MindzPay permission`` | a token, but 403 on the accounts list, or no account visible |
| 5 | ``unreachable host`` | connection refused, DNS failure, or no answer within request_timeout |
| 6 | ``TLS error`` | the TLS handshake failed (not https, untrusted certificate, interception) |
| 7 | ``unexpected answer`` | not the MindzPay contract (wrong URL, 5xx, no token, no list) |
| 8 | ``credential accepted ...; setting account_keys names accounts ...`` | a key not visible |

Exit 1 stays the config error of the CLI (a setting missing or invalid). The refresh-token grant
is not tried, because using a refresh token rotates it: the check proves the client_credentials
pair (APP_ID and API_KEY).

A sync knows the same at once: ``first_contact.FirstContact`` stops the run with one line when
a host refuses its first connection of the run.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from tap_mindzpay import endpoints
from tap_mindzpay.accounts import accounts_line
from tap_mindzpay.errors import error_detail
from tap_mindzpay.http.auth import access_token_of, grant_body, request_headers
from tap_mindzpay.http.first_contact import tls_advice
from tap_mindzpay.http.redaction import Secrets
from tap_mindzpay.http.retry import retry_after_seconds
from tap_mindzpay.read.paging import list_page, list_params

if TYPE_CHECKING:
    from collections.abc import Sequence

EXIT_OK = 0
EXIT_CREDENTIALS = 3
EXIT_FORBIDDEN = 4
EXIT_UNREACHABLE = 5
EXIT_TLS = 6
EXIT_UNEXPECTED = 7
EXIT_ACCOUNT_KEYS = 8

#: Attempts of one exchange answered 429 or 5xx (waiting Retry-After, at most RETRY_WAIT_CAP).
ATTEMPTS = 3
RETRY_WAIT_CAP = 5.0
#: Safety bound on account list pages.
MAX_PAGES = 1000
_CAUSES = (
    re.compile(r"\[SSL[^\]]*\][^'\"()]*"),
    re.compile(r"certificate verify failed[^'\"()]*"),
    re.compile(r"\[Errno -?\d+\][^'\"()]*"),
    re.compile(r"Name or service not known|Temporary failure in name resolution"),
    re.compile(r"timed out"),
)


@dataclass(frozen=True)
class CheckResult:
    """What the check found: the exit code, the one line, the visible accounts."""

    exit_code: int
    message: str
    accounts: tuple[dict[str, Any], ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the tap can sync with this configuration."""
        return self.exit_code == EXIT_OK


class _StopError(Exception):
    def __init__(self, exit_code: int, message: str) -> None:
        super().__init__(message)
        self.result = CheckResult(exit_code, message)


def _cause(exc: BaseException) -> str:
    """The useful part of a requests exception (``[Errno 111] Connection refused``)."""
    text = str(exc)
    for pattern in _CAUSES:
        found = pattern.search(text)
        if found:
            return found.group(0).strip(" ,.:")
    return type(exc).__name__


def _json(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def _error_detail(response: requests.Response) -> str:
    """``code: message`` of an API or OAuth2 error body, or the HTTP reason."""
    return error_detail(_json(response)) or response.reason or "no detail"


@dataclass
class ConnectionCheck:
    """Obtain a token and list the visible accounts; see the module docstring.

    Args:
        api_base: The API base URL (``api_url``, or the embedded sandbox's).
        token_url: The token endpoint.
        client_id: APP_ID.
        client_secret: API_KEY.
        timeout: Seconds per HTTP exchange (``request_timeout``).
        scope: Optional OAuth2 scope.
        account_keys: The setting ``account_keys`` (empty: every visible account).
        token_url_configured: Whether ``token_url`` was set (names the setting to check).
        user_agent: Sent as ``User-Agent``.
        sandbox: Whether the API is the embedded sandbox (a refused secret is then the
            setting's, not the platform admin's).
    """

    api_base: str
    token_url: str
    client_id: str
    client_secret: str
    timeout: float
    scope: str | None = None
    account_keys: Sequence[str] = ()
    token_url_configured: bool = False
    user_agent: str = "tap-mindzpay"
    sandbox: bool = False
    session: requests.Session = field(default_factory=requests.Session)
    _secrets: Secrets = field(default_factory=Secrets)

    def run(self) -> CheckResult:
        """Run the check; never raises for a connection or API problem."""
        self._secrets.add(self.client_secret)
        try:
            token = self._token()
            accounts = self._accounts(token)
        except _StopError as stop:
            return CheckResult(stop.result.exit_code, self._redact(stop.result.message))
        return self._verdict(accounts)

    # -- steps ---------------------------------------------------------------------------

    def _token(self) -> str:
        data = grant_body(
            client_id=self.client_id, client_secret=self.client_secret, scope=self.scope
        )
        response = self._exchange("POST", self.token_url, data=data)
        status = response.status_code
        where = f"MindzPay's token endpoint {self.token_url}"
        if status in {HTTPStatus.BAD_REQUEST, HTTPStatus.UNAUTHORIZED}:
            fix = (
                "the embedded sandbox (sandbox: true) takes its demo app only: unset "
                "client_id and client_secret"
                if self.sandbox
                else "check client_id (APP_ID) and client_secret (API_KEY) under "
                "Configurações > API in the Mindz admin"
            )
            msg = (
                f"bad client id or secret: {where} refused client_id {self.client_id} "
                f"(HTTP {status}, {_error_detail(response)}); {fix}"
            )
            raise _StopError(EXIT_CREDENTIALS, msg)
        if status == HTTPStatus.FORBIDDEN:
            msg = (
                f"no MindzPay permission: {where} denied client_id {self.client_id} "
                f"(HTTP 403, {_error_detail(response)}); give the API credential access to "
                "MindzPay under Configurações > API"
            )
            raise _StopError(EXIT_FORBIDDEN, msg)
        if status != HTTPStatus.OK:
            raise self._unexpected(response, where, self._url_setting(self.token_url))
        token = access_token_of(_json(response))
        if token is None:
            msg = (
                f"unexpected answer: {where} answered HTTP 200 without an access_token; check "
                f"that {self._url_setting(self.token_url)} points at the MindzPay API"
            )
            raise _StopError(EXIT_UNEXPECTED, msg)
        self._secrets.add(token)
        return token

    def _accounts(self, token: str) -> list[dict[str, Any]]:
        url = self.api_base + endpoints.ACCOUNTS_PATH
        headers = {"Authorization": f"Bearer {token}"}
        accounts: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            params = list_params(endpoints.MAX_PAGE_SIZE, len(accounts))
            response = self._exchange("GET", url, params=params, headers=headers)
            page, total = self._account_page(response)
            accounts += page
            if not page or total is None or len(accounts) >= total:
                break
        return accounts

    def _account_page(self, response: requests.Response) -> tuple[list[dict[str, Any]], int | None]:
        status = response.status_code
        where = f"GET {endpoints.ACCOUNTS_PATH}"
        if status == HTTPStatus.UNAUTHORIZED:
            msg = (
                f"bad client id or secret: the token endpoint issued a token, but {where} "
                f"refused it (HTTP 401, {_error_detail(response)}); check that the API "
                f"credential {self.client_id} is active under Configurações > API"
            )
            raise _StopError(EXIT_CREDENTIALS, msg)
        if status == HTTPStatus.FORBIDDEN:
            msg = (
                f"no MindzPay permission: the credential was accepted, but {where} answered "
                f"HTTP 403 ({_error_detail(response)}); give the API credential "
                f"{self.client_id} read permission on MindzPay under Configurações > API"
            )
            raise _StopError(EXIT_FORBIDDEN, msg)
        if status != HTTPStatus.OK:
            raise self._unexpected(response, where, "api_url")
        envelope = list_page(_json(response))
        if envelope is None:
            msg = (
                f"unexpected answer: {where} did not return a list envelope "
                "{'data': [...], 'meta': {...}}; check that api_url is "
                "https://{platform}.mindz.com.br/api/v2"
            )
            raise _StopError(EXIT_UNEXPECTED, msg)
        return [record for record in envelope.records if isinstance(record, dict)], envelope.total

    def _verdict(self, accounts: list[dict[str, Any]]) -> CheckResult:
        if not accounts:
            msg = (
                "no MindzPay permission: the credential was accepted, but no MindzPay account "
                f"is visible to it; give the API credential {self.client_id} read permission "
                "on MindzPay accounts under Configurações > API"
            )
            return CheckResult(EXIT_FORBIDDEN, msg)
        line, missing = accounts_line(accounts, self.account_keys)
        code = EXIT_ACCOUNT_KEYS if missing else EXIT_OK
        return CheckResult(code, self._redact(line), tuple(accounts))

    # -- plumbing ------------------------------------------------------------------------

    def _url_setting(self, url: str) -> str:
        return "token_url" if url == self.token_url and self.token_url_configured else "api_url"

    def _exchange(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # noqa: ANN401
        """One request (again on 429/5xx, at most ``ATTEMPTS``); connection problems stop."""
        headers = {**request_headers(self.user_agent), **kwargs.pop("headers", {})}
        host = urlsplit(url).netloc
        setting = self._url_setting(url)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = self.session.request(
                    method, url, headers=headers, timeout=self.timeout, **kwargs
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise self._unreachable(exc, host, setting) from exc
            transient = (
                response.status_code == HTTPStatus.TOO_MANY_REQUESTS
                or response.status_code >= HTTPStatus.INTERNAL_SERVER_ERROR
            )
            if not transient or attempt == ATTEMPTS:
                return response
            wait = retry_after_seconds(response.headers)
            time.sleep(min(1.0 if wait is None else wait, RETRY_WAIT_CAP))
        raise AssertionError  # pragma: no cover - the loop returns or raises

    def _unreachable(self, exc: requests.RequestException, host: str, setting: str) -> _StopError:
        """The check's line for an exchange that got no answer (TLS, timeout, connection)."""
        if isinstance(exc, requests.exceptions.SSLError):
            return _StopError(
                EXIT_TLS,
                f"TLS error: the TLS handshake with {host} failed ({_cause(exc)}); "
                + tls_advice(setting),
            )
        if isinstance(exc, requests.Timeout):
            return _StopError(
                EXIT_UNREACHABLE,
                f"unreachable host: no answer from {host} within {self.timeout:g} s; check "
                f"{setting}, the network path (firewall, proxy) and the setting request_timeout",
            )
        return _StopError(
            EXIT_UNREACHABLE,
            f"unreachable host: cannot connect to {host} ({_cause(exc)}); check "
            f"{setting} and that this machine can reach it (DNS, firewall, proxy)",
        )

    def _unexpected(self, response: requests.Response, where: str, setting: str) -> _StopError:
        status = response.status_code
        if status == HTTPStatus.NOT_FOUND:
            hint = f"check {setting} (https://{{platform}}.mindz.com.br/api/v2)"
        elif status >= HTTPStatus.INTERNAL_SERVER_ERROR or status == HTTPStatus.TOO_MANY_REQUESTS:
            hint = f"the platform is failing or throttling ({ATTEMPTS} attempts); try again later"
        else:
            hint = f"check {setting} and the API contract notes in the README"
        detail = _error_detail(response)
        msg = f"unexpected answer: {where} answered HTTP {status} ({detail}); {hint}"
        return _StopError(EXIT_UNEXPECTED, msg)

    def _redact(self, text: str) -> str:
        return self._secrets.redact(text)
