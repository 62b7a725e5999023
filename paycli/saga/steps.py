"""Named saga steps: timing and progress reports.

A saga never imports Rich or Typer: it tells a `Reporter` what happens, and the terminal
layer draws it. Every step boundary is also announced to the boundary hook, a seam through
which the crash tests stop a process at any boundary (`set_boundary_hook`); a shipped
paycli sets no hook, and nothing in the environment can make it set one.

A step's detail is a reason (a code and its domain values, `paycli.results.messages` words
it), never a sentence: the step records a saga's last event keeps hold it as it is.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from paycli.errors import PaycliError
from paycli.logs import JsonLog
from paycli.records import StepStatus
from paycli.results import messages
from paycli.results.messages import Reason

if TYPE_CHECKING:
    from paycli.results.payments import PayResult, RefundResult


# Called with ("before" | "during" | "after", step name) at every step boundary.
BoundaryHook = Callable[[str, str], None]
_boundary_hook: BoundaryHook | None = None


def set_boundary_hook(hook: BoundaryHook | None) -> None:
    """Install (or with None, remove) the hook told of every step boundary."""
    global _boundary_hook
    _boundary_hook = hook


def _boundary(when: str, name: str) -> None:
    if _boundary_hook is not None:
        _boundary_hook(when, name)


@dataclass
class StepUpdate:
    """A step's state as shown to the operator; `reason` is its detail as a code."""

    name: str
    status: StepStatus
    attempts: int = 0
    max_attempts: int = 0
    duration_ms: float | None = None
    reason: Reason | None = None

    @property
    def detail(self) -> str:
        """The detail in words."""
        return messages.step_detail(self.reason)


class Reporter(Protocol):
    """Receives a saga's progress; the CLI draws it, tests record it."""

    def started(self, details: dict[str, Any]) -> None: ...

    def step(self, update: StepUpdate) -> None: ...

    def finish(self, result: PayResult | RefundResult, error: PaycliError | None) -> None: ...


class SilentReporter:
    """A reporter that shows nothing (for `--json`, the bench and tests)."""

    def started(self, details: dict[str, Any]) -> None:
        """Nothing to show."""

    def step(self, update: StepUpdate) -> None:
        """Nothing to show."""

    def finish(self, result: PayResult | RefundResult, error: PaycliError | None) -> None:
        """Nothing to show."""


@dataclass
class Step:
    """A running step; the saga sets its attempts, detail and final status."""

    update: StepUpdate
    reporter: Reporter
    started: float = field(default_factory=time.perf_counter)

    def show(self, status: StepStatus | None = None, reason: Reason | None = None) -> None:
        """Report the step's current state (its detail: `reason`, if given)."""
        if status is not None:
            self.update.status = status
        if reason is not None:
            self.update.reason = reason
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
        _boundary("before", name)
        step = Step(StepUpdate(name, StepStatus.RUNNING), self.reporter)
        step.show()
        _boundary("during", name)
        try:
            yield step
        except KeyboardInterrupt:
            # stopped, not failed: the money may be held and `recover` finishes the saga
            step.update.reason = {"code": "interrupted"}
            step.update.status = StepStatus.STOPPED
            self._finish(step, StepStatus.STOPPED)
            raise
        except BaseException:
            self._finish(step, StepStatus.FAILED)
            raise
        self._finish(step, StepStatus.SUCCESS)
        _boundary("after", name)

    def with_current(self, step: Step) -> list[dict[str, Any]]:
        """The records so far and `step`'s as if it ended now: what a step that writes the
        saga's last event stores, so the stored steps include itself."""
        status = step.update.status
        if status in (StepStatus.RUNNING, StepStatus.RETRY):
            status = StepStatus.SUCCESS
        return [*self.records, self._record(step.update, status, _since(step.started))]

    @staticmethod
    def _record(update: StepUpdate, status: StepStatus, duration_ms: float) -> dict[str, Any]:
        record = {"name": update.name, "status": str(status), "attempts": update.attempts or 1,
                  "duration_ms": duration_ms}
        if update.reason is not None:
            record["detail"] = update.reason
        return record

    def _finish(self, step: Step, default: StepStatus) -> None:
        update = step.update
        if update.status in (StepStatus.RUNNING, StepStatus.RETRY):
            update.status = default
        update.duration_ms = _since(step.started)
        step.show()
        record = self._record(update, update.status, update.duration_ms)
        self.records.append(record)
        if self.log.enabled:  # read by people too: the detail in words, as the view shows it
            self.log("step", correlation_id=self.correlation_id,
                     **{**record, "detail": update.detail})


def _since(started: float) -> float:
    """Milliseconds since `started` (a `perf_counter` reading), to the microsecond."""
    return round((time.perf_counter() - started) * 1000, 3)
