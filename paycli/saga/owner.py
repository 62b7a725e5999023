"""Who owns a saga in flight, and waiting for an owner to let go.

A payment or refund being worked on carries its process's owner id (`pid:start time`, so a
reused pid is not mistaken for the process that died). Another process takes it over only
when that owner is gone (`core.claim_orphan`), and otherwise waits for it here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

from paycli.records import Payment, Refund

Saga = TypeVar("Saga", Payment, Refund)

POLL_S = 0.05


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def this_owner() -> str:
    """An id of this process that a later process can tell from a reused pid."""
    pid = os.getpid()
    return f"{pid}:{_start_time(pid) or 0}"


def owner_alive(owner: str | None) -> bool:
    """Whether the process that wrote `owner` is still running."""
    if not owner:
        return False
    pid_text, _, start = owner.partition(":")
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if os.path.exists("/proc/self/stat"):
        return _start_time(pid) == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_for_owner(read: Callable[[], Saga], wait_s: float) -> Saga:
    """The saga as it stands once the live process holding it lets go (or `wait_s` ends)."""
    deadline = time.monotonic() + wait_s
    current = read()
    while not current.is_final and owner_alive(current.owner) and time.monotonic() < deadline:
        time.sleep(POLL_S)
        current = read()
    return current
