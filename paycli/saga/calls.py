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
step's final detail on the step: the attempt that succeeded and the failures before it.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

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
from paycli.results import messages
from paycli.saga import routing
from paycli.saga.core import Decision, SagaEnv, Verdict, set_payment, unknown
from paycli.saga.lookups import (
    REFUND_KEPT,
    ask_about_refund,
    at_payments_gateway,
    charge_verdict,
    refund_verdict,
)
from paycli.saga.steps import Step

NOTHING_CHARGED = "charged"  # what a failed call did not do, as its reason records it
MOVABLE = frozenset({"breaker_open", "gateway_unavailable"})  # failures that may move
NOTHING_REFUNDED = "refunded"


def show_retry(step: Step, notice: RetryNotice) -> None:
    """Show a failed attempt and the wait before the next one."""
    step.show(StepStatus.RETRY, {"code": "retrying", "attempt": notice.attempt,
                                 "attempts": notice.attempts, "failure": notice.reason,
                                 "wait_s": notice.wait_s})


class _Tries:
    """One gateway call's attempts as its step shows them: how many reached the gateway,
    why each failed, and whether one may have acted unanswered (`uncertain`)."""

    def __init__(self, env: SagaEnv, step: Step) -> None:
        self.env = env
        self.step = step
        self.made = 0  # attempts the breaker let through
        self.failures: list[str] = []
        self.uncertain = False
        self.reached = False  # an attempt may have reached the gateway (see `movable`)

    def begin(self, number: int) -> None:
        """Attempt `number` is about to go out."""
        self.made = number
        self.step.update.attempts = number
        self.step.update.max_attempts = self.env.resilience.attempts
        self.step.show(StepStatus.RUNNING, {"code": "attempt", "attempt": number,
                                            "attempts": self.env.resilience.attempts})

    def failed(self, exc: GatewayFailure) -> None:
        """An attempt failed; if its request may have arrived, the outcome is uncertain."""
        self.failures.append(exc.reason)
        self.uncertain = self.uncertain or exc.sent
        self.reached = self.reached or not exc.unreached

    def success(self, outcome: str, gateway_ref: str | None, pending_s: float | None = None
                ) -> dict[str, Any]:
        """The step's final detail: the outcome ("approved", "refunded") and its reference,
        the attempt that succeeded, the failures before it (identical reasons counted
        together, in the order first seen) and how long the charge was pending if it was."""
        return {"code": outcome, "gateway_ref": gateway_ref, "attempt": self.made,
                "attempts": self.env.resilience.attempts,
                "failures": [[why, count] for why, count in Counter(self.failures).items()],
                "pending_s": pending_s}

    def unavailable(self, exc: BreakerOpen | GatewayFailure, nothing_done: str) -> Verdict:
        """Nothing reached the gateway that could have acted: why, as a verdict."""
        if isinstance(exc, BreakerOpen):
            return Verdict(Decision.UNAVAILABLE, None, "breaker_open", {
                "code": "breaker_open", "attempts": self.made, "nothing": nothing_done,
                "last_failure": self.failures[-1] if self.failures else None})
        return Verdict(Decision.UNAVAILABLE, None, "gateway_unavailable", {
            "code": "gateway_unavailable", "failure": exc.reason, "attempts": self.made,
            "nothing": nothing_done})

    def config_refused(self, exc: GatewayConfigError, kept: str, nothing_done: str) -> Verdict:
        """The gateway refused paycli's key or URL: nothing done, unless an earlier attempt
        may have acted unanswered (then the money stays where it is)."""
        if self.uncertain:
            return unknown({"code": "answer_lost_then_config", "error": exc.message},
                           kept=kept)
        return Verdict(Decision.UNAVAILABLE, None, exc.type,
                       {"code": "gateway_config", "error": exc.message, "nothing": nothing_done})


