"""Progress lines and the run summary: what the operator of a long sync reads in the morning.

A run has one ``RunReport`` (``summary``). Every stream partition (a stream and one account;
``all`` for the accounts stream) has a ``PartitionReport``, fed by a few hooks:

* ``listed(offset, count, total, phase)`` after every list page; ``total`` is the page's
  ``meta.total``, so "done out of total" costs no extra request;
* ``refresh_started(in_flight)`` before a refresh phase and ``refreshed(n)`` after each answered
  refresh (the change-capture hook: refreshed out of in flight);
* ``request(status)`` for every HTTP exchange of the request path (``None``: no answer) and
  ``retry()`` for every retry it sleeps before; ``new`` is counted by the stream where it writes
  a RECORD; changed, settled, deleted, swept and deferred are read live from the dict the
  capture engine increments (``attach_capture``).

A progress line is logged at most every ``PROGRESS_SECONDS`` per partition, and never before a
partition has run that long: a small run prints none. ``RunReport.log_summary`` logs one line per
partition and one for the run, also when the run stopped (why, and where each partition was).
Every line carries its numbers as structured fields (``extra=``), which Meltano's JSON logging
(the SDK's ``StructuredFormatter``) writes under ``extra``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

LOGGER = logging.getLogger("tap-mindzpay.progress")
ALL_ACCOUNTS = "all"
HTTP_TOO_MANY_REQUESTS = 429
MINUTE = 60
HOUR = 3600


def account_label(context: Mapping[str, Any] | None) -> str:
    """The account a partition context names (key, else id), or ``all``."""
    if not context:
        return ALL_ACCOUNTS
    return str(context.get("account_key") or context.get("account_id") or ALL_ACCOUNTS)


def partition_label(stream: str, context: Mapping[str, Any] | None) -> str:
    """A partition as error messages name it: the stream, and its account or parent ids."""
    if not context:
        return f"stream {stream}"
    if "account_key" in context:
        return f"stream {stream}, account {context['account_key']}"
    return f"stream {stream}, " + ", ".join(f"{key} {value}" for key, value in context.items())


def duration(seconds: float) -> str:
    """``4.2 s``, ``3 min 05 s``, ``2 h 07 min``."""
    if seconds < MINUTE:
        return f"{seconds:.1f} s"
    if seconds < HOUR:
        minutes, rest = divmod(round(seconds), MINUTE)
        return f"{minutes} min {rest:02d} s"
    hours, rest = divmod(round(seconds), HOUR)
    return f"{hours} h {rest // MINUTE:02d} min"


class PartitionReport:
    """Counters and progress of one stream partition (stream x account); thread-safe."""

    #: Seconds between two progress lines of one partition (and before its first).
    PROGRESS_SECONDS: ClassVar[float] = 5.0

    def __init__(
        self,
        stream: str,
        account: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = LOGGER,
    ) -> None:
        """A partition that starts now."""
        self.stream = stream
        self.account = account
        self._clock = clock
        self._logger = logger
        self._lock = threading.Lock()
        self.started = clock()
        self.last_activity = self.started
        self.ended: float | None = None
        self.finished = False
        #: RECORD messages written by the new-records phase (incremented by the stream).
        self.new = 0
        #: Records written to a stream derived from this one (invoice_status_changes).
        self.status_changes = 0
        self.refresh_count = 0
        self.requests = 0
        self.retries = 0
        self.throttled = 0
        self.progress_lines = 0
        #: List pages answered (a partition refused before its first page has read nothing).
        self.pages = 0
        self._captures: list[Mapping[str, int]] = []
        self.phase = "new"
        self.done = 0
        self.total: int | None = None
        self._phase_clock = self.started
        self._phase_base = 0
        self._phase_seen = False
        self._last_line = self.started

    # -- hooks ---------------------------------------------------------------------------

    def attach_capture(self, counts: Mapping[str, int]) -> None:
        """Read changed/settled/deleted/swept from the capture engine's live counts.

        A nested list's partitions (one per parent) share one report: their counts add up.
        """
        self._captures.append(counts)

    def _captured(self, name: str) -> int:
        return sum(counts.get(name, 0) for counts in self._captures)

    def request(self, status: int | None) -> None:
        """One HTTP exchange of the request path (``None``: no answer, e.g. a reset)."""
        with self._lock:
            self.requests += 1
            if status == HTTP_TOO_MANY_REQUESTS:
                self.throttled += 1
            self.last_activity = self._clock()

    def retry(self) -> None:
        """The request path is about to retry a request (after its backoff)."""
        with self._lock:
            self.retries += 1

    def listed(self, offset: int, count: int, total: int | None, phase: str = "new") -> None:
        """A list page at ``offset`` with ``count`` records; ``total`` is its ``meta.total``."""
        with self._lock:
            now = self._clock()
            self.last_activity = now
            self.pages += 1
            if phase != self.phase or not self._phase_seen:
                self._start_phase(phase, now, base=offset + count)
            self.done = offset + count
            self.total = total
            line = self._due_line(now)
        self._log(line)

    def refresh_started(self, in_flight: int) -> None:
        """A refresh phase begins with ``in_flight`` records to refresh."""
        with self._lock:
            self._start_phase("refresh", self._clock(), base=0)
            self.done = 0
            self.total = in_flight

    def refreshed(self, n: int = 1) -> None:
        """``n`` more refreshes answered (the record changed, settled, stayed or is gone)."""
        with self._lock:
            now = self._clock()
            self.last_activity = now
            self.refresh_count += n
            if self.phase == "refresh":
                self.done += n
            line = self._due_line(now)
        self._log(line)

    def finish(self, *, own_work_only: bool) -> None:
        """The partition's sync returned.

        ``own_work_only``: its duration ends at its last own request (the sync of a parent
        stream also spans its children's).
        """
        with self._lock:
            self.finished = True
            self.ended = self.last_activity if own_work_only else self._clock()

    # -- derived numbers -----------------------------------------------------------------

    @property
    def changed(self) -> int:
        """Records re-emitted because they changed (refresh) or moved since the last sweep."""
        return self._captured("changed") + self._captured("swept")

    @property
    def settled(self) -> int:
        """In-flight records that left the in-flight set."""
        return self._captured("settled")

    @property
    def deleted(self) -> int:
        """Deletion markers emitted."""
        return self._captured("deleted")

    @property
    def deferred(self) -> int:
        """Ids whose refresh still failed after its retries: left for the next run."""
        return self._captured("deferred")

    @property
    def emitted(self) -> int:
        """RECORD messages of this partition (its status changes included)."""
        return self.new + self.changed + self.deleted + self.status_changes

    def seconds(self) -> float:
        """Duration so far, or until the end of the partition's own work."""
        end = self.ended if self.ended is not None else self._clock()
        return max(0.0, end - self.started)

    # -- lines ---------------------------------------------------------------------------

    def _start_phase(self, phase: str, now: float, *, base: int) -> None:
        self.phase = phase
        self._phase_seen = True
        self._phase_clock = now
        self._phase_base = base

    def _due_line(self, now: float) -> tuple[str, dict[str, Any]] | None:
        """The progress line if one is due now (caller holds the lock)."""
        if now - self._last_line < self.PROGRESS_SECONDS:
            return None
        self._last_line = now
        self.progress_lines += 1
        elapsed = now - self._phase_clock
        rate = (self.done - self._phase_base) / elapsed if elapsed > 0 else 0.0
        total = self.total
        fields: dict[str, Any] = {
            "report": "progress",
            "stream_name": self.stream,
            "account": self.account,
            "phase": self.phase,
            "done": self.done,
            "total": total,
            "percent": None,
            "rate_per_second": round(rate, 1),
            "eta_seconds": None,
        }
        noun = " in flight refreshed" if self.phase == "refresh" else ""
        if total is None:
            text = f"{self.done:,}{noun} so far, {rate:,.0f}/s"
        else:
            percent = 100.0 * min(self.done, total) / total if total else 100.0
            remaining = max(0, total - self.done)
            eta = remaining / rate if rate > 0 else None
            fields["percent"] = round(percent, 1)
            fields["eta_seconds"] = None if eta is None else round(eta, 1)
            text = (
                f"{self.done:,}/{total:,}{noun} ({percent:.1f}%), {rate:,.0f}/s, "
                f"ETA {'unknown' if eta is None else duration(eta)}"
            )
        return f"Progress {self.stream} [{self.account}] {self.phase}: {text}", fields

    def _log(self, line: tuple[str, dict[str, Any]] | None) -> None:
        if line is not None:
            self._logger.info("%s", line[0], extra=line[1])

    def summary(self) -> tuple[str, dict[str, Any]]:
        """The partition's summary line and its structured fields."""
        with self._lock:
            state = "done" if self.finished else f"stopped during {self.phase}"
            if not self.finished and self.total is not None:
                state += f" at {self.done:,}/{self.total:,}"
            fields: dict[str, Any] = {
                "report": "summary",
                "stream_name": self.stream,
                "account": self.account,
                "status": "done" if self.finished else "stopped",
                "phase": self.phase,
                "new": self.new,
                "changed": self.changed,
                "refreshed": self.refresh_count,
                "settled": self.settled,
                "deleted": self.deleted,
                "deferred": self.deferred,
                "status_changes": self.status_changes,
                "requests": self.requests,
                "retries": self.retries,
                "http_429": self.throttled,
                "duration_seconds": round(self.seconds(), 3),
            }
        text = (
            f"Summary {self.stream} [{self.account}]: new {self.new:,}, "
            f"changed {self.changed:,}, refreshed {self.refresh_count:,}, "
            f"settled {self.settled:,}, deleted {self.deleted:,}"
            + (f", status changes {self.status_changes:,}" if self.status_changes else "")
            + (f", deferred {self.deferred:,}" if self.deferred else "")
            + f"; {self.requests:,} requests, {self.retries:,} retries, {self.throttled:,} 429s; "
            f"{duration(self.seconds())}, {state}"
        )
        return text, fields
