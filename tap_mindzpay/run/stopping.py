"""Stopping a run on SIGTERM/SIGINT at a point where nothing is half done.

The signal handler (``StopControl.handle``) writes nothing by itself. It runs between two
bytecodes of the main thread, which may be in the middle of writing a RECORD: a STATE written
from there can fail (seen: ``BufferError`` from the msgspec writer interrupted while encoding),
and one written at an arbitrary point may carry a bookmark past records whose capture state is
not in it yet. So it only records the signal; the request path checks ``signal`` before every
request (``check``), where nothing is half done, and raises ``SystemExit`` (128 + the signal):
it passes up the partition's read and change capture to the stream, which writes the STATE and
exits (``stop_if_asked``). If the main thread is waiting before a retry, for the rate budget,
for a page or for a token (up to a minute, or a long ``Retry-After``), the handler stops that
wait (``waiting``) the same way, at once; a signal that came just before such a wait began
stops it as it begins. A refresh worker thread waiting before a retry or for the rate budget
(``sleep``) looks for the signal every ``WORKER_POLL_SECONDS`` and stops. A second signal exits
at once; the last STATE written is then the one to resume from (every STATE the tap writes is);
a signal of another kind during a stop (Meltano passes a Ctrl-C's stop on as SIGTERM) leaves it
alone.

A token grant is not cut in half (``uninterrupted``): a signal that comes while the grant's
request is out, or while a rotated refresh token is being written, takes effect when the
rotated token is saved; a refresh token spent by a grant whose answer was dropped is lost.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterator
    from types import FrameType

#: How often a refresh worker waiting between requests looks for a stop signal.
WORKER_POLL_SECONDS = 0.1


def exit_now(code: int) -> NoReturn:
    """Exit at once with ``code``, the messages written so far flushed, without a traceback.

    ``sys.exit`` from a signal handler raises ``SystemExit`` wherever the main thread is,
    possibly inside an exit handler (the thread pools' ``atexit`` join), which then prints a
    traceback. Every message is written whole (one ``write`` per line), so a flush leaves no
    half line on stdout.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


class StopControl:
    """The run's stop signal, and who to stop at once while the main thread waits."""

    def __init__(self, logger: logging.Logger) -> None:
        """No signal yet; ``install`` makes ``handle`` the SIGTERM and SIGINT handler."""
        self.logger = logger
        #: The signal that asked the run to stop; ``None`` while it runs.
        self.signal: int | None = None
        self._waiter: Callable[[], None] | None = None
        #: Called in the main thread as a wait between requests begins: the RECORD lines
        #: gathered so far are written, so a target never waits for records while the tap
        #: waits for the API.
        self.before_wait: Callable[[], None] | None = None
        #: The stop is said once, by the first thread that stops (a worker, then the main one).
        self._stop_logged = False
        #: Depth of ``uninterrupted`` steps in the main thread, and a second signal they held.
        self._holding = 0
        self._held_second: int | None = None

    def install(self) -> None:
        """Handle SIGTERM and SIGINT with ``handle`` (only the main thread may)."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self.handle)
            signal.signal(signal.SIGTERM, self.handle)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM/SIGINT: stop before the next API request, after a STATE safe to resume from."""
        del frame
        if self.signal is not None and signum != self.signal:
            # Another kind of signal during the stop: a supervisor passing the stop on (Meltano
            # sends SIGTERM to its plugins after a Ctrl-C). The stop under way stands.
            return
        if self._holding and self.signal is not None:
            self._held_second = signum
            return
        if self.signal is not None:
            self.logger.error(
                "Stopped by a second signal %d at once; the last STATE written is safe to "
                "resume from.",
                signum,
            )
            exit_now(128 + signum)
        self.signal = signum
        self.logger.warning(
            "Signal %d: stopping before the next API request, after writing a final STATE "
            "(a second signal stops at once).",
            signum,
        )
        waiter = self._waiter
        if waiter is not None and not self._holding:
            waiter()

    @contextmanager
    def uninterrupted(self) -> Iterator[None]:
        """A step a stop must not cut in half; a signal during it acts when it ends.

        Signal handlers run in the main thread only, so a worker thread's step needs nothing.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1
        if self._holding == 0 and self.signal is not None:
            if self._held_second is not None:
                self.handle(self._held_second, None)
            waiter = self._waiter
            if waiter is not None:
                waiter()

    def check(self) -> None:
        """Stop here if a signal asked for it: raise, writing nothing (a stop point).

        Called before every request and, from the signal handler, while the main thread waits
        (``waiting``): at those points nothing is half done. The ``SystemExit`` passes up the
        read and change capture of the partition (which leaves its capture state in the
        partition) to the stream, which writes the STATE and says the stop
        (``stop_if_asked``). A worker thread says the stop itself, as it may be the first to.

        Raises:
            SystemExit: With 128 + the signal number, as a process killed by it would.
        """
        signum = self.signal
        if signum is None:
            return
        if threading.current_thread() is threading.main_thread():
            raise SystemExit(128 + signum)
        self._stop_worker(signum, self.logger)

    def stop_if_asked(self, write_state: Callable[[], None], logger: logging.Logger) -> None:
        """Stop the run here, after a STATE (``write_state``), if a signal asked for it.

        The stream's way out of a partition stopped at a stop point (``check``): every record
        yielded so far has been written and counted in the bookmark, and the capture state is
        in the partition, so the STATE written now is safe to resume from. A worker thread
        (a refresh, a page fetched ahead) only raises; the main thread, given that exit,
        stops itself the same way: in a list, here (``MindzPayStream.get_records``); in the
        refresh phase, after a STATE of the refreshes handed out (``capture.engine``). A
        worker sleeping before a retry is woken by the signal (``sleep``), so no thread sleeps
        out its backoff.

        Raises:
            SystemExit: With 128 + the signal number, as a process killed by it would.
        """
        signum = self.signal
        if signum is not None and threading.current_thread() is threading.main_thread():
            write_state()
            if not self._stop_logged:  # the SystemExit may pass another check on its way
                self._stop_logged = True
                logger.error(
                    "Stopped by signal %d before the next request; the STATE just written is "
                    "safe to resume from.",
                    signum,
                )
        self.check()

    def _stop_worker(self, signum: int, logger: logging.Logger) -> None:
        """A refresh worker stops by raising; the main thread then exits with it."""
        if not self._stop_logged:
            self._stop_logged = True
            logger.error(
                "Stopped by signal %d while refreshing; the last STATE written is safe to "
                "resume from.",
                signum,
            )
        raise SystemExit(128 + signum)

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` (a backoff), or less: a stop signal wakes every thread within a step.

        The caller checks ``stop_if_asked`` next; in a worker thread that ends it at once
        instead of after its backoff. In the main thread, inside ``waiting``, the signal handler
        stops the run at once. The sleep looks for the signal every ``WORKER_POLL_SECONDS``
        rather than waiting on an event, so the handler takes no lock (it runs between two
        bytecodes of the main thread, which may hold that lock).
        """
        deadline = time.monotonic() + seconds
        while self.signal is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, WORKER_POLL_SECONDS))

    def budget_sleep(self, seconds: float) -> None:
        """The rate budget's wait: ``sleep``; then a worker thread stops if a signal came.

        The budget would only wait again (its pause or window has not ended), so a woken worker
        stops here (``SystemExit``); the main thread waits for the budget inside ``waiting``.
        """
        self.sleep(seconds)
        signum = self.signal
        if signum is not None and threading.current_thread() is not threading.main_thread():
            self._stop_worker(signum, self.logger)

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """A wait between requests: in the main thread, a signal stops it at once (``check``).

        Inside it nothing is half done (no record in flight, no message half written). The
        RECORD lines gathered so far are written as it begins (``before_wait``).
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        if self.before_wait is not None:
            self.before_wait()
        self._waiter = self.check
        try:
            self.check()  # a signal that came after the last check, before the wait began
            yield
        finally:
            self._waiter = None
