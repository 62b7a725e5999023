"""paycli with a fault: `python tests/faulty_paycli.py ARGS` runs paycli, and SIGKILLs itself
at the saga step boundaries named in `FAULT_AT`.

`FAULT_AT` holds `before:STEP`, `after:STEP` or `during:STEP:SECONDS` (kill that many
seconds after STEP started, e.g. in the middle of a slow gateway call), comma-separated.
The fault enters through the saga's boundary hook (`saga.steps.set_boundary_hook`): the
shipped paycli has no such variable and cannot be made to kill itself.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from paycli.cli import app
from paycli.saga.steps import BoundaryHook, set_boundary_hook


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _points(spec: str) -> list[list[str]]:
    return [item.strip().split(":") for item in spec.split(",") if item.strip()]


def hook_for(spec: str) -> BoundaryHook:
    """The boundary hook that kills this process at the points of `spec`."""
    points = _points(spec)

    def hook(when: str, step: str) -> None:
        for parts in points:
            if len(parts) < 2 or parts[0] != when or parts[1] != step:
                continue
            if when != "during":
                _kill()
            timer = threading.Timer(float(parts[2]) if len(parts) > 2 else 0.0, _kill)
            timer.daemon = True
            timer.start()

    return hook


if __name__ == "__main__":
    set_boundary_hook(hook_for(os.environ.get("FAULT_AT", "")))
    app(prog_name="paycli")
