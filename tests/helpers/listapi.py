"""An in-memory MindzPay list API for unit tests of the list reader and of change capture.

No stream and no HTTP: a subclass answers the request path's calls (``read.reader.Request``)
from memory, under one lock so that pages fetched ahead and refresh workers may call it from
any thread; ``list_source`` builds the ``ListSource`` a stream would, over it.
"""

from __future__ import annotations

import threading
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from tap_mindzpay.read.reader import ListSource

if TYPE_CHECKING:
    import logging

API_BASE = "https://api.test"
#: The one account's invoice list; its records are at ``URL/{id}``.
URL = f"{API_BASE}/v1/accounts/1/invoices"
CONTEXT = {"account_id": 1, "account_key": "acc_1"}


class InMemoryApi:
    """The request path's calls answered by ``answer``, one at a time, from any thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def request(  # noqa: PLR0913 - the Request protocol
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        context: Any = None,  # noqa: ARG002 - as the request path takes it
        not_found_ok: bool = False,
        decoder: Any = None,  # noqa: ARG002 - as the request path takes it
    ) -> Any:
        """The decoded body of one request; ``None`` for a 404 when ``not_found_ok``."""
        with self.lock:
            return self.answer(method, url, params, not_found_ok=not_found_ok)

    def answer(
        self, method: str, url: str, params: dict[str, Any] | None, *, not_found_ok: bool
    ) -> Any:
        """The body of one request (the lock held)."""
        raise NotImplementedError


def list_source(
    api: InMemoryApi, *, page_size: int, depth: int, logger: logging.Logger
) -> ListSource:
    """The ``ListSource`` of the invoices stream over ``api``, with stop points that never stop."""
    return ListSource(
        request=api.request,
        api_base=API_BASE,
        stream="invoices",
        page_size=page_size,
        depth=depth,
        stop_check=lambda: None,
        waiting=nullcontext,
        logger=logger,
    )
