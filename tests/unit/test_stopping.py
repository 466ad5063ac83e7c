"""StopControl: a stop signal ends a wait between requests at once, whenever it comes.

The end-to-end proof (a tap process stopped by SIGTERM during a retry wait) is in
tests/chaos/test_kill.py; these pin the two cases it meets only by chance: the signal landing
just before the main thread's wait begins, and a refresh worker thread that is the one waiting.
"""

from __future__ import annotations

import logging
import signal
import threading

import pytest

from tap_mindzpay.http.ratebudget import RateBudget
from tap_mindzpay.run.stopping import StopControl

LOGGER = logging.getLogger("test-stopping")
#: Far longer than any stop should take: a wait that was not ended runs into it.
LONG_WAIT = 60.0
#: How long a stopped worker may take to end; a wait that was not ended takes LONG_WAIT.
JOIN_SECONDS = 20.0


def test_a_signal_just_before_the_main_thread_waits_stops_the_wait_as_it_begins():
    control = StopControl(LOGGER)
    control.handle(signal.SIGTERM, None)  # no wait registered yet: the handler only records it
    entered = False
    with pytest.raises(SystemExit) as stopped, control.waiting():
        entered = True
    assert stopped.value.code == 128 + signal.SIGTERM
    assert not entered, "the wait began although the run was asked to stop"


def _in_worker(wait: object) -> tuple[threading.Thread, list[BaseException]]:
    raised: list[BaseException] = []

    def run() -> None:
        try:
            wait()  # type: ignore[operator]
        except BaseException as exc:  # noqa: BLE001 - SystemExit is what is looked for
            raised.append(exc)

    worker = threading.Thread(target=run, name="refresh_0")
    worker.start()
    return worker, raised


@pytest.mark.parametrize("waiting_for", ["retry", "rate budget"])
def test_a_refresh_worker_waiting_before_a_request_stops_when_the_signal_comes(
    waiting_for: str, caplog: pytest.LogCaptureFixture
):
    control = StopControl(LOGGER)
    budget = RateBudget(sleep=control.budget_sleep)
    budget.pause(LONG_WAIT)  # a Retry-After: every caller of the budget waits

    def retry() -> None:  # the request path: the backoff, then the stop point before a request
        control.sleep(LONG_WAIT)
        control.check()

    wait = retry if waiting_for == "retry" else budget.acquire
    worker, raised = _in_worker(wait)
    worker.join(0.3)
    assert worker.is_alive(), "the worker should be waiting"
    with caplog.at_level(logging.ERROR, logger=LOGGER.name):
        control.handle(signal.SIGTERM, None)
        worker.join(JOIN_SECONDS)
    assert not worker.is_alive(), f"the worker went on waiting for the {waiting_for}"
    assert [type(exc) for exc in raised] == [SystemExit]
    assert isinstance(raised[0], SystemExit)
    assert raised[0].code == 128 + signal.SIGTERM
    assert "Stopped by signal 15 while refreshing" in caplog.text


def test_a_signal_inside_an_uninterrupted_step_stops_the_wait_only_when_the_step_ends():
    stop = StopControl(logging.getLogger("test"))
    steps: list[str] = []

    def wait() -> None:
        with stop.waiting():
            with stop.uninterrupted():
                stop.handle(15, None)
                steps.append("step ended")
            steps.append("went on waiting")

    with pytest.raises(SystemExit) as stopped:
        wait()
    assert steps == ["step ended"], "the step was cut in half, or the wait went on after it"
    assert stopped.value.code == 128 + 15
    assert stop.signal == 15


def test_a_signal_during_a_wait_raises_there_and_the_stream_writes_the_state_on_its_way_out(
    caplog: pytest.LogCaptureFixture,
):
    stop = StopControl(LOGGER)
    lines: list[str] = []
    stop.before_wait = lambda: lines.append("records flushed")

    def wait() -> None:
        with stop.waiting():
            lines.append("waiting")
            stop.handle(signal.SIGTERM, None)  # the handler, from the wait
            lines.append("went on waiting")

    with pytest.raises(SystemExit) as stopped:
        wait()
    assert lines == ["records flushed", "waiting"], "the stop point wrote or waited on"
    assert stopped.value.code == 128 + signal.SIGTERM
    with caplog.at_level(logging.ERROR, logger=LOGGER.name), pytest.raises(SystemExit) as out:
        stop.stop_if_asked(lambda: lines.append("STATE"), LOGGER)
    assert lines[-1] == "STATE"
    assert out.value.code == 128 + signal.SIGTERM
    assert "Stopped by signal 15 before the next request" in caplog.text


def test_check_without_a_signal_goes_on_and_stop_if_asked_writes_nothing():
    stop = StopControl(LOGGER)
    written: list[str] = []
    stop.check()
    stop.stop_if_asked(lambda: written.append("STATE"), LOGGER)
    with stop.waiting():
        written.append("waited")
    assert written == ["waited"]


def _exit_raises(code: int) -> None:
    raise SystemExit(code)


def test_a_second_signal_inside_an_uninterrupted_step_exits_when_the_step_ends(monkeypatch):
    monkeypatch.setattr("tap_mindzpay.run.stopping.exit_now", _exit_raises)
    stop = StopControl(logging.getLogger("test"))
    steps: list[str] = []

    def step() -> None:
        with stop.uninterrupted():
            stop.handle(2, None)
            stop.handle(2, None)
            steps.append("finished")

    with pytest.raises(SystemExit) as caught:
        step()
    assert steps == ["finished"]
    assert caught.value.code == 128 + 2


def test_a_sigterm_passed_on_after_a_ctrl_c_leaves_the_stop_under_way(monkeypatch):
    monkeypatch.setattr("tap_mindzpay.run.stopping.exit_now", _exit_raises)
    stop = StopControl(logging.getLogger("test"))
    stop.handle(signal.SIGINT, None)
    stop.handle(signal.SIGTERM, None)  # Meltano's graceful termination after the Ctrl-C
    assert stop.signal == signal.SIGINT
    with pytest.raises(SystemExit) as caught:
        stop.handle(signal.SIGINT, None)  # Ctrl-C again: at once
    assert caught.value.code == 128 + signal.SIGINT
