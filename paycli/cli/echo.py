"""The terminal's echo of control characters, off while paycli draws live (the step
panel, the billing run's bar).

A Ctrl-C echoes `^C` after the last line drawn; when that line is as wide as the
terminal it wraps, and every redraw after it starts one line too low, leaving a stray
border or a half-drawn bar behind.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def control_echo_off() -> Iterator[None]:
    """`quiet_control_echo` for the time of a `with` block."""
    saved = quiet_control_echo()
    try:
        yield
    finally:
        restore_echo(saved)


def quiet_control_echo() -> list[Any] | None:
    """Stop the terminal echoing `^C` (returns what to restore)."""
    try:
        import termios  # late: POSIX only (no termios on Windows), an optional module

        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        quiet = list(saved)
        quiet[3] &= ~termios.ECHOCTL
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
        return saved
    except (ImportError, OSError, ValueError, AttributeError):
        return None  # no terminal on stdin (or no termios): nothing to quiet


def restore_echo(saved: list[Any] | None) -> None:
    """Give the terminal back the settings `quiet_control_echo` returned."""
    if saved is None:
        return
    import termios  # late: POSIX only, as in `quiet_control_echo`

    with contextlib.suppress(OSError, ValueError):  # stdin went away: nothing to restore
        termios.tcsetattr(sys.stdin.fileno(), termios.TCSANOW, saved)
