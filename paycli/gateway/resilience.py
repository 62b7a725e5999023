"""Retries and the shared circuit breaker around gateway attempts.

- Retries (tenacity): only `GatewayFailure`s are retried, with exponential backoff and
  jitter, bounded by a number of attempts and an overall deadline. Answers (approved,
  pending, declined, 4xx) end the loop at once.
- The breaker (pybreaker) keeps its state in the ledger database through `BreakerStore`,
  so every paycli process shares it: N consecutive failed attempts, counted across
  processes, open it; while open, attempts fail at once without touching the network; after
  the reset timeout exactly one process wins the half-open probe (compare-and-set) and its
  result closes or reopens the breaker. Answers, declines included, count as successes.
- A refusal of paycli's configuration (`GatewayConfigError`: a wrong API key or URL) is
  neither retried nor counted as a failure: a misconfigured process must not open the
  breaker that every other process shares. Like `LookupUnsupported`, pybreaker handles it
  as an excluded exception: a call that reached the gateway, so not a failure.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import pybreaker
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from paycli.errors import BreakerOpen, GatewayConfigError
from paycli.gateway.protocol import GatewayFailure, LookupUnsupported
from paycli.records import BreakerState, BreakerStatus
from paycli.store import BreakerStore

T = TypeVar("T")

# tenacity 9.1 renamed `initial` to `multiplier` (and warns on `initial`); 8.x knows only
# `initial`. Both mean the first wait before jitter.
_FIRST_WAIT = ("multiplier" if "multiplier" in inspect.signature(wait_exponential_jitter).parameters
               else "initial")


class _LedgerStorage(pybreaker.CircuitBreakerStorage):
    """pybreaker's storage interface over the ledger's breaker row.

    A half-open breaker reads as "open" to every process but the one that claimed the
    probe, so only that one process lets a call through.
    """

    def __init__(self, shared: BreakerStore, reset_s: float, lease_s: float) -> None:
        super().__init__("gateway")
        self._shared = shared
        self._reset_s = reset_s
        self._lease_s = lease_s
        self._probing = False
        self._failures_seen = 1  # as the last read of the row found them (1: not read yet)

    @property
    def state(self) -> str:
        row = self._shared.read()
        self._failures_seen = row.failures
        if row.state == pybreaker.STATE_HALF_OPEN and not self._probing:
            return pybreaker.STATE_OPEN
        return row.state

    @state.setter
    def state(self, state: str) -> None:
        if state == pybreaker.STATE_HALF_OPEN:
            if not self._shared.claim_probe(time.time(), self._reset_s, self._lease_s):
                raise pybreaker.CircuitBreakerError("another process is probing the gateway")
            self._probing = True
            return
        self._probing = False
        if state == pybreaker.STATE_OPEN:
            self._shared.open(time.time())
        else:
            self._shared.close()

    def increment_counter(self) -> None:
        self._shared.add_failure()

    def reset_counter(self) -> None:
        # pybreaker reads `state` before every call: when that read found no failures,
        # a success has none to reset, and the row is not read a second time per call
        if self._failures_seen:
            self._shared.reset_failures()
            self._failures_seen = 0

    def increment_success_counter(self) -> None:
        """Successes in half-open are not counted: one success closes the breaker."""

    def reset_success_counter(self) -> None:
        """See `increment_success_counter`."""

    @property
    def counter(self) -> int:
        return self._shared.read().failures

    @property
    def success_counter(self) -> int:
        return 1

    @property
    def opened_at(self) -> datetime | None:
        opened = self._shared.read().opened_at
        if opened is None:
            return None
        if self._shared.read().state == pybreaker.STATE_HALF_OPEN:
            # A probe is out: the reset timeout counts from its start, so a dead
            # prober's claim expires after the lease, not after the reset timeout.
            probe = self._shared.read().probe_started or opened
            return datetime.fromtimestamp(probe + self._lease_s - self._reset_s, UTC)
        return datetime.fromtimestamp(opened, UTC)

    @opened_at.setter
    def opened_at(self, value: datetime) -> None:
        """The open time is written together with the state (see `state`)."""


def probe_lease(reset_s: float, attempt_timeout_s: float) -> float:
    """How long a half-open probe may stay out before another process may probe instead
    (its process is taken for dead): long enough for one attempt with its look-up."""
    return max(reset_s, attempt_timeout_s * 2 + 1.0)


def next_probe_at(state: BreakerState, reset_s: float, lease_s: float) -> float | None:
    """When (epoch seconds) a probe is next allowed; None while the breaker is closed."""
    if state.state == BreakerStatus.OPEN and state.opened_at is not None:
        return state.opened_at + reset_s
    if state.state == BreakerStatus.HALF_OPEN:
        return (state.probe_started or state.opened_at or 0.0) + lease_s
    return None


@dataclass(frozen=True)
class RetryNotice:
    """What the live view shows while waiting before another attempt."""

    attempt: int
    attempts: int
    wait_s: float
    reason: str


class Resilience:
    """Runs gateway attempts under the shared breaker, retrying failures."""

    def __init__(self, shared: BreakerStore, *, failures: int, reset_s: float,
                 attempts: int, attempt_timeout_s: float,
                 backoff_s: float = 0.1, max_backoff_s: float = 2.0) -> None:
        lease_s = probe_lease(reset_s, attempt_timeout_s)
        self._shared, self._reset_s = shared, reset_s
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=failures, reset_timeout=reset_s,
            state_storage=_LedgerStorage(shared, reset_s, lease_s),
            throw_new_error_on_trip=False,
            exclude=[LookupUnsupported, GatewayConfigError],
        )
        self.attempts = attempts
        self.deadline_s = attempts * (attempt_timeout_s + max_backoff_s) + 1.0
        self._on_retry: Callable[[RetryNotice], None] | None = None
        self._retrying = Retrying(
            retry=retry_if_exception_type(GatewayFailure),
            stop=stop_after_attempt(attempts) | stop_after_delay(self.deadline_s),
            wait=wait_exponential_jitter(max=max_backoff_s, jitter=backoff_s,
                                         **{_FIRST_WAIT: backoff_s}),
            before_sleep=self._before_sleep,
            reraise=True,
        )

    def _before_sleep(self, state: RetryCallState) -> None:
        if self._on_retry is None or state.outcome is None or state.next_action is None:
            return
        error = state.outcome.exception()
        reason = error.reason if isinstance(error, GatewayFailure) else str(error)
        self._on_retry(RetryNotice(state.attempt_number, self.attempts,
                                   state.next_action.sleep, reason))

    def reuse_breaker_reads(self, seconds: float) -> None:
        """Let a read of the shared breaker answer again for `seconds` (see
        `BreakerStore.reuse_s`): another process's opening is seen that much later."""
        self._shared.reuse_s = seconds

    def lets_through(self, now: float | None = None) -> bool:
        """Whether the shared breaker would let a call through now: closed, or open for
        its whole reset time (a probe may go). Half-open (another process probes) is no."""
        stored = self._shared.read()
        if stored.state == BreakerStatus.CLOSED:
            return True
        opened = stored.opened_at
        return (stored.state == BreakerStatus.OPEN and opened is not None and
                opened + self._reset_s <= (now or time.time()))

    def call(self, attempt: Callable[[int], T],
             on_retry: Callable[[RetryNotice], None] | None = None) -> T:
        """Run `attempt(n)` until it returns, retrying `GatewayFailure`s.

        Raises `BreakerOpen` when the breaker refuses a call, or the last `GatewayFailure`
        when attempts or the deadline run out. Not for use by two threads at once (each
        saga environment has its own).
        """
        self._on_retry = on_retry
        started = time.monotonic()
        try:
            return self._guarded(attempt, 1)  # most calls end here, without retry machinery
        except GatewayFailure as exc:
            first = exc
        if self.attempts == 1:
            raise first
        # tenacity takes over from the first failure (replayed to it as attempt 1, so its
        # wait, notice and stop rules see exactly what happened), within what is left of
        # the deadline.
        spent = time.monotonic() - started
        retrying = self._retrying.copy(stop=stop_after_attempt(self.attempts) |
                                       stop_after_delay(max(self.deadline_s - spent, 0.0)))
        for state in retrying:
            with state:
                number = state.retry_state.attempt_number
                if number == 1:
                    raise first
                result = self._guarded(attempt, number)
        return result

    def _guarded(self, attempt: Callable[[int], T], number: int) -> T:
        try:
            return self.breaker.call(attempt, number)
        except pybreaker.CircuitBreakerError:
            raise BreakerOpen(
                "gateway unavailable: the circuit breaker is open (too many consecutive "
                "failures); no call was made"
            ) from None
