"""The saga's conversations with the card gateway: charge a payment, refund one, and ask
what the gateway knows of either. Each ends in a `Verdict`; none touches the ledger except
to store a pending charge's reference before polling it.

A charge or refund is decided only on what the gateway says. When an attempt's answer is
lost (timeout after sending, broken connection, malformed body), the gateway is asked
before anything is retried or decided: by paycli's payment id for a charge (where the
gateway can look that up), by the charge's status and its list of refunds for a refund. A
gateway that cannot be asked leaves the outcome unknown: the money stays held.

A gateway that refuses paycli's configuration (its API key or URL) ends a call at once,
with nothing done (the verdict's error type is `gateway_config`), unless an earlier attempt
may have acted unanswered: then the outcome is unknown too. On success a call leaves its
step's final text on the step: the attempt that succeeded and the failures before it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from paycli.errors import BreakerOpen, GatewayConfigError
from paycli.gateway.protocol import (
    Answer,
    ChargeRequest,
    Gateway,
    GatewayFailure,
    LookupUnsupported,
    RefundAnswer,
    Rejected,
)
from paycli.gateway.resilience import RetryNotice
from paycli.money import format_minor
from paycli.records import Payment, Refund, StepStatus
from paycli.saga.core import RUN_RECONCILE, Decision, SagaEnv, Verdict, set_payment, unknown
from paycli.saga.lookups import REFUND_KEPT, ask_about_refund, charge_verdict, refund_verdict
from paycli.saga.steps import Step

NOTHING_CHARGED = "nothing was charged"
NOTHING_REFUNDED = "nothing was refunded"
TIMES = "\N{MULTIPLICATION SIGN}"  # a count of identical failures: "2 [times] gateway error"


def show_retry(step: Step, notice: RetryNotice) -> None:
    """Show a failed attempt and the wait before the next one."""
    step.show(StepStatus.RETRY, f"attempt {notice.attempt}/{notice.attempts} failed: "
                                f"{notice.reason}; retrying in {notice.wait_s:.2f}s")


class _Tries:
    """One gateway call's attempts as its step shows them: how many reached the gateway,
    why each failed, and whether one may have acted unanswered (`uncertain`)."""

    def __init__(self, env: SagaEnv, step: Step) -> None:
        self.env = env
        self.step = step
        self.made = 0  # attempts the breaker let through
        self.failures: list[str] = []
        self.uncertain = False

    def begin(self, number: int) -> None:
        """Attempt `number` is about to go out."""
        self.made = number
        self.step.update.attempts = number
        self.step.update.max_attempts = self.env.resilience.attempts
        self.step.show(StepStatus.RUNNING, f"attempt {number}/{self.env.resilience.attempts}")

    def failed(self, exc: GatewayFailure) -> None:
        """An attempt failed; if its request may have arrived, the outcome is uncertain."""
        self.failures.append(exc.reason)
        self.uncertain = self.uncertain or exc.sent

    def history(self) -> str:
        """The failures so far, identical reasons counted together in the order first seen:
        the count, the multiplication sign and the reason, `2 [times] gateway error (HTTP 503)`.
        """
        counted = Counter(self.failures).items()
        return ", ".join(f"{count} {TIMES} {reason}" for reason, count in counted)

    def success(self, outcome: str, pending_s: float | None = None) -> str:
        """The step's final text: `approved (ext_1) on attempt 3/3 after 2 [times] gateway
        error (HTTP 503)`, and how long the charge was pending if it was."""
        text = outcome
        if self.made > 1:
            text += f" on attempt {self.made}/{self.env.resilience.attempts}"
        if self.failures:
            text += f" after {self.history()}"
        if pending_s is not None:
            text += f"{', then' if self.failures else ' after'} {pending_s:.1f} s pending"
        return text

    def unavailable(self, exc: BreakerOpen | GatewayFailure, nothing_done: str) -> Verdict:
        """Nothing reached the gateway that could have acted: why, as a verdict."""
        if isinstance(exc, BreakerOpen):
            return Verdict(Decision.UNAVAILABLE, None, "breaker_open",
                           self._breaker_text(exc, nothing_done))
        return Verdict(Decision.UNAVAILABLE, None, "gateway_unavailable",
                       f"gateway unavailable: {exc.reason} after {self.made} attempt(s); "
                       f"{nothing_done}")

    def _breaker_text(self, exc: BreakerOpen, nothing_done: str) -> str:
        if self.made == 0:  # open before this call: it never left the process
            return exc.message
        last = f", the last failed with {self.failures[-1]}" if self.failures else ""
        return (f"gateway unavailable: {self.made} attempt{'s' if self.made > 1 else ''} "
                f"made{last}, and the circuit breaker opened, so no further call was made; "
                f"{nothing_done}")

    def config_refused(self, exc: GatewayConfigError, kept: str, nothing_done: str) -> Verdict:
        """The gateway refused paycli's key or URL: nothing done, unless an earlier attempt
        may have acted unanswered (then the money stays where it is)."""
        if self.uncertain:
            return unknown(f"an answer was lost, then {exc.message}", kept=kept)
        return Verdict(Decision.UNAVAILABLE, None, exc.type, f"{exc.message}; {nothing_done}")


class _Attempts(_Tries):
    """One charge's attempts: the request, and what each attempt did."""

    def __init__(self, env: SagaEnv, payment: Payment, step: Step) -> None:
        super().__init__(env, step)
        self.payment = payment
        self.request = ChargeRequest(
            payment_id=payment.id, amount=format_minor(payment.amount, payment.currency),
            currency=payment.currency, user_id=payment.user_id, correlation_id=payment.id,
            idempotency_key=payment.gateway_key,
            metadata={"orderId": payment.order_id or "", "source": "paycli"},
        )

    def __call__(self, number: int) -> Answer | Rejected:
        self.begin(number)
        try:
            return self._attempt(number)
        except GatewayFailure as exc:
            self.failed(exc)
            raise

    def _attempt(self, number: int) -> Answer | Rejected:
        if self.uncertain:
            found = self.env.gateway.find_payment(self.payment.id)
            if found is not None:
                self._log(number, "found", found.status)
                return found
        started = time.perf_counter()
        try:
            answer = self.env.gateway.charge(self.request)
        except GatewayFailure as exc:
            self._log(number, "failure", exc.reason, started)
            raise
        outcome = answer.status if isinstance(answer, Answer) else f"http {answer.http_status}"
        self._log(number, "answer", outcome, started)
        return answer

    def _log(self, number: int, kind: str, outcome: str, started: float | None = None) -> None:
        took = round((time.perf_counter() - started) * 1000, 3) if started else None
        self.env.log("gateway_attempt", correlation_id=self.payment.id, attempt=number,
                     kind=kind, outcome=outcome, duration_ms=took)



def charge(env: SagaEnv, payment: Payment, step: Step, wait_s: float) -> Verdict:
    """Charge the gateway for `payment`, deciding only on what the gateway says.

    On success the step's detail is its final text, already shown (`_Tries.success`: the
    attempt that succeeded, the failures before it, how long the charge was pending), and
    its status is no longer PENDING: the saga only has to leave both as they are.
    """
    attempts = _Attempts(env, payment, step)
    try:
        answer = env.resilience.call(attempts, lambda notice: show_retry(step, notice))
    except LookupUnsupported:
        return unknown("the gateway's answer was lost and it cannot look charges up",
                       finish=RUN_RECONCILE)
    except GatewayConfigError as exc:
        return attempts.config_refused(exc, "the hold", f"{NOTHING_CHARGED}, the hold was "
                                                        "released")
    except (BreakerOpen, GatewayFailure) as exc:
        if not attempts.uncertain:
            return attempts.unavailable(exc, NOTHING_CHARGED)
        found = _final_lookup(env, payment.id)
        if not isinstance(found, Answer):
            return found
        answer = found
    if isinstance(answer, Answer) and answer.status == "pending":
        _remember_reference(env, payment.id, answer.externalId)
    return _conclude(env, answer, wait_s, attempts, lambda: _settled_meanwhile(env, payment))


def _remember_reference(env: SagaEnv, payment_id: str, gateway_ref: str) -> None:
    """Store a pending charge's reference before polling it: if this process dies while it
    polls, `recover` can still ask by externalId (the seed's gateway knows no other way)."""
    with env.store.transaction(payment_id) as tx:
        set_payment(tx, payment_id, "payment.charge_pending", {"gateway_ref": gateway_ref})


def _final_lookup(env: SagaEnv, payment_id: str) -> Answer | Verdict:
    try:
        found = env.gateway.find_payment(payment_id)
    except (LookupUnsupported, GatewayFailure, GatewayConfigError) as exc:
        return unknown(f"the gateway's answer was lost and the charge cannot be looked up "
                       f"({exc})")
    if found is None:
        return Verdict(Decision.UNAVAILABLE, None, "gateway_unavailable",
                       "gateway unavailable: no answer, and the gateway holds no charge for "
                       f"this payment; {NOTHING_CHARGED}")
    return found


def _settled_meanwhile(env: SagaEnv, payment: Payment) -> bool:
    """Whether the ledger shows the payment final already: the gateway's webhook, taken
    by `listen`, settled it while this saga polled."""
    found = env.store.read.payment(payment.id)
    return found is not None and found.is_final


def _conclude(env: SagaEnv, answer: Answer | Rejected, wait_s: float, attempts: _Tries,
              settled: Callable[[], bool] | None = None) -> Verdict:
    if isinstance(answer, Rejected):
        return Verdict(Decision.REFUSED, None, "declined",
                       f"declined: the gateway rejected the charge (HTTP {answer.http_status}"
                       f"{': ' + answer.message if answer.message else ''})")
    pending_s = None
    if answer.status == "pending":
        started = time.monotonic()
        try:
            answer = _wait_while_pending(env.gateway, answer, started + wait_s, attempts.step,
                                         settled)
        except GatewayConfigError as exc:
            return unknown(f"the charge is pending and {exc.message}", answer.externalId)
        pending_s = time.monotonic() - started
    verdict = charge_verdict(answer)
    if verdict.decision == Decision.SUCCEEDED:
        attempts.step.show(detail=attempts.success(f"approved ({answer.externalId})",
                                                   pending_s))
    return verdict


def _wait_while_pending(gateway: Gateway, answer: Answer, deadline: float, step: Step,
                        settled: Callable[[], bool] | None = None) -> Answer:
    """Poll a pending charge, showing each poll on the step; once it has settled the step
    is running again (its verdict, not the wait, decides how it ends)."""
    where = f"pending at the gateway ({answer.externalId})"
    step.show(StepStatus.PENDING, f"{where}: waiting up to {_seconds(deadline)} s")
    answer = poll(gateway, answer, deadline, lambda number, left: step.show(
        StepStatus.PENDING, f"{where}: poll {number}, waiting up to {left:.0f} s more"),
        settled)
    if answer.status != "pending":
        step.update.status = StepStatus.RUNNING
    return answer


def _seconds(deadline: float) -> str:
    return f"{max(deadline - time.monotonic(), 0.0):.0f}"


def poll(gateway: Gateway, answer: Answer, deadline: float,
         on_poll: Callable[[int, float], None] | None = None,
         settled: Callable[[], bool] | None = None) -> Answer:
    """Ask for a pending charge's status with backoff until it settles or `deadline`, or
    until `settled()` says the ledger has it final already (a webhook came first);
    `on_poll(number, seconds left)` is told of each look-up before it is made.

    Raises `GatewayConfigError` if the gateway refuses the look-up as such."""
    delay, number = 0.1, 0
    while answer.status == "pending":
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(delay, remaining))
        if settled is not None and settled():
            break
        delay = min(delay * 1.5, 2.0)
        number += 1
        if on_poll is not None:
            on_poll(number, max(deadline - time.monotonic(), 0.0))
        try:
            found = gateway.status(answer.externalId)
        except GatewayFailure:
            continue
        if found is not None and found.status != "error":
            answer = found
    return answer


class _RefundAttempts(_Tries):
    """One refund's attempts, every one with the refund's idempotency key."""

    def __init__(self, env: SagaEnv, found: Refund, step: Step) -> None:
        super().__init__(env, step)
        self.found = found

    def __call__(self, number: int) -> RefundAnswer | Rejected | Verdict:
        self.begin(number)
        if self.uncertain:
            known = ask_about_refund(self.env, self.found)
            if known is not None:
                return known
        found = self.found
        try:
            return self.env.gateway.refund(str(found.gateway_ref),
                                           format_minor(found.amount, found.currency),
                                           found.reason or "requested by operator",
                                           found.gateway_key)
        except GatewayFailure as exc:
            self.failed(exc)
            self.env.log("gateway_attempt", correlation_id=found.id, attempt=number,
                         kind="failure", outcome=exc.reason)
            raise



def refund(env: SagaEnv, found: Refund, step: Step) -> Verdict:
    """Refund at the gateway, deciding only on what the gateway says.

    On success the step's detail is its final text, as `charge` leaves it."""
    attempts = _RefundAttempts(env, found, step)
    try:
        answer = env.resilience.call(attempts, lambda notice: show_retry(step, notice))
    except GatewayConfigError as exc:
        return attempts.config_refused(exc, REFUND_KEPT, f"{NOTHING_REFUNDED}, the "
                                                         "reservation was released")
    except (BreakerOpen, GatewayFailure) as exc:
        if attempts.uncertain:
            return ask_about_refund(env, found) or Verdict(
                Decision.UNAVAILABLE, None, "not_refunded",
                "gateway unavailable: no answer, and the gateway shows no such refund")
        return attempts.unavailable(exc, NOTHING_REFUNDED)
    verdict = answer if isinstance(answer, Verdict) else refund_verdict(answer)
    if verdict.decision == Decision.SUCCEEDED:
        step.show(detail=attempts.success(f"refunded ({verdict.gateway_ref})"))
    return verdict
