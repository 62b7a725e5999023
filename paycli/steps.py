"""Named saga steps: timing, progress reports, and who owns a saga in flight.

A saga never imports Rich or Typer: it tells a `Reporter` what happens, and the terminal
layer draws it. Each step is also a fault-hook point (`faults`), so tests can kill the
process at every boundary.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from paycli import faults
from paycli.logs import JsonLog


@dataclass
class StepUpdate:
    """A step's state as shown to the operator."""

    name: str
    status: str  # running, retry, success, failed, pending
    attempts: int = 0
    max_attempts: int = 0
    duration_ms: float | None = None
    detail: str = ""


class Reporter(Protocol):
    """Receives a saga's progress; the CLI draws it, tests record it."""

    def started(self, details: dict[str, Any]) -> None: ...

    def step(self, update: StepUpdate) -> None: ...

    def finish(self, result: dict[str, Any], error: Any) -> None: ...


class SilentReporter:
    """A reporter that shows nothing (for `--json`, the bench and tests)."""

    def started(self, details: dict[str, Any]) -> None:
        """Nothing to show."""

    def step(self, update: StepUpdate) -> None:
        """Nothing to show."""

    def finish(self, result: dict[str, Any], error: Any) -> None:
        """Nothing to show."""


@dataclass
class Step:
    """A running step; the saga sets its attempts, detail and final status."""

    update: StepUpdate
    reporter: Reporter
    started: float = field(default_factory=time.perf_counter)

    def show(self, status: str | None = None, detail: str | None = None) -> None:
        """Report the step's current state."""
        if status is not None:
            self.update.status = status
        if detail is not None:
            self.update.detail = detail
        self.reporter.step(self.update)


class Steps:
    """Runs the named steps of one saga and keeps their records for the result."""

    def __init__(self, reporter: Reporter, log: JsonLog, correlation_id: str | None = None
                 ) -> None:
        self.reporter = reporter
        self.log = log
        self.correlation_id = correlation_id
        self.records: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def run(self, name: str) -> Iterator[Step]:
        """Run the step `name`: report it running, then success or failed, timed."""
        faults.point("before", name)
        step = Step(StepUpdate(name, "running"), self.reporter)
        step.show()
        faults.point("during", name)
        try:
            yield step
        except BaseException:
            self._finish(step, "failed")
            raise
        self._finish(step, "success")
        faults.point("after", name)

    def _finish(self, step: Step, default: str) -> None:
        update = step.update
        if update.status in ("running", "retry"):
            update.status = default
        update.duration_ms = round((time.perf_counter() - step.started) * 1000, 3)
        step.show()
        record = {"name": update.name, "status": update.status,
                  "attempts": update.attempts or 1, "duration_ms": update.duration_ms}
        self.records.append(record)
        self.log("step", correlation_id=self.correlation_id, detail=update.detail, **record)


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
