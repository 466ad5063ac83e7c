"""Stopping a run on SIGTERM/SIGINT at a point where nothing is half done.

The signal handler (``StopControl.handle``) writes nothing by itself. It runs between two
bytecodes of the main thread, which may be in the middle of writing a RECORD: a STATE written
from there can fail (seen: ``BufferError`` from the msgspec writer interrupted while encoding),
and one written at an arbitrary point may carry a bookmark past records whose capture state is
not in it yet. So it only records the signal; the streams' request path checks ``signal``
before every request, where nothing is half done, writes the STATE there and exits with 128 +
the signal. If the main thread is waiting before a retry or for a token (up to a minute, or a
long ``Retry-After``), the stream registered for that wait (``waiting``) stops it now, from the
handler. A second signal exits at once; the last STATE written is then the one to resume from
(every STATE the tap writes is).
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterator
    from types import FrameType


class StopControl:
    """The run's stop signal, and who to stop at once while the main thread waits."""

    def __init__(self, logger: logging.Logger) -> None:
        """No signal yet; ``install`` makes ``handle`` the SIGTERM and SIGINT handler."""
        self.logger = logger
        #: The signal that asked the run to stop; ``None`` while it runs.
        self.signal: int | None = None
        self._waiter: Callable[[], None] | None = None
        self._worker_stop_logged = False

    def install(self) -> None:
        """Handle SIGTERM and SIGINT with ``handle`` (only the main thread may)."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self.handle)
            signal.signal(signal.SIGTERM, self.handle)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM/SIGINT: stop before the next API request, after a STATE safe to resume from."""
        del frame
        if self.signal is not None:
            self.logger.error(
                "Stopped by a second signal %d at once; the last STATE written is safe to "
                "resume from.",
                signum,
            )
            sys.exit(128 + signum)
        self.signal = signum
        self.logger.warning(
            "Signal %d: stopping before the next API request, after writing a final STATE "
            "(a second signal stops at once).",
            signum,
        )
        waiter = self._waiter
        if waiter is not None:
            waiter()

    def stop_if_asked(self, write_state: Callable[[], None], logger: logging.Logger) -> None:
        """Stop the run here if a signal asked for it.

        Called before every request and, from the signal handler, while the main thread waits
        before a retry or for a token (``waiting``): at those points nothing is half done. In
        the main thread every record yielded so far has been written and counted in the
        bookmark and the capture state, so a STATE written now (``write_state``) is safe to
        resume from. A refresh worker thread only raises; the main thread, which has handed out
        every refresh before it, writes a STATE of them (``capture.engine``) and exits.

        Raises:
            SystemExit: With 128 + the signal number, as a process killed by it would.
        """
        signum = self.signal
        if signum is None:
            return
        if threading.current_thread() is threading.main_thread():
            write_state()
            logger.error(
                "Stopped by signal %d before the next request; the STATE just written is safe "
                "to resume from.",
                signum,
            )
        elif not self._worker_stop_logged:
            self._worker_stop_logged = True
            logger.error(
                "Stopped by signal %d while refreshing; the last STATE written is safe to "
                "resume from.",
                signum,
            )
        raise SystemExit(128 + signum)

    @contextmanager
    def waiting(self, stop: Callable[[], None]) -> Iterator[None]:
        """A wait between requests: in the main thread, a signal calls ``stop`` at once.

        Inside it nothing is half done (no record in flight, no message half written).
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        self._waiter = stop
        try:
            yield
        finally:
            self._waiter = None