class _Attempts(_Tries):
    """One charge's attempts at one gateway: the request, and what each attempt did."""

    def __init__(self, env: SagaEnv, payment: Payment, step: Step,
                 moved_from: list[str] | None = None) -> None:
        super().__init__(env, step)
        self.payment = payment
        self.moved_from = moved_from or []
        self.request = ChargeRequest(
            payment_id=payment.id, amount=format_minor(payment.amount, payment.currency),
            currency=payment.currency, user_id=payment.user_id, correlation_id=payment.id,
            idempotency_key=payment.gateway_key,
            metadata={"orderId": payment.order_id or "", "source": "paycli"},
        )

    def movable(self, verdict: Verdict) -> bool:
        """Whether the payment may go to another gateway: nothing was done here, and no
        attempt could have reached this gateway (none connected, or the breaker refused)."""
        return (verdict.decision == Decision.UNAVAILABLE and not self.uncertain
                and not self.reached and verdict.error_type in MOVABLE)

    def success(self, outcome: str, gateway_ref: str | None, pending_s: float | None = None
                ) -> dict[str, Any]:
        """`_Tries.success`, and with several gateways the one that took the charge and
        the ones the payment failed over from."""
        detail = super().success(outcome, gateway_ref, pending_s)
        if self.env.gateways is not None and len(self.env.gateways.names) > 1:
            detail.update(gateway=self.env.route, moved_from=self.moved_from or None)
        return detail

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
    """Charge `payment` at its gateway, deciding only on what the gateway says; moved to
    the next gateway (`routing`) only when nothing sent could have reached its own.

    On success the step's detail is its final text, already shown (`_Tries.success`: the
    attempt that succeeded, the failures before it, how long the charge was pending, the
    gateway and the ones it failed over from), and its status is no longer PENDING: the
    saga only has to leave both as they are.
    """
    moved_from: list[str] = []
    while True:
        attempts = _Attempts(env.at(payment.gateway), payment, step, moved_from)
        verdict = _charge_at(attempts, wait_s)
        following = routing.after(env, payment)
        if not (attempts.movable(verdict) and following):
            return verdict
        step.show(StepStatus.RETRY, {"code": "failover", "from": payment.gateway,
                                     "to": following[0], "why": verdict.reason})
        moved_from.append(payment.gateway)
        payment = routing.move(env, payment, following[0], verdict.reason or {})
        if payment.gateway != following[0]:
            return verdict  # changed under us (never while we own it): charge nothing


def _charge_at(attempts: _Attempts, wait_s: float) -> Verdict:
    """One gateway's charge of the payment (its client, retries and breaker)."""
    env, payment, step = attempts.env, attempts.payment, attempts.step
    try:
        answer = env.resilience.call(attempts, lambda notice: show_retry(step, notice))
    except LookupUnsupported:
        return unknown({"code": "answer_lost_no_lookup"}, finish="reconcile")
    except GatewayConfigError as exc:
        return attempts.config_refused(exc, "hold", "charged_released")
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
        return unknown({"code": "answer_lost_lookup_failed", "error": str(exc)})
    if found is None:
        return Verdict(Decision.UNAVAILABLE, None, "gateway_unavailable",
                       {"code": "no_charge_after_lost_answer"})
    return found


def _settled_meanwhile(env: SagaEnv, payment: Payment) -> bool:
    """Whether the ledger shows the payment final already: the gateway's webhook, taken
    by `listen`, settled it while this saga polled."""
    found = env.store.read.payment(payment.id)
    return found is not None and found.is_final


def _conclude(env: SagaEnv, answer: Answer | Rejected, wait_s: float, attempts: _Tries,
              settled: Callable[[], bool] | None = None) -> Verdict:
    if isinstance(answer, Rejected):
        return Verdict(Decision.REFUSED, None, "declined", {
            "code": "charge_rejected", "http_status": answer.http_status,
            "gateway_message": answer.message or None})
    pending_s = None
    if answer.status == "pending":
        started = time.monotonic()
        try:
            answer = _wait_while_pending(env.gateway, answer, started + wait_s, attempts.step,
                                         settled)
        except GatewayConfigError as exc:
            return unknown({"code": "pending_then_config", "error": exc.message},
                           answer.externalId)
        pending_s = time.monotonic() - started
    verdict = charge_verdict(answer)
    if verdict.decision == Decision.SUCCEEDED:
        attempts.step.show(reason=attempts.success("approved", answer.externalId, pending_s))
    return verdict


