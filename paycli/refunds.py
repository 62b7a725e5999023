"""The refund saga: reserve on the payment, refund at the gateway, credit the wallet.

    CheckRefundable   the payment is COMPLETED or PARTIALLY_REFUNDED and the amount is
                      at most what is left (else RefundRefused, exit 9)
    ReserveRefund     the amount is reserved on the payment (re-checked atomically), so two
                      concurrent refunds can never exceed it; a PENDING refund is stored
    ProcessRefund     PROCESSING, then `POST /payment/refund` (retries, shared breaker, one
                      idempotency key for every attempt)
    SettleRefund      refunded: the wallet is credited from clearing, the payment becomes
                      PARTIALLY_REFUNDED or REFUNDED; refused or unavailable: the
                      reservation is released and the wallet untouched; unknown: kept

A lost answer is settled by the charge's status at the gateway (its list of refunds, by
idempotency key) or by repeating the call with the same key; a gateway that offers
neither leaves the refund PROCESSING for `recover`.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

from paycli import idempotency, ledger
from paycli.errors import (
    BreakerOpen,
    GatewayUnavailable,
    NotFound,
    OutcomeUnknown,
    PaycliError,
    RefundRefused,
)
from paycli.gateway import GatewayFailure, RefundAnswer, Rejected
from paycli.models import Payment, Refund
from paycli.money import Money, format_minor
from paycli.saga import Outcome, SagaEnv, claim_orphan, set_payment, set_row
from paycli.steps import Reporter, Step, Steps, owner_alive
from paycli.store import Tx

ERRORS: dict[str, type[PaycliError]] = {
    "refund_refused": RefundRefused,
    "gateway_unavailable": GatewayUnavailable,
    "breaker_open": BreakerOpen,
    "not_refunded": GatewayUnavailable,
    "outcome_unknown": OutcomeUnknown,
}


@dataclass(frozen=True)
class RefundRequest:
    """What the operator asked to refund (`amount` None: everything that is left)."""

    payment_id: str
    amount: str | None = None
    reason: str = ""
    idempotency_key: str | None = None


@dataclass(frozen=True)
class RefundVerdict:
    """What the gateway step concluded about a refund."""

    outcome: str  # refunded, refused, unavailable, unknown
    gateway_ref: str | None = None
    error_type: str | None = None
    message: str | None = None


def set_refund(tx: Tx, refund_id: str, event: str, changes: dict[str, Any],
               owner: str | bool | None = False, **extra: Any) -> None:
    """`saga.set_row` for a refund."""
    set_row(tx, "refunds", refund_id, event, changes, owner, **extra)


def refund_error(refund: Refund) -> PaycliError | None:
    """The error a refund in this state reports (None when it succeeded)."""
    if refund.status == "COMPLETED":
        return None
    if refund.status in ("PENDING", "PROCESSING"):
        return OutcomeUnknown(refund.error_message or "the refund's outcome is not known yet")
    error = ERRORS.get(refund.error_type or "", RefundRefused)
    return error(refund.error_message or "the refund failed")


def refund_result(env: SagaEnv, refund: Refund, steps: list[dict[str, Any]] | None = None
                  ) -> Outcome:
    """The contract's `refund` object for a refund as it stands, and its error."""
    payment = env.store.read.payment(refund.payment_id)
    assert payment is not None
    wallet = env.store.read.account("wallet", payment.user_id, payment.currency)
    error = refund_error(refund)
    result = {
        "refund_id": refund.id, "payment_id": refund.payment_id,
        "amount": format_minor(refund.amount, refund.currency), "currency": refund.currency,
        "status": refund.status, "payment_status": payment.status,
        "refunded_amount": format_minor(payment.refunded, payment.currency),
        "balance": format_minor(wallet.balance if wallet else 0, payment.currency),
        "steps": steps or [],
        "error": {"type": error.type, "message": error.message} if error else None,
    }
    return Outcome(result, error)


def _left(payment: Payment) -> str:
    return f"{format_minor(payment.refundable, payment.currency)} {payment.currency}"


