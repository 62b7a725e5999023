"""The refund saga: reserve on the payment, refund at the gateway, credit the wallet.

    CheckRefundable   the payment is COMPLETED or PARTIALLY_REFUNDED and the amount is
                      at most what is left (else RefundRefused, exit 9)
    ReserveRefund     the amount is reserved on the payment (re-checked atomically), so two
                      concurrent refunds can never exceed it; a PENDING refund is stored
    ProcessRefund     PROCESSING, then `POST /payment/refund` (retries, shared breaker, one
                      idempotency key for every attempt; `calls`)
    SettleRefund      the verdict through the one settle path (`settle`)

A lost answer is settled by the charge's status at the gateway (its list of refunds, by
idempotency key) or by repeating the call with the same key; a gateway that offers
neither leaves the refund PROCESSING for `recover`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paycli.errors import (
    BreakerOpen,
    GatewayConfigError,
    GatewayUnavailable,
    NotFound,
    OutcomeUnknown,
    PaycliError,
    RefundRefused,
    UsageError,
)
from paycli.ledger import idempotency, postings
from paycli.money import Money, MoneyError, format_minor, parse_amount
from paycli.records import REFUNDABLE_STATUSES, Payment, Refund, RefundStatus, StepStatus
from paycli.results import messages
from paycli.results.payments import RefundResult
from paycli.saga import calls
from paycli.saga.core import (
    Decision,
    Outcome,
    SagaEnv,
    Verdict,
    read_refund,
    set_payment,
    set_refund,
)
from paycli.saga.owner import wait_for_owner
from paycli.saga.pay import error_info, step_records
from paycli.saga.settle import settle_refund
from paycli.saga.steps import Reporter, Steps
from paycli.store import Store

ERRORS: dict[str, type[PaycliError]] = {
    "refund_refused": RefundRefused,
    "gateway_unavailable": GatewayUnavailable,
    "breaker_open": BreakerOpen,
    "not_refunded": GatewayUnavailable,
    "outcome_unknown": OutcomeUnknown,
    "gateway_config": GatewayConfigError,
}
REPLAY_WAIT_S = 30.0
SETTLED = {
    Decision.SUCCEEDED: {"code": "wallet_credited"},
    Decision.REFUSED: {"code": "reservation_released"},
    Decision.UNAVAILABLE: {"code": "reservation_released"},
    Decision.UNKNOWN: {"code": "reservation_kept"},
}


@dataclass(frozen=True)
class RefundRequest:
    """What the operator asked to refund (`amount` None: everything that is left)."""

    payment_id: str
    amount: str | None = None
    reason: str = ""
    idempotency_key: str | None = None


def refund_error(refund: Refund) -> PaycliError | None:
    """The error a refund in this state reports (None when it succeeded)."""
    if refund.status == RefundStatus.COMPLETED:
        return None
    if not refund.is_final:
        return OutcomeUnknown(messages.error_text(refund.error_message) or
                              messages.REFUND_NOT_KNOWN)
    error = ERRORS.get(refund.error_type or "", RefundRefused)
    return error(messages.error_text(refund.error_message) or "the refund failed")


def refund_result(store: Store, refund: Refund, steps: list[dict[str, Any]] | None = None
                  ) -> Outcome:
    """The contract's `refund` object for a refund as it stands, and its error."""
    payment = store.read.payment(refund.payment_id)
    assert payment is not None
    wallet = store.read.account("wallet", payment.user_id, payment.currency)
    error = refund_error(refund)
    result = RefundResult(
        refund_id=refund.id, payment_id=refund.payment_id,
        amount=format_minor(refund.amount, refund.currency), currency=refund.currency,
        status=refund.status, payment_status=payment.status,
        refunded_amount=format_minor(payment.refunded, payment.currency),
        balance=format_minor(wallet.balance if wallet else 0, payment.currency),
        steps=step_records(steps or []), error=error_info(error),
    )
    return Outcome(result, error)


def left_to_refund(payment: Payment) -> str:
    """What is left to refund of a payment, with its currency."""
    return f"{format_minor(payment.refundable, payment.currency)} {payment.currency}"


