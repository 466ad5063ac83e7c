"""How often STATE is written: as often as resumability needs, not more.

A STATE message carries the whole state, and a partition's change-capture section grows with
it (the last STATE of a 1M-invoice sync is 1.5 MB). Writing it every few hundred records made
STATE most of the tap's output and re-encoded the section each time. So a STATE is written,
at the points where the SDK or a capture phase offers one (every ``STATE_MSG_FREQUENCY``
records, every refresh chunk), when

* the records since the last one are at least ``MIN_RECORDS`` and at least the state's capture
  bytes / ``BYTES_PER_RECORD``: a small state goes out every 500 records as the bookmark
  needs, a large one once enough records went out that STATE stays under about 1% of the output
  (records are a few hundred bytes); or
* ``MAX_SECONDS`` passed since the last one (with at least ``MIN_RECORDS`` records).

Phase ends and a stop write STATE at once. A kill -9 repeats at most the work since the last
STATE: the larger of 500 records and the capture bytes / 2 (about 750,000 records at 1M
invoices with 100,000 in flight), or ``MAX_SECONDS`` of work.
"""

from __future__ import annotations

import threading
import time

#: Records (or refreshes) a capture phase hands out between two STATE offers.
CHUNK = 200
MIN_RECORDS = 500
BYTES_PER_RECORD = 2
MAX_SECONDS = 120.0


class StateCadence:
    """Counts work since the last STATE and says when the next one is worth writing."""

    def __init__(self) -> None:
        """Nothing written yet."""
        self.work = 0
        self.last = time.monotonic()
        self.capture_bytes: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def sized(self, stream: str, partition: str, size: int) -> None:
        """The encoded size of one partition's capture section, as last written."""
        with self._lock:
            self.capture_bytes[stream, partition] = size

    def offer(self, work: int) -> bool:
        """``work`` records (or refreshes) done; whether to write a STATE now."""
        with self._lock:
            self.work += work
            if self.work < MIN_RECORDS:
                return False
            heavy = sum(self.capture_bytes.values())
            return (
                self.work >= heavy // BYTES_PER_RECORD
                or time.monotonic() - self.last >= MAX_SECONDS
            )

    def written(self) -> None:
        """A STATE was just written."""
        with self._lock:
            self.work = 0
            self.last = time.monotonic()
