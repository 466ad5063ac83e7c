"""The tap's own fatal errors, and the API's error envelope read once for all of them."""

from __future__ import annotations

import logging
import sys

from singer_sdk.exceptions import (
    AbortedSyncFailedException,
    AbortedSyncPausedException,
    FatalAPIError,
    MaxRecordsLimitException,
)

from tap_mindzpay import endpoints


class MindzPayAPIError(FatalAPIError):
    """The API refused a request in a way retrying cannot fix; the message says what to do."""


class RetriesExhaustedError(MindzPayAPIError):
    """A request failed as often as ``max_retries`` allows (5xx, 429, resets, bad bodies).

    Attributes:
        problem: The last failure (``HTTP 500``, ``ConnectionError``, ...).
    """

    def __init__(self, message: str, problem: str) -> None:
        """Keep the one-line message and the last failure."""
        super().__init__(message)
        self.problem = problem


class ForbiddenError(MindzPayAPIError):
    """The API answered 403: the credential lacks a permission (the message names it)."""


class MalformedRecordError(FatalAPIError):
    """A record broke the contract (names stream, record id and field)."""


def error_detail(body: object) -> str | None:
    """``code: message`` of an API error envelope or an OAuth2 error body, else ``None``.

    API: ``{"error": {"code": "...", "message": "..."}}``; OAuth2 (RFC 6749 5.2):
    ``{"error": "invalid_client", "error_description": "..."}``.
    """
    if not isinstance(body, dict):
        return None
    error = body.get(endpoints.ERROR_KEY)
    if isinstance(error, dict):
        code = error.get(endpoints.ERROR_CODE)
        return f"{code}: {error.get(endpoints.ERROR_MESSAGE, '')}" if code else None
    if isinstance(error, str) and error:
        description = body.get("error_description")
        return f"{error}: {description}" if description else error
    return None


def sync_log_level(level: int) -> int:
    """The level of a stream's log line, given the exception being handled (if any).

    The SDK logs "An unhandled error occurred while syncing" at ERROR for every stream that
    ``--test`` stops at its one-record limit; that stop is the test succeeding: DEBUG. Before a
    fatal error of the tap (``FatalAPIError``: its one line, naming the stream, follows) the
    SDK's line would only say the same thing first: DEBUG too.
    """
    error = sys.exc_info()[1]
    if level < logging.ERROR:
        return level
    if isinstance(error, FatalAPIError):
        return logging.DEBUG
    if isinstance(error, (AbortedSyncFailedException, AbortedSyncPausedException)) and isinstance(
        error.__cause__, MaxRecordsLimitException
    ):
        return logging.DEBUG
    return level