def _refundable(payment: Payment | None, request: RefundRequest, max_major: int) -> Money:
    """The amount to refund, or the reason there is none (NotFound, RefundRefused)."""
    if payment is None:
        raise NotFound(f"no payment {request.payment_id}")
    if payment.status not in REFUNDABLE_STATUSES:
        raise RefundRefused(f"payment {payment.id} is {payment.status}: only COMPLETED or "
                            "PARTIALLY_REFUNDED payments can be refunded")
    if payment.refundable <= 0:
        raise RefundRefused(f"payment {payment.id} has nothing left to refund")
    if request.amount is None:
        return Money(payment.refundable, payment.currency)
    try:
        money = parse_amount(request.amount, payment.currency, max_major)
    except MoneyError as exc:
        raise UsageError(str(exc)) from None
    if money.minor > payment.refundable:
        raise RefundRefused(f"refund of {money.text} {payment.currency} is more than what is "
                            f"left to refund: {left_to_refund(payment)}")
    return money


def refund(env: SagaEnv, request: RefundRequest, reporter: Reporter, max_major: int
           ) -> Outcome:
    """Run the refund saga for `request`; see the module docstring for its steps."""
    digest = idempotency.fingerprint("refund", {
        "payment_id": request.payment_id, "amount": request.amount, "reason": request.reason})
    key = request.idempotency_key
    if key is not None:
        row = idempotency.lookup(env.store.read, key, "refund", digest)
        if row is not None:
            return _replay(env, str(row["entity_id"]))
    refund_id = postings.new_id("ref")
    steps = Steps(reporter, env.log, refund_id)
    with steps.run("CheckRefundable") as step:
        payment = env.store.read.payment(request.payment_id)
        money = _refundable(payment, request, max_major)
        assert payment is not None
        left = format_minor(payment.refundable - money.minor, payment.currency)
        reporter.started({"refund_id": refund_id, "payment_id": payment.id,
                          "user": payment.user_id, "amount": money.text,
                          "currency": money.currency, "left": left})
        step.update.reason = {"code": "refundable", "amount": payment.refundable,
                              "currency": payment.currency}
    raced = _reserve(env, refund_id, request, key, digest, steps, max_major)
    if raced is not None:
        return _replay(env, raced)
    verdict = _process(env, read_refund(env, refund_id), steps)
    with steps.run("SettleRefund") as step:
        step.update.reason = SETTLED[verdict.decision]
        if verdict.decision == Decision.UNKNOWN:
            step.update.status = StepStatus.PENDING
        done = settle_refund(env, refund_id, verdict, steps.with_current(step))
    return refund_result(env.store, done, steps.records)


def _replay(env: SagaEnv, refund_id: str) -> Outcome:
    found = wait_for_owner(lambda: read_refund(env, refund_id), REPLAY_WAIT_S)
    outcome = refund_result(env.store, found)
    outcome.replayed = True
    return outcome


def _reserve(env: SagaEnv, refund_id: str, request: RefundRequest, key: str | None,
             digest: str, steps: Steps, max_major: int) -> str | None:
    with steps.run("ReserveRefund"), env.store.transaction(refund_id) as tx:
        if key is not None:
            row = idempotency.lookup(tx, key, "refund", digest)
            if row is not None:
                return str(row["entity_id"])
        payment = tx.payment(request.payment_id)
        money = _refundable(payment, request, max_major)
        assert payment is not None
        tx.insert_refund(Refund(
            id=refund_id, payment_id=payment.id, currency=money.currency, amount=money.minor,
            reason=request.reason or None, idempotency_key=key,
            gateway_key=f"paycli-{refund_id}", status=RefundStatus.PENDING,
            gateway_ref=payment.gateway_ref, transfer_id=None, error_type=None,
            error_message=None, owner=env.owner, created_at=tx.at, updated_at=tx.at,
        ))
        if key is not None:
            tx.put_idempotencies([(key, "refund", digest, refund_id, None, None)])
        tx.append_event("refund.created", refund_id, {
            "id": refund_id, "payment_id": payment.id, "currency": money.currency,
            "amount": money.minor, "reason": request.reason or None, "idempotency_key": key,
            "gateway_ref": payment.gateway_ref})
        set_payment(tx, payment.id, "payment.refund_reserved",
                    {"refund_reserved": payment.refund_reserved + money.minor},
                    refund_id=refund_id)
    return None


def _process(env: SagaEnv, found: Refund, steps: Steps) -> Verdict:
    with steps.run("ProcessRefund") as step:
        with env.store.transaction(found.id) as tx:
            set_refund(tx, found.id, "refund.processing", {"status": RefundStatus.PROCESSING})
        verdict = calls.refund(env, found, step)
        if verdict.decision != Decision.SUCCEEDED:
            step.update.status = (StepStatus.PENDING if verdict.decision == Decision.UNKNOWN
                                  else StepStatus.FAILED)
            step.update.reason = verdict.reason or {"code": str(verdict.decision)}
    return verdict  # on success, `calls.refund` left the step's detail: how it went