def _wait_while_pending(gateway: Gateway, answer: Answer, deadline: float, step: Step,
                        settled: Callable[[], bool] | None = None) -> Answer:
    """Poll a pending charge, showing each poll on the step; once it has settled the step
    is running again (its verdict, not the wait, decides how it ends)."""
    ref = answer.externalId
    step.show(StepStatus.PENDING, {"code": "pending_wait", "gateway_ref": ref,
                                   "wait_s": max(deadline - time.monotonic(), 0.0)})

    def count_down(number: int, left: float) -> None:
        reason = {"code": "pending_poll", "gateway_ref": ref, "poll": number, "wait_s": left}
        if messages.render(reason) != step.update.detail:  # a new second or a new poll
            step.show(StepStatus.PENDING, reason)

    answer = poll(gateway, answer, deadline, count_down, settled)
    if answer.status != "pending":
        step.update.status = StepStatus.RUNNING
    return answer


def _wait(seconds: float, deadline: float, tick: Callable[[float], None] | None) -> None:
    """Sleep `seconds`, telling `tick` the time left before `deadline` as it goes."""
    end = time.monotonic() + seconds
    while (now := time.monotonic()) < end:
        time.sleep(min(COUNTDOWN_S, end - now))
        if tick is not None and time.monotonic() < end:
            tick(max(deadline - time.monotonic(), 0.0))


# How often a wait between two look-ups tells `on_poll` the time left, so that a
# countdown shown from it is never more than this stale (the look-ups back off to 2 s).
COUNTDOWN_S = 0.5


def poll(gateway: Gateway, answer: Answer, deadline: float,
         on_poll: Callable[[int, float], None] | None = None,
         settled: Callable[[], bool] | None = None) -> Answer:
    """Ask for a pending charge's status with backoff until it settles or `deadline`, or
    until `settled()` says the ledger has it final already (a webhook came first);
    `on_poll(number, seconds left)` is told of each look-up before it is made, and of
    the time left every `COUNTDOWN_S` while it waits between look-ups.

    Raises `GatewayConfigError` if the gateway refuses the look-up as such."""
    delay, number = 0.1, 0
    while answer.status == "pending":
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        _wait(min(delay, remaining), deadline,
              None if on_poll is None or number == 0 else functools.partial(on_poll, number))
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

    On success the step's detail is its final text, as `charge` leaves it. Sent to the
    payment's own gateway, with its breaker."""
    try:
        env = at_payments_gateway(env, found)
    except GatewayConfigError as exc:  # its gateway is no longer configured: nothing sent
        return Verdict(Decision.UNAVAILABLE, None, exc.type, {
            "code": "gateway_config", "error": exc.message, "nothing": "refunded_released"})
    attempts = _RefundAttempts(env, found, step)
    try:
        answer = env.resilience.call(attempts, lambda notice: show_retry(step, notice))
    except GatewayConfigError as exc:
        return attempts.config_refused(exc, REFUND_KEPT, "refunded_released")
    except (BreakerOpen, GatewayFailure) as exc:
        if attempts.uncertain:
            return ask_about_refund(env, found) or Verdict(
                Decision.UNAVAILABLE, None, "not_refunded",
                {"code": "no_refund_after_lost_answer"})
        return attempts.unavailable(exc, NOTHING_REFUNDED)
    verdict = answer if isinstance(answer, Verdict) else refund_verdict(answer)
    if verdict.decision == Decision.SUCCEEDED:
        step.show(reason=attempts.success("refunded", verdict.gateway_ref))
    return verdict
