"""Ctrl-C during a billing run, counted by the signal handler and acted on by the run itself
at the points where stopping is safe.

Python's own Ctrl-C raises KeyboardInterrupt wherever the main thread happens to be: half
way through a console write (the line is then printed twice), between a lock's acquire
and the `try` that releases it, inside a future's bookkeeping while the charging threads
wait on it. A run that must settle what it sent before it stops cannot afford that, so
while it runs the handler only counts the presses; the run looks at the count between
steps (it never waits more than a few milliseconds without looking).

    first press   the run stops opening rows and sending charges, and waits for the
                  charges already at the gateway
    second press  the run stops waiting: those charges stay PROCESSING (their funds
                  held) for the next run of the file; should the run's own thread be in
                  a charge itself, the press interrupts it there
    third press   KeyboardInterrupt wherever the run is (a last resort: every ledger
                  transaction rolls back whole)
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType


class Presses:
    """The Ctrl-C presses seen while in its `with` block (in the main thread only; a run in
    another thread, as in tests, counts none)."""

    def __init__(self) -> None:
        self.count = 0
        self.urgent = False  # the run's thread is waiting on the gateway itself
        self._previous: signal.Handlers | object | None = None

    def __enter__(self) -> Presses:
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if previous is not signal.SIG_IGN:  # started with Ctrl-C ignored: it stays so
                self._previous = signal.signal(signal.SIGINT, self._pressed)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)  # type: ignore[arg-type]
            self._previous = None

    def _pressed(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count >= 3 or (self.count == 2 and self.urgent):
            raise KeyboardInterrupt
