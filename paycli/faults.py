"""A test-only fault hook: make the process SIGKILL itself at a named point of a saga.

Set `PAYCLI_FAULT` to `before:STEP`, `after:STEP` or `during:STEP:SECONDS` (kill that
many seconds after STEP started, e.g. in the middle of a slow gateway call). Several
points may be given, comma-separated. Unset, the hook does nothing.
"""

from __future__ import annotations

import os
import signal
import threading
from functools import cache

_ENV = "PAYCLI_FAULT"


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@cache
def _points() -> tuple[tuple[str, ...], ...]:
    """The fault points asked for, read once per process."""
    spec = os.environ.get(_ENV, "")
    return tuple(tuple(item.strip().split(":")) for item in spec.split(",") if item.strip())


def point(when: str, step: str) -> None:
    """Called by the saga `before` and `after` each step, and `during` at its start."""
    points = _points()
    if not points:
        return
    for parts in points:
        if len(parts) >= 2 and parts[0] == when and parts[1] == step:
            if when == "during":
                delay = float(parts[2]) if len(parts) > 2 else 0.0
                timer = threading.Timer(delay, _kill)
                timer.daemon = True
                timer.start()
            else:
                _kill()