def _refundable(payment: Payment | None, request: RefundRequest, max_major: int) -> Money:
    """The amount to refund, or the reason there is none (NotFound, RefundRefused)."""
    from paycli import inputs

    if payment is None:
        raise NotFound(f"no payment {request.payment_id}")
    if payment.status not in ("COMPLETED", "PARTIALLY_REFUNDED"):
        raise RefundRefused(f"payment {payment.id} is {payment.status}: only COMPLETED or "
                            "PARTIALLY_REFUNDED payments can be refunded")
    if payment.refundable <= 0:
        raise RefundRefused(f"payment {payment.id} has nothing left to refund")
    if request.amount is None:
        return Money(payment.refundable, payment.currency)
    money = inputs.amount(request.amount, payment.currency, max_major)
    if money.minor > payment.refundable:
        raise RefundRefused(f"refund of {money.text} {payment.currency} is more than what is "
                            f"left to refund: {_left(payment)}")
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
    refund_id = ledger.new_id("ref")
    steps = Steps(reporter, env.log, refund_id)
    with steps.run("CheckRefundable") as step:
        payment = env.store.read.payment(request.payment_id)
        money = _refundable(payment, request, max_major)
        assert payment is not None
        reporter.started({"refund_id": refund_id, "payment_id": payment.id,
                          "user": payment.user_id, "amount": money.text,
                          "currency": money.currency, "left": _left(payment)})
        step.update.detail = f"{_left(payment)} refundable"
    raced = _reserve(env, refund_id, request, money, key, digest, steps, max_major)
    if raced is not None:
        return _replay(env, raced)
    verdict = _process(env, _refund(env, refund_id), steps)
    with steps.run("SettleRefund") as step:
        done = settle_refund(env, refund_id, verdict, steps.records)
        if done.status == "PROCESSING":
            step.show("pending", "reservation kept until the outcome is known")
    return refund_result(env, done, steps.records)


def _refund(env: SagaEnv, refund_id: str) -> Refund:
    found = env.store.read.refund(refund_id)
    assert found is not None, refund_id
    return found


def _replay(env: SagaEnv, refund_id: str, wait_s: float = 30.0) -> Outcome:
    deadline = time.monotonic() + wait_s
    found = _refund(env, refund_id)
    while not found.is_final and owner_alive(found.owner) and time.monotonic() < deadline:
        time.sleep(0.05)
        found = _refund(env, refund_id)
    return refund_result(env, found)


def _reserve(env: SagaEnv, refund_id: str, request: RefundRequest, money: Money,
             key: str | None, digest: str, steps: Steps, max_major: int) -> str | None:
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
            gateway_key=f"paycli-{refund_id}", status="PENDING", gateway_ref=payment.gateway_ref,
            transfer_id=None, error_type=None, error_message=None, owner=env.owner,
            created_at=tx.at, updated_at=tx.at,
        ))
        if key is not None:
            tx.put_idempotency(key, "refund", digest, refund_id)
        tx.append_event("refund.created", refund_id, {
            "id": refund_id, "payment_id": payment.id, "currency": money.currency,
            "amount": money.minor, "reason": request.reason or None, "idempotency_key": key,
            "gateway_ref": payment.gateway_ref})
        set_payment(tx, payment.id, "payment.refund_reserved",
                    {"refund_reserved": payment.refund_reserved + money.minor},
                    refund_id=refund_id)
    return None


def _process(env: SagaEnv, found: Refund, steps: Steps) -> RefundVerdict:
    with steps.run("ProcessRefund") as step:
        with env.store.transaction(found.id) as tx:
            set_refund(tx, found.id, "refund.processing", {"status": "PROCESSING"})
        verdict = gateway_refund(env, found, step)
        step.update.detail = verdict.message or verdict.outcome
        if verdict.outcome != "refunded":
            step.update.status = "pending" if verdict.outcome == "unknown" else "failed"
    return verdict


def _unknown(message: str) -> RefundVerdict:
    return RefundVerdict("unknown", None, "outcome_unknown",
                         f"outcome unknown: {message}; run `paycli recover`")


def lookup_refund(env: SagaEnv, found: Refund) -> RefundVerdict | None:
    """What the gateway's status of the charge says of this refund; None if it has none."""
    if not found.gateway_ref:
        return _unknown("the payment has no gateway reference")
    try:
        charge = env.gateway.status(found.gateway_ref)
    except GatewayFailure as exc:
        return _unknown(f"the gateway could not be asked ({exc.reason})")
    if charge is None or charge.refunds is None:
        return _unknown("the gateway's answer was lost and it lists no refunds")
    for record in charge.refunds:
        if record.idempotencyKey == found.gateway_key:
            return _verdict(RefundAnswer(externalId=charge.externalId, status=(
                "refunded" if record.status == "refunded" else "refund_failed"),
                refundId=record.refundId))
    return None


