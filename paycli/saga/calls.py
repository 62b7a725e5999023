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
may have acted unanswered: then the outcome is unknown too.
"""

from __future__ import annotations

import time

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
from paycli.saga.core import Decision, SagaEnv, Verdict, set_payment, unknown
from paycli.saga.steps import Step

REFUND_KEPT = "the reservation"
NOTHING_CHARGED = "nothing was charged"
NOTHING_REFUNDED = "nothing was refunded"


def show_retry(step: Step, notice: RetryNotice) -> None:
    """Show a failed attempt and the wait before the next one."""
    step.show(StepStatus.RETRY, f"attempt {notice.attempt}/{notice.attempts} failed: "
                                f"{notice.reason}; retrying in {notice.wait_s:.2f}s")


class _Attempts:
    """One charge's attempts: the request, what each attempt did, and their uncertainty."""

    def __init__(self, env: SagaEnv, payment: Payment, step: Step) -> None:
        self.env = env
        self.payment = payment
        self.step = step
        self.uncertain = False
        self.request = ChargeRequest(
            payment_id=payment.id, amount=format_minor(payment.amount, payment.currency),
            currency=payment.currency, user_id=payment.user_id, correlation_id=payment.id,
            idempotency_key=payment.gateway_key,
            metadata={"orderId": payment.order_id or "", "source": "paycli"},
        )

    def __call__(self, number: int) -> Answer | Rejected:
        self.step.update.attempts = number
        self.step.update.max_attempts = self.env.resilience.attempts
        self.step.show(StepStatus.RUNNING, f"attempt {number}/{self.env.resilience.attempts}")
        if self.uncertain:
            found = self.env.gateway.find_payment(self.payment.id)
            if found is not None:
                self._log(number, "found", found.status)
                return found
        started = time.perf_counter()
        try:
            answer = self.env.gateway.charge(self.request)
        except GatewayFailure as exc:
            self.uncertain = self.uncertain or exc.sent
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
    """Charge the gateway for `payment`, deciding only on what the gateway says."""
    attempts = _Attempts(env, payment, step)
    try:
        answer = env.resilience.call(attempts, lambda notice: show_retry(step, notice))
    except LookupUnsupported:
        return unknown("the gateway's answer was lost and it cannot look charges up")
    except GatewayConfigError as exc:
        return config_refused(exc, attempts.uncertain, "the hold",
                              f"{NOTHING_CHARGED}, the hold was released")
    except (BreakerOpen, GatewayFailure) as exc:
        if not attempts.uncertain:
            return _unavailable(exc, step.update.attempts)
        found = _final_lookup(env, payment.id)
        if not isinstance(found, Answer):
            return found
        answer = found
    if isinstance(answer, Answer) and answer.status == "pending":
        _remember_reference(env, payment.id, answer.externalId)
    return _conclude(env, answer, wait_s, step)


def config_refused(exc: GatewayConfigError, uncertain: bool, kept: str, nothing_done: str
                   ) -> Verdict:
    """The gateway refused paycli's key or URL: nothing done, unless an earlier attempt
    may have acted unanswered (then the money stays where it is)."""
    if uncertain:
        return unknown(f"an answer was lost, then {exc.message}", kept=kept)
    return Verdict(Decision.UNAVAILABLE, None, exc.type, f"{exc.message}; {nothing_done}")


def _unavailable(exc: BreakerOpen | GatewayFailure, attempts: int) -> Verdict:
    if isinstance(exc, BreakerOpen):
        return Verdict(Decision.UNAVAILABLE, None, "breaker_open", exc.message)
    return Verdict(Decision.UNAVAILABLE, None, "gateway_unavailable",
                   f"gateway unavailable: {exc.reason} after {attempts} attempt(s); "
                   "nothing was charged")


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
                       "this payment; nothing was charged")
    return found


def _conclude(env: SagaEnv, answer: Answer | Rejected, wait_s: float, step: Step) -> Verdict:
    if isinstance(answer, Rejected):
        return Verdict(Decision.REFUSED, None, "declined",
                       f"declined: the gateway rejected the charge (HTTP {answer.http_status}"
                       f"{': ' + answer.message if answer.message else ''})")
    if answer.status == "pending":
        step.show(StepStatus.PENDING, f"pending at the gateway ({answer.externalId}); waiting")
        try:
            answer = poll(env.gateway, answer, time.monotonic() + wait_s)
        except GatewayConfigError as exc:
            return unknown(f"the charge is pending and {exc.message}", answer.externalId)
    return charge_verdict(answer)


def charge_verdict(answer: Answer) -> Verdict:
    """What a charge's state at the gateway means for its payment."""
    if answer.status == "approved":
        return Verdict(Decision.SUCCEEDED, answer.externalId)
    if answer.status == "declined":
        reason = f": {answer.message}" if answer.message else ""
        return Verdict(Decision.REFUSED, answer.externalId, "declined",
                       f"declined by the gateway{reason}")
    return unknown("still pending at the gateway", answer.externalId)


