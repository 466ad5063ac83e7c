"""The one request path of a stream: retries (``retry``), error mapping, the rate budget.

* 401: refresh the token and retry; still 401 after ``MAX_401_REFRESHES`` refreshes in a row:
  the credential is rejected (one line naming the settings to check);
* 429, 408, 5xx, connection resets, timeouts and truncated or undecodable bodies: retry with
  exponential backoff and jitter up to ``max_retries``, honouring ``Retry-After`` (which also
  pauses every caller through the rate budget); a host that refuses the run's first connection
  to it stops the run at once (``first_contact``);
* 403: stop, naming the account and the permission; any other 4xx: stop with the API's error
  code and message; every message passes the authenticator's secret filter;
* at most the run's adaptive concurrency limit in flight, across every thread (``concurrency``:
  it backs off on 429s, 503s and rising latency);
* a body over ``body.MAX_BODY_BYTES``, or JSON nested deeper than the decoder can follow: stop with
  one line naming the endpoint (no retry: the same request would get the same answer).

Before every request, and while it waits (for a token, before a retry), the path lets a stop
signal end the run at a safe point (``stopping``).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import msgspec
import requests
from requests.sessions import merge_setting

from tap_mindzpay.errors import (
    ForbiddenError,
    MindzPayAPIError,
    RetriesExhaustedError,
    error_detail,
)
from tap_mindzpay.http.body import read_bounded
from tap_mindzpay.http.retry import RETRY_AFTER_CAP_SECONDS, backoff_seconds
from tap_mindzpay.http.tokenreply import AuthenticationError
from tap_mindzpay.services import settle_environment
from tap_mindzpay.settings import DEFAULT_MAX_RETRIES, DEFAULT_REQUEST_TIMEOUT

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping

    from singer_sdk.helpers.types import Context

    from tap_mindzpay.http.body import BodyDecoder
    from tap_mindzpay.run.progress import PartitionReport
    from tap_mindzpay.services import RunServices

BACKOFF_CAP_SECONDS = 60.0
#: Token refreshes after consecutive 401s on one request before the credential counts as
#: rejected. Two, not one: a revocation can land between a token's issue and its first use
#: (the chaos suite saw it when a slow token endpoint took longer than the revocation period).
MAX_401_REFRESHES = 2
#: Statuses below 500 that are retried (after ``Retry-After`` if given).
RETRIED_STATUSES = frozenset({HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.REQUEST_TIMEOUT})
TRANSIENT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
_decoder = msgspec.json.Decoder()


def safe_decode(content: bytes) -> object:
    """The JSON value of a body, or ``None`` if it is not JSON (or nested beyond decoding)."""
    try:
        return _decoder.decode(content)
    except (msgspec.DecodeError, RecursionError):
        return None


class Requester:
    """The request path of one stream; see the module docstring.

    Args:
        services: The run's shared parts (API base, authenticator, rate budget, concurrency
            limit, stop control).
        session: The stream's HTTP session.
        name: The stream, named in error messages.
        resource: The API resource named in a 403's message.
        logger: The stream's logger.
        progress: The progress report of a partition context.
    """

    def __init__(  # noqa: PLR0913 - explicit parts, no stream reached into
        self,
        *,
        services: RunServices,
        session: requests.Session,
        name: str,
        resource: str,
        logger: logging.Logger,
        progress: Callable[[Context | None], PartitionReport],
    ) -> None:
        """Keep the parts; nothing is sent until ``request_json``."""
        self.services = services
        self.session = session
        self.name = name
        self.resource = resource
        self.logger = logger
        self.progress = progress
        config = services.config
        self.max_retries = int(config.get("max_retries", DEFAULT_MAX_RETRIES))
        self.timeout = int(config.get("request_timeout", DEFAULT_REQUEST_TIMEOUT))

    def request_json(  # noqa: PLR0913 - the request and its two answer options
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        context: Context | None = None,
        not_found_ok: bool = False,
        decoder: BodyDecoder | None = None,
    ) -> Any:  # noqa: ANN401 - decoded JSON
        """Send one API request with the retry and error policy; return the decoded body.

        ``not_found_ok``: return ``None`` on a 404 (a record deleted by support) instead of
        stopping. ``decoder``: decodes the body first; if it raises ``msgspec.DecodeError`` the
        body is decoded as plain JSON (``decoding.PageDecoder``).

        Raises:
            ForbiddenError: A 403 (the message names the permission to grant).
            RetriesExhaustedError: Still failing after ``max_retries`` retries.
            MindzPayAPIError: Any other 4xx that retrying cannot fix.
            AuthenticationError: Still 401 after refreshing the token.
        """
        auth = self.services.authenticator
        stop = self.services.stop
        path = url.removeprefix(self.services.api_base)
        report = self.progress(context)
        refreshes = 0
        attempt = 0
        while True:
            stop.check()
            with stop.waiting():  # the token endpoint may back off for 30 s
                token = auth.access_token()
            response, problem = self._send(method, url, params, token)
            report.request(None if response is None else response.status_code)
            retry_after: float | None = None
            if response is not None and response.status_code == HTTPStatus.UNAUTHORIZED:
                if refreshes >= MAX_401_REFRESHES:
                    raise self._credential_error(response, refreshes)
                refreshes += 1
                auth.invalidate(token)
                self.logger.info("401 on %s %s: refreshing the access token", method, path)
                continue
            # Any other outcome ends the 401 episode, a lost connection too: a 401 after a
            # retry's backoff is a new expiry or revocation (tokens are revoked at any time),
            # not the refreshed token being refused, so it earns its own refreshes.
            refreshes = 0
            if response is not None:
                done, body, problem, retry_after = self._outcome(
                    method, path, response, context, not_found_ok=not_found_ok, decoder=decoder
                )
                if done:
                    return body
            attempt += 1
            if attempt > self.max_retries:
                msg = (
                    f"{method} {path} failed {attempt} times (last: {problem}); the API is "
                    "unavailable or throttling - rerun later or raise the setting max_retries"
                )
                raise RetriesExhaustedError(msg, problem)
            wait = backoff_seconds(attempt, retry_after, cap=BACKOFF_CAP_SECONDS)
            self.logger.warning(
                "%s %s: %s; retry %d/%d in %.1f s",
                method,
                path,
                problem,
                attempt,
                self.max_retries,
                wait,
            )
            report.retry()
            with stop.waiting():
                stop.sleep(wait)

    def _outcome(  # noqa: PLR0913 - the response, where it was asked, the answer options
        self,
        method: str,
        path: str,
        response: requests.Response,
        context: Context | None,
        *,
        not_found_ok: bool,
        decoder: BodyDecoder | None,
    ) -> tuple[bool, Any, str, float | None]:
        """``(done, body, problem, retry_after)`` of a non-401 response; raises if fatal."""
        status = response.status_code
        if status in RETRIED_STATUSES or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            retry_after = self.services.rate_budget.retry_after(response.headers)
            if retry_after is not None:
                self.services.rate_budget.pause(min(retry_after, RETRY_AFTER_CAP_SECONDS))
            return False, None, f"HTTP {status}", retry_after
        if status == HTTPStatus.NOT_FOUND and not_found_ok:
            return True, None, "", None
        if status >= HTTPStatus.BAD_REQUEST:
            raise self._fatal_error(method, path, response, context)
        try:
            if decoder is not None:
                try:
                    return True, decoder.decode(response.content), "", None
                except msgspec.DecodeError:
                    pass  # not of the decoder's form: plain JSON below, shaped record by record
            return True, _decoder.decode(response.content), "", None
        except msgspec.DecodeError:
            return False, None, f"undecodable JSON body ({len(response.content)} bytes)", None
        except RecursionError:
            # The decoder follows nesting as deep as the interpreter's recursion limit (about
            # 1000 levels); the contract's records are at most a few levels deep.
            msg = (
                f"{method} {path} answered JSON nested deeper than can be decoded; no MindzPay "
                "record is nested like that - report the endpoint"
            )
            raise MindzPayAPIError(msg) from None

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, str | int] | None,
        token: str,
    ) -> tuple[requests.Response | None, str]:
        """One exchange under the rate budget and the concurrency limit: the response, or why not.

        The body is read. The slot (``concurrency``) is taken after the budget's wait and given
        back with the answer: none is held through a wait.
        """
        session, budget, slots = self.session, self.services.rate_budget, self.services.concurrency
        if session.trust_env:  # the first request: read the environment once, for the API host
            settle_environment(session, url)
        prepared = self._prepare(method, url, params, token)
        with self.services.stop.waiting():  # a Retry-After pauses everyone
            budget.acquire()
            slot = slots.acquire(self.services.stop.check)
        response: requests.Response | None = None
        try:
            answer = session.send(prepared, timeout=self.timeout, stream=True)
            # Read the body here, bounded, so that a reset mid-body is retried.
            read_bounded(answer, method, url.removeprefix(self.services.api_base))
            response = answer
        except TRANSIENT_ERRORS as exc:
            return None, type(exc).__name__
        finally:
            budget.observe(None if response is None else response.headers)
            status = None if response is None else response.status_code
            slots.release(slot, status, budget.limit)
        self.services.server_clock.observe(response.headers)
        return response, ""

    def _prepare(
        self,
        method: str,
        url: str,
        params: Mapping[str, str | int] | None,
        token: str,
    ) -> requests.PreparedRequest:
        """The request as ``Session.prepare_request`` builds it, without its per-request costs.

        Same method, URL, headers (the session's, ``Cookie`` from a copy of its jar, then
        ``Authorization``), body, the session's auth if it has one, and hooks: the same bytes
        on the wire (the session's environment is settled: ``services.settle_environment``).
        """
        session = self.session
        prepared = requests.PreparedRequest()
        prepared.prepare_method(method)
        if session.params:
            params = merge_setting(params, session.params)  # type: ignore[no-untyped-call]
        prepared.prepare_url(url, params)
        prepared.prepare_headers({k: v for k, v in session.headers.items() if v is not None})
        prepared.prepare_cookies(session.cookies.copy())
        prepared.prepare_body(None, None)
        if session.auth is not None:
            prepared.prepare_auth(session.auth)
        prepared.prepare_hooks(session.hooks)
        prepared.headers["Authorization"] = f"Bearer {token}"
        return prepared

    def _credential_error(self, response: requests.Response, refreshes: int) -> AuthenticationError:
        detail = error_detail(safe_decode(response.content)) or "no detail"
        msg = (
            f"MindzPay rejected the access token again after {refreshes} refreshes "
            f"(HTTP 401, {self.services.authenticator.redact(detail)}) "
            f"on stream {self.name}; check the settings client_id, client_secret and "
            "refresh_token, and that the API credential is still active"
        )
        return AuthenticationError(msg)

    def _fatal_error(
        self,
        method: str,
        path: str,
        response: requests.Response,
        context: Context | None,
    ) -> MindzPayAPIError:
        """The one-line error of a 4xx retrying cannot fix (``ForbiddenError`` for a 403)."""
        auth = self.services.authenticator
        body = safe_decode(response.content)
        detail = error_detail(body) or response.reason or "no detail"
        account = (context or {}).get("account_key") or (context or {}).get("account_id")
        where = f"stream {self.name}" + (f", account {account}" if account else "")
        if response.status_code == HTTPStatus.FORBIDDEN:
            remedy = (
                "leave that account out with the setting account_keys"
                if account
                else f"deselect the stream {self.name}"
            )
            msg = (
                f"MindzPay denied {method} {path} ({where}; HTTP 403, {detail}); give the API "
                f"credential {auth.client_id} read permission on {self.resource} under "
                f"Configurações > API (per-resource permissions), or {remedy}"
            )
            return ForbiddenError(auth.redact(msg))
        status = response.status_code
        msg = f"MindzPay answered {method} {path} with HTTP {status}, {detail} ({where})"
        return MindzPayAPIError(auth.redact(msg))
