"""The run summary: one line per partition and one for the run, also when the run stopped.

A run has one ``RunReport`` (``services``); it hands out the ``PartitionReport`` of each stream
partition (``progress``) and the ``StreamDrift`` of each stream (what its records showed that
the schema does not), and, when the command ends, logs what each did and why the run stopped.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

from tap_mindzpay.run.progress import LOGGER, PartitionReport, account_label, duration

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

#: A stop reason longer than this is cut (an error message can quote a whole body).
REASON_CHARS = 500
#: Exit codes above this came from a signal (128 + its number).
SIGNAL_EXIT_BASE = 128


def stop_reason(error: BaseException) -> str:
    """Why a run stopped, in one line: the signal, the exit code or the error."""
    if isinstance(error, KeyboardInterrupt):
        return "SIGINT (KeyboardInterrupt)"
    if isinstance(error, SystemExit):
        code = error.code
        if isinstance(code, int) and code > SIGNAL_EXIT_BASE:
            try:
                name = signal.Signals(code - SIGNAL_EXIT_BASE).name
            except ValueError:
                name = f"signal {code - SIGNAL_EXIT_BASE}"
            return f"{name} (exit {code})"
        return f"exit {code}"
    text = " ".join(str(error).split()) or "no message"
    if len(text) > REASON_CHARS:
        text = text[:REASON_CHARS] + "..."
    return f"{type(error).__name__}: {text}"


class StreamDrift:
    """Where a stream's records differ from its schema: the API changed, or is not as modelled.

    ``undeclared``: each property no schema declares, with the id of the first record seen
    with it (its records are written without it); ``malformed_skipped``: records skipped as
    malformed (``skip_malformed_records``). Thread-safe (pages are decoded ahead).
    """

    def __init__(self) -> None:
        """Nothing seen yet."""
        self._lock = threading.Lock()
        self.undeclared: dict[str, object] = {}
        self.malformed_skipped = 0

    def saw_undeclared(self, names: tuple[str, ...], record_id: object) -> None:
        """Records (the first with id ``record_id``) carry the undeclared ``names``."""
        with self._lock:
            for name in names:
                self.undeclared.setdefault(name, record_id)

    def skipped_malformed(self) -> None:
        """One malformed record skipped."""
        with self._lock:
            self.malformed_skipped += 1

    def text(self) -> str:
        """``undeclared properties a, b (first in record 12); 3 malformed records skipped``."""
        with self._lock:
            parts = []
            if self.undeclared:
                names = ", ".join(sorted(self.undeclared))
                first = next(iter(self.undeclared.values()))
                parts.append(f"undeclared properties {names} (first in record {first})")
            if self.malformed_skipped:
                parts.append(f"{self.malformed_skipped:,} malformed records skipped")
        return "; ".join(parts)


class RunReport:
    """Every partition report of one run, and the run summary."""

    def __init__(
        self,
        *,
        token_requests: Callable[[], int] = lambda: 0,
        concurrency: Callable[[], tuple[int, int] | None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = LOGGER,
    ) -> None:
        """A run that starts now; ``token_requests`` reads the authenticator's count.

        ``concurrency``: the highest concurrency limit of the run and how many times it was
        halved (``http.concurrency``), if the run has one.
        """
        self._token_requests = token_requests
        self._concurrency = concurrency
        self._clock = clock
        self._logger = logger
        self._lock = threading.Lock()
        self._partitions: dict[tuple[str, str], PartitionReport] = {}
        #: Streams skipped because the API refused them (name -> why, one line).
        self.skipped: dict[str, str] = {}
        self._drift: dict[str, StreamDrift] = {}
        #: First pages of lists fetched ahead (``read.childpages``): taken, and never taken.
        self.ahead = {"taken": 0, "wasted": 0}
        self.started = clock()
        self.logged = False

    def partition(self, stream: str, context: Mapping[str, Any] | None) -> PartitionReport:
        """The report of a stream partition, created on first use."""
        key = (stream, account_label(context))
        report = self._partitions.get(key)
        if report is None:
            with self._lock:
                report = self._partitions.get(key)
                if report is None:
                    report = PartitionReport(*key, clock=self._clock, logger=self._logger)
                    self._partitions[key] = report
        return report

    def drift(self, stream: str) -> StreamDrift:
        """The drift record of ``stream``, created on first use."""
        with self._lock:
            return self._drift.setdefault(stream, StreamDrift())

    def pages_ahead(self, taken: int, wasted: int) -> None:
        """Count first pages fetched ahead: ``taken`` by a list's read, ``wasted`` (never)."""
        with self._lock:
            self.ahead["taken"] += taken
            self.ahead["wasted"] += wasted

    def skip(self, stream: str, reason: str) -> None:
        """Note a stream skipped because the API refused it (listed in the run summary)."""
        with self._lock:
            self.skipped[stream] = reason

    def nothing_read(self) -> str | None:
        """Why the run read nothing, if every stream it synced was skipped; else ``None``.

        A stream's children sync only under records it read, so a run whose every partition
        belongs to a skipped stream could read none of what was selected.
        """
        with self._lock:
            streams = {stream for stream, _ in self._partitions}
            if not self.skipped or not streams <= self.skipped.keys():
                return None
            reasons = "; ".join(self.skipped[name] for name in sorted(streams))
        return f"No selected stream could be read: {reasons}"

    @property
    def partitions(self) -> list[PartitionReport]:
        """The partitions, grouped by stream in the order they started."""
        with self._lock:
            reports = list(self._partitions.values())
        streams = list(dict.fromkeys(r.stream for r in reports))
        return sorted(reports, key=lambda r: streams.index(r.stream))

    def summary(self, error: BaseException | None = None) -> list[tuple[str, dict[str, Any]]]:
        """One line per partition and one for the run (``error``: why the run stopped)."""
        lines = [report.summary() for report in self.partitions]
        parts = self.partitions
        totals = {
            "new": sum(r.new for r in parts),
            "changed": sum(r.changed for r in parts),
            "refreshed": sum(r.refresh_count for r in parts),
            "settled": sum(r.settled for r in parts),
            "deleted": sum(r.deleted for r in parts),
            "deferred": sum(r.deferred for r in parts),
            "status_changes": sum(r.status_changes for r in parts),
            "requests": sum(r.requests for r in parts),
            "retries": sum(r.retries for r in parts),
            "throttled": sum(r.throttled for r in parts),
        }
        tokens = self._token_requests()
        seconds = self._clock() - self.started
        outcome = "completed in" if error is None else "stopped after"
        emitted = sum(totals[k] for k in ("new", "changed", "deleted", "status_changes"))
        text = (
            f"Run {outcome} {duration(seconds)}: {len(parts)} stream partitions, "
            f"{emitted:,} records (new {totals['new']:,}, changed {totals['changed']:,}, "
            f"deleted {totals['deleted']:,}"
            + (f", status changes {changes:,}" if (changes := totals["status_changes"]) else "")
            + f"), refreshed {totals['refreshed']:,}, "
            f"settled {totals['settled']:,}; {totals['requests']:,} API requests and "
            f"{tokens:,} token requests, {totals['retries']:,} retries, "
            f"{totals['throttled']:,} 429s"
            + (f"; deferred ids {deferred:,}" if (deferred := totals["deferred"]) else "")
            + (
                f"; first pages fetched ahead {ahead['taken']:,} (unused {ahead['wasted']:,})"
                if sum((ahead := dict(self.ahead)).values())
                else ""
            )
        )
        concurrency = self._concurrency()
        if concurrency is not None:
            text += f"; up to {concurrency[0]} requests in flight, halved {concurrency[1]} times"
        skipped = sorted(self.skipped)
        if skipped:
            text += f"; skipped streams (HTTP 403): {', '.join(skipped)}"
        with self._lock:
            drift = {name: d for name, d in sorted(self._drift.items()) if d.text()}
        for name, stream_drift in drift.items():
            text += f"; {name}: {stream_drift.text()}"
        if error is not None:
            text += f"; why: {stop_reason(error)}"
        fields: dict[str, Any] = {
            "report": "run_summary",
            "outcome": "completed" if error is None else "stopped",
            "reason": None if error is None else stop_reason(error),
            "partitions": len(parts),
            "records": emitted,
            **{key: value for key, value in totals.items() if key != "throttled"},
            "http_429": totals["throttled"],
            "token_requests": tokens,
            "first_pages_ahead": dict(self.ahead),
            "concurrency_peak": None if concurrency is None else concurrency[0],
            "concurrency_decreases": None if concurrency is None else concurrency[1],
            "skipped_streams": skipped,
            "undeclared_properties": {n: sorted(d.undeclared) for n, d in drift.items()},
            "malformed_skipped": {n: d.malformed_skipped for n, d in drift.items()},
            "duration_seconds": round(seconds, 3),
        }
        return [*lines, (text, fields)]

    def log_summary(self, error: BaseException | None = None) -> None:
        """Log the summary once (error level for the run line of a stopped run)."""
        if self.logged:
            return
        self.logged = True
        lines = self.summary(error)
        for text, fields in lines[:-1]:
            self._logger.info("%s", text, extra=fields)
        text, fields = lines[-1]
        level = logging.INFO if error is None else logging.ERROR
        self._logger.log(level, "%s", text, extra=fields)
