"""The API's clock, read from the ``Date`` header of its responses.

Change capture schedules refreshes by how long a record has been unchanged; that is the
platform's time, not the machine's (a machine with a wrong clock, or a sandbox whose clock a
test moves, must not make the tap refresh too often or too rarely).
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping


class ServerClock:
    """The latest ``Date`` the API sent, and the machine's clock until it sent one."""

    def __init__(self) -> None:
        """No ``Date`` seen yet."""
        self._latest: datetime | None = None
        self._text = ""  # the ``Date`` text of ``_latest``
        self._lock = threading.Lock()

    def observe(self, headers: Mapping[str, str] | None) -> None:
        """Note the ``Date`` of a response, if it has a readable one."""
        text = headers.get("Date") if headers is not None else None
        if not text or text == self._text:
            return  # one-second resolution: most responses repeat the last one's
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        with self._lock:
            self._latest = moment
            self._text = text

    def now(self) -> datetime:
        """The API's time as of its latest response (the machine's before any)."""
        with self._lock:
            latest = self._latest
        return latest if latest is not None else datetime.now(timezone.utc)
