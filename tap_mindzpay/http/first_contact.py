"""A sync's first contact with each host: a host that never answered and refuses stops the run.

A sync retries connection errors for minutes (``max_retries`` with backoff), which is right for
a reset or a restart in the middle of a run and wrong when nothing has ever answered: a closed
port or a misspelt host name at the run's first request is a setting to fix, and ``--test``
already says so at once. Once a host has answered, connection errors from it are retried.

A certificate this machine does not trust is never retried, first contact or not: no retry
makes it trusted (``UntrustedCertificateError``, one line naming ``REQUESTS_CA_BUNDLE``).
"""

from __future__ import annotations

import errno
import socket
import ssl
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import Iterator


class UnreachableError(FatalAPIError):
    """A host refused the run's very first connection to it (or its name does not exist)."""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it carries (arguments, ``reason``, cause, context), once."""
    pending: list[object] = [exc]
    seen: set[int] = set()
    while pending:
        item = pending.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        pending += [*item.args, getattr(item, "reason", None), item.__cause__, item.__context__]


def refusal(exc: BaseException) -> str | None:
    """``connection refused`` or ``unknown host name`` if that is what ``exc`` comes from.

    Only the two causes that a retry cannot fix at the start of a run: nothing listens on the
    port, or the name does not exist. A reset, a timeout, an unreachable network or a temporary
    DNS failure (``EAI_AGAIN``) stays a transient error.
    """
    for item in _chain(exc):
        if isinstance(item, socket.gaierror) and item.errno == socket.EAI_NONAME:
            return "unknown host name"
        if isinstance(item, OSError) and item.errno == errno.ECONNREFUSED:
            return "connection refused"
    return None


def tls_advice(setting: str) -> str:
    """What to check when a TLS handshake fails (the connection check says it too)."""
    return (
        f"check that {setting} is the platform's https address and that its certificate is "
        "trusted (a private CA goes in REQUESTS_CA_BUNDLE)"
    )


class UntrustedCertificateError(FatalAPIError):
    """A host's TLS certificate failed verification (an unknown CA, a wrong name, expired)."""


def certificate_problem(exc: BaseException) -> str | None:
    """The verification message if ``exc`` comes from a certificate this machine rejects."""
    for item in _chain(exc):
        if isinstance(item, ssl.SSLCertVerificationError):
            return str(item.verify_message or item.reason or "certificate verify failed")
    return None


class FirstContact:
    """The hosts that answered during this run; one that refuses its first connection stops it.

    A sync retries connection errors for minutes (``max_retries`` with backoff), which is right
    for a reset or a restart in the middle of a run and wrong when nothing has ever answered:
    a closed port or a misspelt host name at the run's first request is a setting to fix, and
    ``--test`` already says so at once. ``adapter`` gives the transport adapter for the run's
    sessions (API and token endpoint); it remembers each origin (scheme, host, port) that
    answered, and a refusal from an origin that never answered raises ``UnreachableError``.
    """

    def __init__(self, settings: str = "api_url") -> None:
        """Track origins; ``settings`` names the setting(s) to check in the message."""
        self.settings = settings
        self._answered: set[str] = set()
        self._lock = threading.Lock()

    def adapter(self, **kwargs: Any) -> HTTPAdapter:  # noqa: ANN401 - HTTPAdapter's options
        """A transport adapter (``HTTPAdapter`` options) that reports to this run."""
        return _FirstContactAdapter(self, **kwargs)

    def answered(self, url: str) -> bool:
        """Whether the origin of ``url`` has answered once during this run."""
        with self._lock:
            return _origin(url) in self._answered

    def saw_answer(self, url: str) -> None:
        """The origin of ``url`` answered (any HTTP status)."""
        with self._lock:
            self._answered.add(_origin(url))

    def error(self, url: str, cause: str) -> UnreachableError:
        """The one line for a host that refused the run's first connection."""
        parts = urlsplit(url)
        msg = (
            f"cannot connect to {parts.scheme}://{parts.netloc} ({cause}) at its first request "
            f"of the run; check the setting {self.settings} and that this machine can reach "
            "it (DNS, firewall, proxy). A host that has answered once is retried instead "
            "(max_retries)"
        )
        return UnreachableError(msg)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class _FirstContactAdapter(HTTPAdapter):
    def __init__(self, contact: FirstContact, **kwargs: Any) -> None:  # noqa: ANN401
        super().__init__(**kwargs)
        self._contact = contact

    @override
    def send(
        self,
        request: requests.PreparedRequest,
        *args: Any,
        **kwargs: Any,
    ) -> requests.Response:
        url = request.url or ""
        try:
            response = super().send(request, *args, **kwargs)
        except requests.ConnectionError as exc:
            problem = certificate_problem(exc)
            if problem is not None:
                parts = urlsplit(url)
                msg = (
                    f"the TLS certificate of {parts.scheme}://{parts.netloc} is not trusted "
                    f"({problem}); {tls_advice(self._contact.settings)}"
                )
                raise UntrustedCertificateError(msg) from None
            cause = refusal(exc)
            if cause is not None and not self._contact.answered(url):
                raise self._contact.error(url, cause) from None
            raise
        self._contact.saw_answer(url)
        return response
