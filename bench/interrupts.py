"""Turn SIGINT and SIGTERM into a flag the procedure runner checks between readings.

Why not let SIGINT raise KeyboardInterrupt wherever it lands: an exception thrown in
the middle of a driver's write/read pair leaves the instrument's reply unread, and the
very next command (the one that turns the output off) would then read a stale answer.
With a flag, the runner stops at the next reading boundary, turns outputs off over a
clean session, marks the record aborted and closes the file. A second signal of the
same kind falls back to the default behaviour, so a stuck run can still be killed.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType


class Interrupted(Exception):
    """The run was asked to stop by a signal; carries the signal's name."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(f"interrupted by {signal_name}")
        self.signal_name = signal_name


class StopRequest:
    """A flag set by SIGINT/SIGTERM (while installed) or by code, with an interruptible wait."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal_name = ""
        self._previous: dict[int, object] = {}

    def request(self, reason: str) -> None:
        self.signal_name = self.signal_name or reason
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def raise_if_requested(self) -> None:
        if self._event.is_set():
            raise Interrupted(self.signal_name)

    def wait_real_s(self, duration_s: float) -> None:
        """Sleep up to `duration_s` real seconds; raise Interrupted as soon as a stop is requested."""
        if duration_s > 0:
            self._event.wait(duration_s)
        self.raise_if_requested()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        self.request(name)
        # A second signal of the same kind gets the default behaviour (e.g. KeyboardInterrupt).
        signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))  # type: ignore[arg-type]

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous.clear()
