"""MindzPayStream: everything the MindzPay streams share, so that a stream is a few lines.

* URL base, credentials and the rate budget come from the tap (one of each per run);
* one request path (``request_json``) with the error policy: 401 -> refresh the token and
  retry (a third 401 in a row: the credential is rejected); 429, 5xx, connection resets,
  timeouts and truncated or undecodable bodies -> retry with exponential backoff and jitter up
  to ``max_retries``, honouring ``Retry-After`` (a host that refuses the run's first
  connection to it stops the run at once: ``connection.FirstContact``); 403 -> stop, naming
  the account and the permission; any other 4xx -> stop with the API's error code and message;
  every message passes the authenticator's secret filter;
* id-guarded offset paging (``paging.OffsetPaginator``) ascending by id, starting after the
  partition's bookmark (``replication_key_value``) at the offset hint kept in the same partition
  state, so an interrupted run resumes mid-stream;
* money strings parsed into ``Decimal`` in ``post_process``;
* ``start_date`` applied to the per-account streams' records by ``created_at`` before change
  capture sees them (``before_start_date``), so a record created earlier is never emitted, never
  refreshed and never yields a status change; the accounts themselves are never filtered.

Partition state shape (per stream and account; the SDK owns the first three keys)::

    {"context": {"account_id": 1, "account_key": "acc_..."},
     "replication_key": "id", "replication_key_value": 1234,
     "offset_hint": 1200}

``offset_hint`` is an offset at or before the first record after the bookmark when the state was
written; it is verified by ids before use (see ``paging``), so a stale hint costs a request or
two, never a record. State without it pages from offset 0 and skips what is at or below the
bookmark.

Seam for change capture (issue 3): a stream may set ``capture_rule`` (a ``RefreshRule``: which
records are in flight and how to bring one up to date, used through ``refresh_record``); after
the new-records phase, ``get_records`` runs ``capture_changes(context)``, whose default yields
nothing. Records yielded by that phase do not move the id bookmark (``capturing`` is true while
it runs).
"""

from __future__ import annotations

import copy
import logging
import random
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from functools import cached_property
from http import HTTPStatus
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, cast

import msgspec
import requests
from singer_sdk.exceptions import (
    AbortedSyncFailedException,
    AbortedSyncPausedException,
    FatalAPIError,
    MaxRecordsLimitException,
)
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.streams import RESTStream
from typing_extensions import override

from tap_mindzpay import capture, endpoints
from tap_mindzpay.auth import AuthenticationError
from tap_mindzpay.endpoints import INVOICE_STATUS_LABELS
from tap_mindzpay.fastpath import FastRecordSync
from tap_mindzpay.paging import OffsetPaginator
from tap_mindzpay.schemas import money_as_strings, money_fields, money_text

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable, Iterator, Mapping

    from singer_sdk.helpers.types import Context
    from singer_sdk.tap_base import Tap

    from tap_mindzpay.auth import MindzPayAuthenticator
    from tap_mindzpay.connection import FirstContact
    from tap_mindzpay.progress import PartitionReport, RunReport
    from tap_mindzpay.ratebudget import RateBudget

OFFSET_HINT_KEY = "offset_hint"
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 60.0
#: A Retry-After beyond this is treated as this (a sync should not sleep for hours).
RETRY_AFTER_CAP_SECONDS = 300.0
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
BOOLEAN_TYPE = {"boolean", "null"}


def _package_version() -> str:
    try:
        return version("tap-mindzpay")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


class MindzPayServices(Protocol):
    """What a stream needs from the tap (the tap owns one of each per run)."""

    @property
    def api_base(self) -> str:
        """``api_url`` (or the embedded sandbox's), without a trailing slash."""

    @property
    def authenticator(self) -> MindzPayAuthenticator:
        """The run's shared authenticator."""

    @property
    def rate_budget(self) -> RateBudget:
        """The run's shared rate budget."""

    @property
    def run_report(self) -> RunReport:
        """The run's progress and summary counters (``progress``)."""

    @property
    def first_contact(self) -> FirstContact:
        """The hosts that answered during the run (``connection.FirstContact``)."""

    @property
    def stop_signal(self) -> int | None:
        """The signal that asked the run to stop, or ``None`` (see ``stop_if_asked``)."""

    #: The stream whose request path waits in the main thread (before a retry, or for a token),
    #: if any: a stop signal then stops it at once (``stop_if_asked``) instead of after the wait.
    sleeping_stream: MindzPayStream | None


