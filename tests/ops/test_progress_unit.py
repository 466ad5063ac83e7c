"""progress.py on a fake clock: when lines appear, what they say, what the summary says."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tap_mindzpay.run.progress import PartitionReport, duration
from tap_mindzpay.run.summary import RunReport, stop_reason


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def events(self, kind: str) -> list[logging.LogRecord]:
        return [r for r in self.records if getattr(r, "report", None) == kind]


@pytest.fixture
def captured() -> Any:
    logger = logging.getLogger("test-progress")
    handler = Captured()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, handler
    logger.removeHandler(handler)


def test_progress_lines_come_at_most_every_interval_with_percent_rate_and_eta(captured):
    logger, handler = captured
    clock = Clock()
    report = PartitionReport("invoices", "acc_1", clock=clock, logger=logger)
    # 100 records per page, one page every 0.1 s: 1,000 records/s over a 6,000 total.
    for page in range(60):
        clock.now += 0.1
        report.listed(page * 100, 100, 6000)
    lines = handler.events("progress")
    assert len(lines) == 1  # at 5.0 s; the next would be due at 10 s
    line = lines[0]
    assert line.getMessage() == (
        "Progress invoices [acc_1] new: 5,000/6,000 (83.3%), 1,000/s, ETA 1.0 s"
    )
    assert (line.done, line.total, line.percent, line.eta_seconds) == (5000, 6000, 83.3, 1.0)
    assert line.stream_name == "invoices"
    assert line.account == "acc_1"


def test_a_partition_shorter_than_the_interval_logs_no_progress(captured):
    logger, handler = captured
    clock = Clock()
    report = PartitionReport("payments", "acc_1", clock=clock, logger=logger)
    for page in range(40):
        clock.now += 0.1
        report.listed(page * 100, 100, 4000)
    report.finish(own_work_only=False)
    assert handler.events("progress") == []


def test_refresh_phase_reports_refreshed_out_of_in_flight(captured):
    logger, handler = captured
    clock = Clock()
    report = PartitionReport("invoices", "acc_2", clock=clock, logger=logger)
    report.listed(0, 100, 100)
    report.refresh_started(400)
    for _ in range(120):
        clock.now += 0.0625  # 16 refreshes/s (exact in binary floating point)
        report.refreshed()
    [line] = handler.events("progress")
    assert line.getMessage() == (
        "Progress invoices [acc_2] refresh: 80/400 in flight refreshed (20.0%), 16/s, ETA 20.0 s"
    )
    assert report.refresh_count == 120


def test_summary_counts_capture_engine_counts_live_and_marks_a_stopped_partition(captured):
    logger, handler = captured
    clock = Clock()
    run = RunReport(token_requests=lambda: 2, clock=clock, logger=logger)
    done = run.partition("invoices", {"account_id": 1, "account_key": "acc_1"})
    counts: dict[str, int] = {}
    done.attach_capture(counts)
    done.new = 10
    for status in (200, 429, 200):
        done.request(status)
    done.retry()
    counts.update(changed=3, swept=2, settled=4, deleted=1)
    clock.now += 2
    done.finish(own_work_only=False)
    stopped = run.partition("payments", {"account_id": 1, "account_key": "acc_1"})
    stopped.listed(0, 50, 200)
    stopped.new = 50
    clock.now += 1
    run.log_summary(RuntimeError("boom"))
    lines = [r.getMessage() for r in handler.records]
    assert lines == [
        (
            "Summary invoices [acc_1]: new 10, changed 5, refreshed 0, settled 4, deleted 1; "
            "3 requests, 1 retries, 1 429s; 2.0 s, done"
        ),
        (
            "Summary payments [acc_1]: new 50, changed 0, refreshed 0, settled 0, deleted 0; "
            "0 requests, 0 retries, 0 429s; 1.0 s, stopped during new at 50/200"
        ),
        (
            "Run stopped after 3.0 s: 2 stream partitions, 66 records (new 60, changed 5, "
            "deleted 1), refreshed 0, settled 4; 3 API requests and 2 token requests, "
            "1 retries, 1 429s; why: RuntimeError: boom"
        ),
    ]
    assert handler.records[-1].levelno == logging.ERROR
    assert handler.records[-1].reason == "RuntimeError: boom"
    run.log_summary()
    assert len(handler.records) == 3  # logged once


def test_stop_reasons_name_the_signal_or_the_error():
    assert stop_reason(SystemExit(143)) == "SIGTERM (exit 143)"
    assert stop_reason(SystemExit(130)) == "SIGINT (exit 130)"
    assert stop_reason(SystemExit(1)) == "exit 1"
    assert stop_reason(KeyboardInterrupt()) == "SIGINT (KeyboardInterrupt)"
    assert stop_reason(ValueError("x\n  y")) == "ValueError: x y"


def test_durations_read_naturally():
    assert duration(4.25) == "4.2 s"
    assert duration(185) == "3 min 05 s"
    assert duration(7620) == "2 h 07 min"


def test_summary_reports_the_highest_concurrency_limit_and_its_decreases(captured):
    logger, handler = captured
    run = RunReport(concurrency=lambda: (24, 3), clock=Clock(), logger=logger)
    run.log_summary()
    record = handler.records[-1]
    assert record.getMessage().endswith("; up to 24 requests in flight, halved 3 times")
    assert (record.concurrency_peak, record.concurrency_decreases) == (24, 3)
