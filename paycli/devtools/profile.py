"""Where a bench's time went, for a target it missed: the same work run again, shorter,
under cProfile in this thread and in every thread it starts (the billing run charges from
worker threads), and the functions that took most of it by their own time.

cProfile follows one thread; `threading.setprofile` hands each new thread a profiler of
its own at its first call, and the threads' statistics are added together at the end.
Time a thread spends parked (a lock's `acquire`, a `sleep`) is left out: the main thread
waiting for its workers would otherwise be half of every profile.
The profiled run is slower than the measured one (the profiler's own cost), so the
figures are shares of the profiled time, not timings of the measured run.
"""

from __future__ import annotations

import cProfile
import pstats
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from paycli.devtools.report import ProfileLine

TOP = 12  # functions reported
# A thread parked while others work (the main thread waiting for its workers, a worker
# for its next task, a wait between polls) is waiting, not working: left out.
PARKED = frozenset({"<method 'acquire' of '_thread.lock' objects>",
                    "<built-in method time.sleep>"})


@contextmanager
def every_thread() -> Iterator[list[cProfile.Profile]]:
    """Profile this thread and every thread started inside the block (which must have
    ended when it leaves: their profilers are read after)."""
    profiles = [cProfile.Profile()]

    def start(*_: Any) -> None:  # a new thread's first event: its own profiler from now
        sys.setprofile(None)
        profile = cProfile.Profile()
        profiles.append(profile)
        profile.enable()

    threading.setprofile(start)
    profiles[0].enable()
    try:
        yield profiles
    finally:
        profiles[0].disable()
        threading.setprofile(None)


def top(profiles: list[cProfile.Profile], limit: int = TOP) -> list[ProfileLine]:
    """The `limit` functions with the most own time across `profiles`."""
    stats = pstats.Stats(profiles[0])
    for other in profiles[1:]:
        stats.add(other)
    entries: dict[tuple[str, int, str], tuple[Any, ...]] = {
        where: entry for where, entry in stats.stats.items()  # type: ignore[attr-defined]
        if where[2] not in PARKED}
    total = sum(entry[2] for entry in entries.values()) or 1e-9
    ranked = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:limit]
    return [ProfileLine(function=_name(*where), calls=entry[1],
                        own_ms=round(entry[2] * 1000, 1), share=round(entry[2] / total, 3))
            for where, entry in ranked]


def _name(path: str, line: int, function: str) -> str:
    """`paycli/saga/batch.py:295(_charge)`, a library's from its package, or a builtin's
    own name (`{method 'execute' of 'sqlite3.Connection' objects}`)."""
    if path == "~":
        return re.sub(r" at 0x[0-9a-f]+", "", function)  # the same name in every run
    parts = Path(path).parts
    for root in ("paycli", "site-packages"):
        if root in parts:
            parts = parts[parts.index(root) + (root == "site-packages"):]
            break
    else:
        parts = parts[-2:]
    return f"{'/'.join(parts)}:{line}({function})"