def gateway_refund(env: SagaEnv, found: Refund, step: Step) -> RefundVerdict:
    """Refund at the gateway, deciding only on what the gateway says."""
    uncertain = False

    def attempt(number: int) -> RefundAnswer | Rejected | RefundVerdict:
        nonlocal uncertain
        step.update.attempts = number
        step.show("running", f"attempt {number}/{env.resilience.attempts}")
        if uncertain:
            known = lookup_refund(env, found)
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
        answer = env.resilience.call(attempt, lambda notice: step.show(
            "retry", f"attempt {notice.attempt}/{notice.attempts} failed: {notice.reason}; "
                     f"retrying in {notice.wait_s:.2f}s"))
    except (BreakerOpen, GatewayFailure) as exc:
        if uncertain:
            return lookup_refund(env, found) or RefundVerdict(
                "unavailable", None, "not_refunded",
                "gateway unavailable: no answer, and the gateway shows no such refund")
        if isinstance(exc, BreakerOpen):
            return RefundVerdict("unavailable", None, "breaker_open", exc.message)
        return RefundVerdict("unavailable", None, "gateway_unavailable",
                             f"gateway unavailable: {exc.reason}; nothing was refunded")
    return answer if isinstance(answer, RefundVerdict) else _verdict(answer)


def _verdict(answer: RefundAnswer | Rejected) -> RefundVerdict:
    if isinstance(answer, Rejected):
        detail = f": {answer.message}" if answer.message else ""
        return RefundVerdict("refused", None, "refund_refused",
                             f"refund refused by the gateway (HTTP {answer.http_status}{detail})")
    if answer.status == "refunded":
        return RefundVerdict("refunded", answer.refundId or answer.externalId)
    detail = f": {answer.message}" if answer.message else ""
    return RefundVerdict("refused", answer.refundId, "refund_refused",
                         f"the gateway could not refund{detail}")


def settle_refund(env: SagaEnv, refund_id: str, verdict: RefundVerdict,
                  steps: list[dict[str, Any]]) -> Refund:
    """Apply the verdict in one transaction: credit the wallet, release, or keep."""
    with env.store.transaction(refund_id) as tx:
        found = tx.refund(refund_id)
        payment = tx.payment(found.payment_id) if found else None
        assert found is not None and payment is not None
        if found.is_final:
            return found
        reserved = payment.refund_reserved - found.amount
        if verdict.outcome == "refunded":
            transfer_id = ledger.new_id("txn")
            ledger.deposit(tx, "refund", payment.user_id, Money(found.amount, found.currency),
                           refund_id, transfer_id)
            refunded = payment.refunded + found.amount
            status = "REFUNDED" if refunded == payment.amount else "PARTIALLY_REFUNDED"
            set_payment(tx, payment.id, "payment.refunded", {
                "refunded": refunded, "refund_reserved": reserved, "status": status},
                refund_id=refund_id)
            set_refund(tx, refund_id, "refund.completed", {
                "status": "COMPLETED", "gateway_ref": verdict.gateway_ref,
                "transfer_id": transfer_id, "error_type": None, "error_message": None},
                owner=None, steps=steps)
        elif verdict.outcome in ("refused", "unavailable"):
            set_payment(tx, payment.id, "payment.refund_released",
                        {"refund_reserved": reserved}, refund_id=refund_id)
            set_refund(tx, refund_id, "refund.failed", {
                "status": "FAILED", "error_type": verdict.error_type,
                "error_message": verdict.message}, owner=None, steps=steps)
        else:
            set_refund(tx, refund_id, "refund.unresolved", {
                "status": "PROCESSING", "error_type": verdict.error_type,
                "error_message": verdict.message}, owner=None, steps=steps)
    return _refund(env, refund_id)


def recover_refunds(env: SagaEnv) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Finish refunds whose process died; returns (resolved, unresolved) entries."""
    resolved: list[dict[str, Any]] = []
    unresolved: list[dict[str, Any]] = []
    for found in env.store.read.unfinished_refunds():
        entry: dict[str, Any] = {"refund_id": found.id, "payment_id": found.payment_id}
        if not claim_orphan(env, "refunds", found):
            from paycli.recovery import held_elsewhere, wait_for_owner

            other = wait_for_owner(functools.partial(_refund, env, found.id))
            if not other.is_final:  # else another process finished it: not ours to report
                unresolved.append({**entry, "status": other.status,
                                   "reason": held_elsewhere(other.owner, other.error_message)})
            continue
        current = _refund(env, found.id)
        if current.status == "PENDING":
            verdict = RefundVerdict("unavailable", None, "not_refunded",
                                    "interrupted before the gateway was called")
        elif not current.is_final:
            verdict = lookup_refund(env, current) or RefundVerdict(
                "unavailable", None, "not_refunded", "the gateway shows no such refund")
        done = settle_refund(env, found.id, verdict, []) if not current.is_final else current
        target = resolved if done.is_final else unresolved
        target.append({**entry, "status": done.status,
                       **({} if done.is_final else {"reason": done.error_message})})
    return resolved, unresolved