@dataclass(frozen=True)
class RefreshRule:
    """How change capture keeps a stream's in-flight records current (issue 3).

    Attributes:
        in_flight: True for a record whose state may still change without a new id
            (invoices in 0, 1 or 4; pending payments).
        method: HTTP method of the per-record request (``POST`` for the invoice Refresh).
        path_suffix: Appended to the stream's list path; ``{id}`` is the record id.
        changes_stream: Name of the stream that gets one record per observed status
            transition (``invoice_status_changes``); ``None`` for no such stream.
    """

    in_flight: Callable[[Mapping[str, Any]], bool]
    method: str
    path_suffix: str
    changes_stream: str | None = None


class MindzPayAPIError(FatalAPIError):
    """The API refused a request in a way retrying cannot fix; the message says what to do."""


class MalformedRecordError(FatalAPIError):
    """A record broke the contract (names stream, record id and field)."""


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Wait before retry ``attempt`` (1-based): exponential with full jitter, or Retry-After."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
    wait = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography
    if retry_after is not None:
        wait = max(wait, min(retry_after, RETRY_AFTER_CAP_SECONDS))
    return wait


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds (the delta-seconds form), if present and sane."""
    value = headers.get(endpoints.HEADER_RETRY_AFTER)
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def api_error(body: object) -> tuple[str, str]:
    """``(code, message)`` of an error envelope, or empty strings."""
    if isinstance(body, dict):
        error = body.get(endpoints.ERROR_KEY)
        if isinstance(error, dict):
            return str(error.get(endpoints.ERROR_CODE, "")), str(
                error.get(endpoints.ERROR_MESSAGE, "")
            )
    return "", ""


class MindzPayStream(FastRecordSync, RESTStream[int]):
    """Base of every MindzPay stream: one request path, id-guarded paging, Decimal money."""

    primary_keys: ClassVar[tuple[str, ...]] = ("id",)
    #: API sort field for paging; ids only grow, so ascending id is the resumable order.
    sort_by: ClassVar[str] = "id"
    #: The API resource named in error messages ("invoices").
    resource: ClassVar[str] = ""
    #: Change-capture rule for issue 3 (``None``: new records only).
    capture_rule: ClassVar[RefreshRule | None] = None

    #: STATE at least this often, so that a killed run loses little work.
    STATE_MSG_FREQUENCY = 500

    #: The stream's JSON schema (see ``schemas``); copied per instance.
    record_schema: ClassVar[dict[str, Any]] = {}

    capturing = False
    _stop_logged = False
    _live_capture: tuple[capture.CaptureState, dict[str, Any]] | None = None
    _partition_report: PartitionReport | None = None
    _schema_sent = False
    _money_as_string = False

    #: Performance lever (issue 5): the SDK's type conformance walks every property of every
    #: record and costs about a third of a full sync's CPU. For a flat schema it can change
    #: only three things in records decoded from JSON and passed through ``post_process``:
    #: properties missing from the schema (dropped), booleans (``v != 0``) and non-finite
    #: numbers (null). ``conform_flat`` does exactly those per record and the SDK's pass is
    #: switched off; a schema with nested objects or arrays keeps the SDK's pass. Set to
    #: False for the plain SDK path; tests/test_fastpath_equivalence.py compares the two.
    fast_conformance: ClassVar[bool] = True
    # Performance lever (issue 5): ``fast_records`` (from ``fastpath.FastRecordSync``) writes
    # RECORD lines straight from the record where the SDK's record steps are the identity.

    def __init__(self, tap: Tap) -> None:
        """Create the stream with its class's schema."""
        money_as_string = bool(tap.config.get("money_as_string"))
        schema = money_as_strings(self.record_schema) if money_as_string else self.record_schema
        super().__init__(tap, schema=copy.deepcopy(schema))
        self._money_as_string = money_as_string
        properties: dict[str, dict[str, Any]] = self.schema["properties"]
        self._known_properties = frozenset(properties)
        self._boolean_properties = tuple(
            name for name, prop in properties.items() if _types(prop) in ({"boolean"}, BOOLEAN_TYPE)
        )
        self._unknown_seen: set[frozenset[str]] = set()
        flat = not any(_types(prop) & {"object", "array"} for prop in properties.values())
        if self.fast_conformance and flat:
            self.TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    @override
    def log(self, message: str, *args: Any, level: int = logging.INFO, **kwargs: Any) -> None:
        # The SDK logs "An unhandled error occurred while syncing" at ERROR for every stream
        # that ``--test`` stops at its one-record limit; that stop is the test succeeding.
        error = sys.exc_info()[1]
        if (
            level >= logging.ERROR
            and isinstance(error, (AbortedSyncFailedException, AbortedSyncPausedException))
            and isinstance(error.__cause__, MaxRecordsLimitException)
        ):
            level = logging.DEBUG
        super().log(message, *args, level=level, **kwargs)

    @property
    def services(self) -> MindzPayServices:
        """The tap's shared URL base, authenticator and rate budget."""
        return cast("MindzPayServices", self._tap)

    @property
    @override
    def url_base(self) -> str:
        return self.services.api_base

    @property
    @override
    def authenticator(self) -> MindzPayAuthenticator:
        return self.services.authenticator

    @cached_property
    @override
    def user_agent(self) -> str:
        return str(self.config.get("user_agent") or f"tap-mindzpay/{_package_version()}")

    @property
    @override
    def timeout(self) -> int:
        return cast("int", self.config.get("request_timeout", 60))

    @cached_property
    def _session(self) -> requests.Session:
        session = requests.Session()
        pool = int(self.config.get("max_concurrency", 8))
        # A host that refuses the run's first connection stops the run at once (connection).
        adapter = self.services.first_contact.adapter(
            pool_connections=1, pool_maxsize=pool, max_retries=0
        )
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update({"User-Agent": self.user_agent, "Accept": "application/json"})
        return session

    @property
    @override
    def requests_session(self) -> requests.Session:
        return self._session

    def progress(self, context: Context | None) -> PartitionReport:
        """The progress and summary counters of this stream's partition ``context``."""
        return self.services.run_report.partition(self.name, context)

    @property
    def page_size(self) -> int:
        """The ``limit`` of every list request (setting ``page_size``)."""
        return int(self.config.get("page_size", endpoints.MAX_PAGE_SIZE))

    # -- one request path ------------------------------------------------------------------

    def request_json(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        context: Context | None = None,
        not_found_ok: bool = False,
    ) -> Any:  # noqa: ANN401 - decoded JSON
        """Send one API request with the retry and error policy; return the decoded body.

        ``not_found_ok``: return ``None`` on a 404 (a record deleted by support) instead of
        stopping.

        Raises:
            MindzPayAPIError: A 4xx that retrying cannot fix, or retries exhausted.
            AuthenticationError: Still 401 after refreshing the token.
        """
        auth = self.authenticator
        max_retries = int(self.config.get("max_retries", 8))
        path = url.removeprefix(self.url_base)
        report = self.progress(context)
        refreshes = 0
        attempt = 0
        while True:
            self.stop_if_asked()
            with self._stoppable():  # the token endpoint may back off for up to 30 s
                token = auth.access_token()
            response, problem = self._send(method, url, params, token)
            report.request(None if response is None else response.status_code)
            retry_after: float | None = None
            if response is not None:
                if response.status_code == HTTPStatus.UNAUTHORIZED:
                    if refreshes >= MAX_401_REFRESHES:
                        raise self._credential_error(response, refreshes)
                    refreshes += 1
                    auth.invalidate(token)
                    self.logger.info("401 on %s %s: refreshing the access token", method, path)
                    continue
                # Any other answer ends the 401 episode: a 401 after a 5xx and a backoff is
                # a new expiry or revocation (tokens are revoked at any time), not the
                # refreshed token being refused, so it earns its own refreshes.
                refreshes = 0
                done, body, problem, retry_after = self._outcome(
                    method, path, response, context, not_found_ok=not_found_ok
                )
                if done:
                    return body
            attempt += 1
            if attempt > max_retries:
                msg = (
                    f"{method} {path} failed {attempt} times (last: {problem}); the API is "
                    "unavailable or throttling - rerun later or raise the setting max_retries"
                )
                raise MindzPayAPIError(msg)
            wait = backoff_seconds(attempt, retry_after)
            self.logger.warning(
                "%s %s: %s; retry %d/%d in %.1f s",
                method,
                path,
                problem,
                attempt,
                max_retries,
                wait,
            )
            report.retry()
            with self._stoppable():
                time.sleep(wait)

    @contextmanager
    def _stoppable(self) -> Iterator[None]:
        """A wait between requests: in the main thread, a stop signal ends it and the run.

        Inside it nothing is half done (no record in flight, no message half written), so the
        signal handler may call ``stop_if_asked`` right away (``sleeping_stream``).
        """
        services = self.services
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        services.sleeping_stream = self
        try:
            yield
        finally:
            services.sleeping_stream = None

    def stop_if_asked(self) -> None:
        """Stop the run here if a signal asked for it (``TapMindzPay._handle_termination``).

        Called before every request and, from the signal handler, while the main thread waits
        before a retry or for a token (``_stoppable``): at those points nothing is half done.
        In the main thread every record yielded so far has been written and counted in the
        bookmark and the capture state, so a STATE written now is safe to resume from. A
        refresh worker thread only raises; the main thread then exits without a new STATE, and
        the last one written (at a capture checkpoint) is safe.

        Raises:
            SystemExit: With 128 + the signal number, as a process killed by it would.
        """
        signum = self.services.stop_signal
        if signum is None:
            return
        if threading.current_thread() is threading.main_thread():
            self.state_manager.is_flushed = False
            self._write_state_message()
            self.logger.error(
                "Stopped by signal %d before the next request; the STATE just written is safe "
                "to resume from.",
                signum,
            )
        elif not self._stop_logged:
            self._stop_logged = True
            self.logger.error(
                "Stopped by signal %d while refreshing; the last STATE written is safe to "
                "resume from.",
                signum,
            )
        raise SystemExit(128 + signum)

    def _outcome(
        self,
        method: str,
        path: str,
        response: requests.Response,
        context: Context | None,
        *,
        not_found_ok: bool,
    ) -> tuple[bool, Any, str, float | None]:
        """``(done, body, problem, retry_after)`` of a non-401 response; raises if fatal."""
        status = response.status_code
        if status in RETRIED_STATUSES or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            retry_after = retry_after_seconds(response.headers)
            if retry_after is not None:
                self.services.rate_budget.pause(min(retry_after, RETRY_AFTER_CAP_SECONDS))
            return False, None, f"HTTP {status}", retry_after
        if status == HTTPStatus.NOT_FOUND and not_found_ok:
            return True, None, "", None
        if status >= HTTPStatus.BAD_REQUEST:
            raise self._fatal_error(method, path, response, context)
        try:
            return True, _decoder.decode(response.content), "", None
        except msgspec.DecodeError:
            return False, None, f"undecodable JSON body ({len(response.content)} bytes)", None

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, str | int] | None,
        token: str,
    ) -> tuple[requests.Response | None, str]:
        """One HTTP exchange under the rate budget: the response (body read), or the problem."""
        session, budget = self.requests_session, self.services.rate_budget
        prepared = session.prepare_request(requests.Request(method, url, params=params))
        prepared.headers["Authorization"] = f"Bearer {token}"
        budget.acquire()
        try:
            response = session.send(prepared, timeout=self.timeout)
            _ = response.content  # read the body here so that a reset mid-body is retried
        except TRANSIENT_ERRORS as exc:
            budget.observe(None)
            return None, type(exc).__name__
        budget.observe(response.headers)
        return response, ""

    def _credential_error(self, response: requests.Response, refreshes: int) -> AuthenticationError:
        code, message = api_error(_safe_decode(response.content))
        detail = self.authenticator.redact(f"{code}: {message}" if code else "no detail")
        msg = (
            f"MindzPay rejected the access token again after {refreshes} refreshes "
            f"(HTTP 401, {detail}) "
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
        code, message = api_error(_safe_decode(response.content))
        detail = f"{code}: {message}" if code else (response.reason or "no detail")
        account = (context or {}).get("account_key") or (context or {}).get("account_id")
        where = f"stream {self.name}" + (f", account {account}" if account else "")
        if response.status_code == HTTPStatus.FORBIDDEN:
            msg = (
                f"MindzPay denied {method} {path} ({where}; HTTP 403, {detail}); give the API "
                f"credential {self.authenticator.client_id} read permission on "
                f"{self.resource or self.name} under Configurações > API, or leave that "
                "account out with the setting account_keys"
            )
        else:
            msg = (
                f"MindzPay answered {method} {path} with HTTP {response.status_code}, "
                f"{detail} ({where})"
            )
        return MindzPayAPIError(self.authenticator.redact(msg))

    def refresh_record(self, context: Context | None, record_id: int) -> dict[str, Any] | None:
        """The record as the API has it now, through ``capture_rule``; ``None`` if deleted.

        Raises:
            MindzPayAPIError: The stream has no rule, or the API refused the request.
        """
        rule = self.capture_rule
        if rule is None:
            msg = f"stream {self.name} has no capture_rule to refresh records with"
            raise MindzPayAPIError(msg)
        url = self.get_url(context) + rule.path_suffix.format(id=record_id)
        body = self.request_json(rule.method, url, context=context, not_found_ok=True)
        self.progress(context).refreshed()
        if body is None:
            return None
        data = body.get(endpoints.ENVELOPE_DATA, body) if isinstance(body, dict) else None
        if not isinstance(data, dict):
            msg = f"{rule.method} {url.removeprefix(self.url_base)} did not return a record"
            raise MindzPayAPIError(msg)
        return data

    # -- paging --------------------------------------------------------------------------

    @override
    def get_url_params(
        self,
        context: Context | None,
        next_page_token: int | None,
    ) -> dict[str, Any]:
        return {
            endpoints.PARAM_LIMIT: self.page_size,
            endpoints.PARAM_OFFSET: next_page_token or 0,
            endpoints.PARAM_SORT_BY: self.sort_by,
            endpoints.PARAM_SORT_DIRECTION: endpoints.SORT_ASCENDING,
        }

    @override
    def get_new_paginator(self) -> OffsetPaginator:  # type: ignore[override]
        return OffsetPaginator(self.page_size)

    def new_records_paginator(self, context: Context | None) -> OffsetPaginator:
        """A paginator starting after the partition's bookmark, at its offset hint."""
        if self.replication_key is None:
            return self.get_new_paginator()
        state = self.get_context_state(context)
        after = self.get_starting_replication_key_value(context)
        hint = state.get(OFFSET_HINT_KEY)
        return OffsetPaginator(
            self.page_size,
            after_id=int(after) if after is not None else None,
            offset_hint=hint if isinstance(hint, int) else None,
        )

    def parse_page(self, body: object, url: str) -> tuple[list[dict[str, Any]], int | None]:
        """Records and ``meta.total`` of a list envelope.

        Raises:
            MindzPayAPIError: The body is not a list envelope.
        """
        data = body.get(endpoints.ENVELOPE_DATA) if isinstance(body, dict) else None
        if not isinstance(data, list):
            msg = f"GET {url} did not return a list envelope {{'data': [...], 'meta': {{...}}}}"
            raise MindzPayAPIError(msg)
        meta = body.get(endpoints.ENVELOPE_META) if isinstance(body, dict) else None
        total = meta.get(endpoints.META_TOTAL) if isinstance(meta, dict) else None
        return data, total if isinstance(total, int) else None

    @override
    def request_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Page the list ascending by id from the bookmark; ids guard against offset shifts."""
        paginator = self.new_records_paginator(context)
        url = self.get_url(context)
        state = self.get_context_state(context) if self.replication_key else None
        report = self.progress(context)
        with self.get_http_request_counter() as counter:
            counter.with_context(context)
            while not paginator.finished:
                offset = paginator.current_value
                params = self.get_url_params(context, offset)
                body = self.request_json("GET", url, params=params, context=context)
                counter.increment()
                records, total = self.parse_page(body, url)
                report.listed(offset, len(records), total)
                ids = [self._record_id(record) for record in records]
                start = paginator.advance(ids, total)
                if start < len(records) and state is not None:
                    state[OFFSET_HINT_KEY] = offset
                yield from records[start:]

    def _record_id(self, record: object) -> int:
        record_id = record.get("id") if isinstance(record, dict) else None
        if not isinstance(record_id, int) or isinstance(record_id, bool):
            msg = f"stream {self.name}: a record has no integer id: {str(record)[:200]}"
            raise MalformedRecordError(msg)
        return record_id

    @override
    def parse_response(self, response: requests.Response) -> Iterator[dict[str, Any]]:
        records, _ = self.parse_page(_safe_decode(response.content), response.url)
        yield from records

    # -- records -------------------------------------------------------------------------

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """New records by id, then the change-capture phases (``capture``: refresh, sweep)."""
        if self.replication_key is None:
            yield from self.request_records(context)
            return
        partition = self.get_context_state(context)
        where = f"stream {self.name}, account {(context or {}).get('account_key')}"
        had_bookmark = self.get_starting_replication_key_value(context) is not None
        upgrade = had_bookmark and capture.CAPTURE_KEY not in partition
        state = capture.CaptureState.read(partition, where)
        if not had_bookmark and state.known is None:
            state.known = capture.IdSet()
        interval = float(self.config.get("sweep_interval_hours", 24))
        now = datetime.now(timezone.utc)
        # Known before the new records are read: the phases below do not move ``sweep_at``.
        sweep = upgrade or (state.sweep_at is not None and state.sweep_due(interval, now))
        engine = capture.Engine(
            state=state,
            in_flight_rule=self.capture_rule.in_flight if self.capture_rule else None,
            fetch=lambda record_id: self.refresh_record(context, record_id),
            page_all=lambda: self._page_all(context),
            checkpoint=lambda: self._checkpoint(state, partition),
            max_concurrency=int(self.config.get("max_concurrency", 8)),
            on_change=self._transition_writer(context),
            track_statuses=bool(self.capture_rule and self.capture_rule.changes_stream),
            now=now,
            sweep_follows=sweep,
        )
        self._live_capture = (state, partition)
        report = self.progress(context)
        report.attach_capture(engine.counts)
        try:
            for record in self.request_records(context):
                if self.before_start_date(record):
                    # Read but not emitted: the id bookmark still moves past it, so the next
                    # run does not list it again.
                    self._increment_stream_state(record, context=context)
                    continue
                engine.observe_new(record)
                yield record
            self._checkpoint(state, partition)
            self.capturing = True
            report.refresh_started(len(state.in_flight))
            yield from engine.refresh()
            if sweep:
                yield from engine.sweep(emit_all=upgrade)
                # Records a merchant put back in flight (a cancel, a reissue) get their
                # provider's answer now rather than one sync later.
                report.refresh_started(len(engine.back_in_flight & state.in_flight.keys()))
                yield from engine.refresh(only=engine.back_in_flight)
            elif state.sweep_at is None:
                # A first full sync (or one resumed from its own STATE) has just read the
                # whole list: that is the first sweep.
                engine.first_sweep_done()
                self._checkpoint(state, partition)
        finally:
            self.capturing = False
            self._live_capture = None
        if engine.counts:
            self.logger.info("%s: change capture %s", where, engine.counts)

    def _transition_writer(
        self, context: Context | None
    ) -> Callable[[Mapping[str, Any], object, str], None] | None:
        """Where status transitions go: the rule's changes stream, if it has one, selected.

        The engine tracks statuses either way (``Engine.track_statuses``).
        """
        name = self.capture_rule.changes_stream if self.capture_rule else None
        target = self._tap.streams.get(name) if name else None
        if not isinstance(target, MindzPayStream) or not target.selected:
            return None
        report = self.progress(context)

        def write(record: Mapping[str, Any], previous: object, via: str) -> None:
            change = target.transition_record(record, previous, via, context)
            if change is not None:
                target.write_derived(change, report)

        return write

    def transition_record(
        self,
        record: Mapping[str, Any],
        previous: object,
        via: str,
        context: Context | None,
    ) -> dict[str, Any] | None:
        """This stream's record for a status transition of another stream's record (hook)."""
        del record, previous, via, context
        return None

    def write_derived(self, record: dict[str, Any], report: PartitionReport) -> None:
        """Write a record this stream gets from another stream's sync (SCHEMA first, once).

        Counted in the source partition's ``report`` just before its RECORD is written (as in
        ``_write_record_message``), so a stopped run's summary matches what was written.
        """
        if not self._schema_sent:
            self._write_schema_message()
            self._schema_sent = True
        report.status_changes += 1
        self._write_record_message(record)

    def _page_all(self, context: Context | None) -> Iterator[dict[str, Any]]:
        """Every record of the partition, ascending by id (the sweep)."""
        paginator = OffsetPaginator(self.page_size)
        url = self.get_url(context)
        report = self.progress(context)
        while not paginator.finished:
            params = self.get_url_params(context, paginator.current_value)
            records, total = self.parse_page(
                self.request_json("GET", url, params=params, context=context), url
            )
            report.listed(paginator.current_value, len(records), total, phase="sweep")
            start = paginator.advance([self._record_id(r) for r in records], total)
            yield from (r for r in records[start:] if not self.before_start_date(r))

    def _checkpoint(self, state: capture.CaptureState, partition: dict[str, Any]) -> None:
        """Write the capture state into the partition and emit STATE now."""
        state.write(partition)
        self.state_manager.is_flushed = False
        self._write_state_message()

    @override
    def _write_state_message(self) -> None:
        # STATE written mid-phase (every STATE_MSG_FREQUENCY records) must carry the in-flight
        # set that matches the bookmark it carries, or a killed run would forget records.
        live = self._live_capture
        if live is not None:
            live[0].write(live[1], with_known=False)
        super()._write_state_message()

    @override
    def _sync_records(
        self,
        context: Context | None = None,
        *,
        write_messages: bool = True,
    ) -> Generator[dict[str, Any], Any, Any]:
        # Progress and run summary (``progress``): the partition's start, its RECORDs, its end.
        report = self._partition_report = self.progress(context)
        self._conform_to_catalog_schema()
        self._record_writer_checked = False
        writer = self._record_writer() if write_messages else None
        if writer is not None and self.ABORT_AT_RECORD_COUNT is None:
            yield from self._sync_records_fast(context, writer)
        else:
            yield from super()._sync_records(context, write_messages=write_messages)
        report.finish(own_work_only=bool(self.child_streams))

    def _conform_to_catalog_schema(self) -> None:
        # A catalog may carry its own schema for the stream (the SDK conforms to that one);
        # ``conform_flat`` knows only the stream's, so any other schema gets the SDK's pass.
        catalog_schema = self._input_schema
        if (
            self.TYPE_CONFORMANCE_LEVEL is TypeConformanceLevel.NONE
            and catalog_schema is not None
            and catalog_schema.get("properties") != self.schema["properties"]
        ):
            self.TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.RECURSIVE

    @override
    def _write_record_message(self, record: dict[str, Any]) -> None:
        # Counted first: a signal that stops the run is handled when the blocking write
        # returns, so the count then still matches what reached the target.
        if not self.capturing and self._partition_report is not None:
            self._partition_report.new += 1
        writer = self._record_writer()
        if writer is None:
            super()._write_record_message(record)
            return
        writer.write_record(self.name, record, self._stream_version, datetime.now(timezone.utc))
        self.state_manager.is_flushed = False

    @override
    def _increment_stream_state(
        self,
        latest_record: dict[str, Any],
        *,
        context: Context | None = None,
    ) -> None:
        # Refreshed and swept records are older than the bookmark: they must not move it.
        if not self.capturing:
            super()._increment_stream_state(latest_record, context=context)

    @cached_property
    def _has_deletion_marker(self) -> bool:
        return capture.DELETED_AT in self.schema["properties"]

    @cached_property
    def _money_fields(self) -> tuple[str, ...]:
        return money_fields(self.record_schema)

    @override
    def _write_starting_replication_value(self, context: Context | None) -> None:
        # The SDK would start an id bookmark at start_date (a timestamp); here start_date
        # filters records by created_at (``before_start_date``) and the bookmark is the id only.
        self.state_manager.write_starting_replication_value(
            context=context,
            replication_method=self.replication_method,
            replication_key=self.replication_key,
            config={k: v for k, v in self.config.items() if k != "start_date"},
            compare_start_date_fn=self.compare_start_date,
        )

    @cached_property
    def _start_date(self) -> datetime | None:
        start_date = self.config.get("start_date")
        return parse_timestamp(start_date) if start_date else None

    @cached_property
    def _has_status_label(self) -> bool:
        return "status_label" in self.schema["properties"]

    @override
    def post_process(
        self,
        row: dict[str, Any],
        context: Context | None = None,
    ) -> dict[str, Any] | None:
        """Check timestamps are present, parse money, add derived fields."""
        if ("created_at" not in row or "updated_at" not in row) and not row.get(capture.DELETED_AT):
            # Every MindzPay record carries both (null is allowed, absence is not): change
            # capture relies on them, so a record without one is malformed.
            missing = "created_at" if "created_at" not in row else "updated_at"
            self.malformed(row, missing, "missing (the contract always sends it)")
            return None
        conform = self.TYPE_CONFORMANCE_LEVEL is TypeConformanceLevel.NONE
        if not self._parse_money(row, conform=conform):
            return None
        if self._has_deletion_marker:
            row.setdefault(capture.DELETED_AT, None)
        if conform:
            self._conform_names_and_booleans(row)
        if self._has_status_label:
            status = row.get("status")
            if isinstance(status, int):
                row["status_label"] = INVOICE_STATUS_LABELS.get(status)
        return row

    def _parse_money(self, row: dict[str, Any], *, conform: bool) -> bool:
        """Money strings into ``Decimal`` (or its text, ``money_as_string``) in place.

        Returns False if one is malformed (the record is skipped).
        """
        for field in self._money_fields:
            value = row.get(field)
            if value is None:
                continue
            if not isinstance(value, Decimal):
                try:
                    # The wire's money is a string; str() of anything else, as before.
                    value = Decimal(value if type(value) is str else str(value))
                except InvalidOperation:
                    self.malformed(row, field, f"{value!r} is not a decimal amount")
                    return False
                row[field] = value
            if self._money_as_string:
                row[field] = money_text(value)  # NaN/Infinity: null, as conformance does
            elif conform and not value.is_finite():
                row[field] = None  # as conform_flat (NaN/Infinity have no JSON form)
        return True

    def before_start_date(self, row: dict[str, Any]) -> bool:
        """Whether a per-account record was created before ``start_date`` (not to be emitted).

        A record whose ``created_at`` is null is kept (nothing says it is older); one that is
        not a timestamp is malformed.
        """
        if self._start_date is None or self.parent_stream_type is None:
            return False
        created = row.get("created_at")
        if not isinstance(created, str):
            return False
        try:
            return parse_timestamp(created) < self._start_date
        except ValueError:
            self.malformed(row, "created_at", f"{created!r} is not an ISO 8601 timestamp")
            return True

    def conform_flat(self, row: dict[str, Any]) -> None:
        """What the SDK's conformance would change in a flat record, done in place.

        Same results as ``TypeConformanceLevel.RECURSIVE`` for a flat schema: unknown
        properties dropped (one warning per new set of names, not one per record), booleans
        coerced as the SDK does, NaN and infinite numbers nulled. (``post_process`` does the
        same, with the money check folded into its parsing loop.)
        """
        self._conform_names_and_booleans(row)
        for name in self._money_fields:
            value = row.get(name)
            if isinstance(value, Decimal) and not value.is_finite():
                row[name] = None

    def _conform_names_and_booleans(self, row: dict[str, Any]) -> None:
        if not row.keys() <= self._known_properties:
            unknown = frozenset(row.keys() - self._known_properties)
            for name in unknown:
                del row[name]
            if unknown not in self._unknown_seen:
                self._unknown_seen.add(unknown)
                self.logger.warning(
                    "Properties %s were present in the '%s' stream but not found in the "
                    "schema; dropped (further records with them are dropped silently)",
                    sorted(unknown),
                    self.name,
                )
        for name in self._boolean_properties:
            if name in row and row[name] is not None:
                row[name] = row[name] != 0

    def malformed(self, row: dict[str, Any], field: str, problem: str) -> None:
        """Fail on a malformed record, or skip it with a warning (``skip_malformed_records``).

        Raises:
            MalformedRecordError: Unless the setting ``skip_malformed_records`` is true.
        """
        msg = f"stream {self.name}, record id {row.get('id')}, field {field}: {problem}"
        if not self.config.get("skip_malformed_records"):
            raise MalformedRecordError(
                msg + " (set skip_malformed_records to skip such records with a warning)"
            )
        self.logger.warning("Skipping malformed record: %s", msg)


def _types(prop: Mapping[str, Any]) -> set[str]:
    """The JSON Schema ``type`` of a property as a set (empty when it has none)."""
    kind = prop.get("type", ())
    return {kind} if isinstance(kind, str) else set(kind)


def _safe_decode(content: bytes) -> object:
    try:
        return _decoder.decode(content)
    except msgspec.DecodeError:
        return None


def parse_timestamp(text: str) -> datetime:
    """An ISO 8601 timestamp as an aware datetime (UTC if it has no offset)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