def poll(gateway: Gateway, answer: Answer, deadline: float) -> Answer:
    """Ask for a pending charge's status with backoff until it settles or `deadline`.

    Raises `GatewayConfigError` if the gateway refuses the look-up as such."""
    delay = 0.1
    while answer.status == "pending":
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(delay, remaining))
        delay = min(delay * 1.5, 2.0)
        try:
            found = gateway.status(answer.externalId)
        except GatewayFailure:
            continue
        if found is not None and found.status != "error":
            answer = found
    return answer


def ask_about_payment(env: SagaEnv, payment: Payment) -> Verdict:
    """What the gateway knows of a payment's charge (by its reference, else by paycli's
    payment id), as a verdict."""
    try:
        if payment.gateway_ref:
            found = env.gateway.status(payment.gateway_ref)
        else:
            found = env.gateway.find_payment(payment.id)
    except LookupUnsupported:
        return unknown("the gateway cannot look charges up by payment id", payment.gateway_ref)
    except GatewayFailure as exc:
        return unknown(f"the gateway could not be asked ({exc.reason})", payment.gateway_ref)
    except GatewayConfigError as exc:
        return unknown(f"the gateway could not be asked: {exc.message}", payment.gateway_ref)
    if found is None:
        return Verdict(Decision.UNAVAILABLE, None, "not_charged",
                       "the gateway holds no charge for this payment; the hold was released")
    return charge_verdict(found)


def ask_about_refund(env: SagaEnv, found: Refund) -> Verdict | None:
    """What the gateway's status of the charge says of this refund; None if it has none."""
    if not found.gateway_ref:
        return unknown("the payment has no gateway reference", kept=REFUND_KEPT)
    try:
        charge_state = env.gateway.status(found.gateway_ref)
    except GatewayFailure as exc:
        return unknown(f"the gateway could not be asked ({exc.reason})", kept=REFUND_KEPT)
    except GatewayConfigError as exc:
        return unknown(f"the gateway could not be asked: {exc.message}", kept=REFUND_KEPT)
    if charge_state is None or charge_state.refunds is None:
        return unknown("the gateway's answer was lost and it lists no refunds", kept=REFUND_KEPT)
    for record in charge_state.refunds:
        if record.idempotencyKey == found.gateway_key:
            return refund_verdict(RefundAnswer(
                externalId=charge_state.externalId,
                status="refunded" if record.status == "refunded" else "refund_failed",
                refundId=record.refundId))
    return None


def refund(env: SagaEnv, found: Refund, step: Step) -> Verdict:
    """Refund at the gateway, deciding only on what the gateway says."""
    uncertain = False

    def attempt(number: int) -> RefundAnswer | Rejected | Verdict:
        nonlocal uncertain
        step.update.attempts = number
        step.show(StepStatus.RUNNING, f"attempt {number}/{env.resilience.attempts}")
        if uncertain:
            known = ask_about_refund(env, found)
            if known is not None:
                return known
        try:
            return env.gateway.refund(str(found.gateway_ref),
                                      format_minor(found.amount, found.currency),
                                      found.reason or "requested by operator", found.gateway_key)
        except GatewayFailure as exc:
            uncertain = uncertain or exc.sent
            env.log("gateway_attempt", correlation_id=found.id, attempt=number,
                    kind="failure", outcome=exc.reason)
            raise

    try:
        answer = env.resilience.call(attempt, lambda notice: show_retry(step, notice))
    except GatewayConfigError as exc:
        return config_refused(exc, uncertain, REFUND_KEPT,
                              f"{NOTHING_REFUNDED}, the reservation was released")
    except (BreakerOpen, GatewayFailure) as exc:
        if uncertain:
            return ask_about_refund(env, found) or Verdict(
                Decision.UNAVAILABLE, None, "not_refunded",
                "gateway unavailable: no answer, and the gateway shows no such refund")
        if isinstance(exc, BreakerOpen):
            return Verdict(Decision.UNAVAILABLE, None, "breaker_open", exc.message)
        return Verdict(Decision.UNAVAILABLE, None, "gateway_unavailable",
                       f"gateway unavailable: {exc.reason}; nothing was refunded")
    return answer if isinstance(answer, Verdict) else refund_verdict(answer)


def refund_verdict(answer: RefundAnswer | Rejected) -> Verdict:
    """What the gateway's answer to a refund means for it."""
    if isinstance(answer, Rejected):
        detail = f": {answer.message}" if answer.message else ""
        return Verdict(Decision.REFUSED, None, "refund_refused",
                       f"refund refused by the gateway (HTTP {answer.http_status}{detail})")
    if answer.status == "refunded":
        return Verdict(Decision.SUCCEEDED, answer.refundId or answer.externalId)
    detail = f": {answer.message}" if answer.message else ""
    return Verdict(Decision.REFUSED, answer.refundId, "refund_refused",
                   f"the gateway could not refund{detail}")
