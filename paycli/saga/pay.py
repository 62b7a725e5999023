"""The pay saga: check, create, hold, charge, settle — each step one committed transaction.

    CheckWalletBalance  available >= amount, or InsufficientFunds; within the limits, or
                        LimitExceeded (either way nothing written)
    CreatePayment       a PENDING payment, its gateway idempotency key stored first
    ReserveFunds        a hold on the wallet, funds and limits re-checked atomically
    ProcessPayment      PROCESSING, then the charge (retries, shared breaker); a pending
                        charge's reference is stored, then it is polled (`calls`)
    SettlePayment       the verdict through the one settle path (`settle`)

Invariants: the ledger is never between states (every transition commits with its event);
a hold is never voided while the gateway may hold a charge for it; a payment's process
owns it while it runs, and `recover` takes over payments whose process died.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paycli.errors import (
    BreakerOpen,
    GatewayConfigError,
    GatewayUnavailable,
    InsufficientFunds,
    LimitExceeded,
    OutcomeUnknown,
    PaycliError,
    PaymentDeclined,
)
from paycli.ledger import idempotency, limits, orders, postings
from paycli.ledger.queries import saga_steps, step_record
from paycli.money import Money, format_minor
from paycli.records import Account, Payment, PaymentStatus, StepStatus
from paycli.results import messages
from paycli.results.base import ErrorInfo, StepRecord
from paycli.results.payments import PayResult
from paycli.saga import calls
from paycli.saga.core import Decision, Outcome, SagaEnv, Verdict, read_payment, set_payment
from paycli.saga.owner import wait_for_owner
from paycli.saga.settle import settle_payment
from paycli.saga.steps import Reporter, Steps
from paycli.store import Store, Tx

ERRORS: dict[str, type[PaycliError]] = {
    "insufficient_funds": InsufficientFunds,
    "limit_exceeded": LimitExceeded,
    "declined": PaymentDeclined,
    "gateway_unavailable": GatewayUnavailable,
    "breaker_open": BreakerOpen,
    "not_charged": GatewayUnavailable,
    "outcome_unknown": OutcomeUnknown,
    "gateway_config": GatewayConfigError,
}
SETTLED = {
    Decision.SUCCEEDED: {"code": "hold_posted"},
    Decision.REFUSED: {"code": "hold_released"},
    Decision.UNAVAILABLE: {"code": "hold_released"},
    Decision.UNKNOWN: {"code": "hold_kept"},
}
SUCCEEDED = frozenset({PaymentStatus.COMPLETED, PaymentStatus.PARTIALLY_REFUNDED,
                       PaymentStatus.REFUNDED})


@dataclass(frozen=True)
class PayRequest:
    """What the operator asked to pay."""

    user: str
    money: Money
    order_id: str | None = None
    idempotency_key: str | None = None
    wait_s: float = 30.0
    retry: bool = False  # a new attempt for an order whose every attempt FAILED (`orders`)


def exit_error(payment: Payment) -> PaycliError | None:
    """The error a payment in this state reports (None when it succeeded)."""
    if payment.status in SUCCEEDED:
        return None
    if not payment.is_final:
        return OutcomeUnknown(messages.error_text(payment.error_message) or
                              messages.PAYMENT_NOT_KNOWN)
    error = ERRORS.get(payment.error_type or "", GatewayUnavailable)
    return error(messages.error_text(payment.error_message) or "the payment failed")


def error_info(error: PaycliError | None) -> ErrorInfo | None:
    """The `error` object of a result."""
    return ErrorInfo(type=error.type, message=error.message) if error else None


def step_records(records: list[dict[str, Any]]) -> list[StepRecord]:
    """A saga's step records as result objects."""
    return [step_record(record) for record in records]


def payment_result(store: Store, payment: Payment, steps: list[dict[str, Any]] | None = None
                   ) -> PayResult:
    """The contract's `pay` object for a payment as it stands."""
    wallet = store.read.account("wallet", payment.user_id, payment.currency)
    return PayResult(
        payment_id=payment.id, status=payment.status, user=payment.user_id,
        amount=format_minor(payment.amount, payment.currency), currency=payment.currency,
        order_id=payment.order_id, gateway_ref=payment.gateway_ref,
        balance=format_minor(wallet.balance if wallet else 0, payment.currency),
        steps=step_records(steps) if steps is not None else saga_steps(store.read, payment.id),
        error=error_info(exit_error(payment)),
    )


def _outcome(store: Store, payment: Payment, steps: list[dict[str, Any]] | None = None
             ) -> Outcome:
    return Outcome(payment_result(store, payment, steps), exit_error(payment))


def request_key(request: PayRequest) -> tuple[str | None, str]:
    """The payment's idempotency key (given, or derived from its order id) and the
    fingerprint of what it asks, which a repeat under that key must match."""
    key = request.idempotency_key or (f"order:{request.order_id}" if request.order_id else None)
    return key, idempotency.fingerprint("pay", {
        "user": request.user, "currency": request.money.currency,
        "amount": request.money.minor, "order_id": request.order_id,
    })


def pay(env: SagaEnv, request: PayRequest, reporter: Reporter) -> Outcome:
    """Run the pay saga for `request`; see the module docstring for its steps."""
    key, digest = request_key(request)
    attempt = orders.attempt_for(env.store.read, request.order_id, request.idempotency_key,
                                 digest, request.retry)
    key = attempt.key if attempt is not None else key
    if key is not None:
        row = idempotency.lookup(env.store.read, key, "pay", digest)
        if row is not None:
            return replay(env, str(row["entity_id"]), request.wait_s)
    payment_id = postings.new_id("pay")
    steps = Steps(reporter, env.log, payment_id)
    wallet = env.store.read.account("wallet", request.user, request.money.currency)
    details = {**_details(request, wallet), **orders.retry_details(attempt)}
    reporter.started(details)
    try:
        _check_balance(env, request, wallet, steps)
    except (InsufficientFunds, LimitExceeded) as exc:
        return _refused(env, request, steps, exc)
    raced = _create(env, request, payment_id, key, digest, steps)
    if raced is not None:
        return replay(env, raced, request.wait_s)
    reporter.started({"payment_id": payment_id, **details})
    try:
        _reserve(env, request, payment_id, steps)
    except (InsufficientFunds, LimitExceeded):
        return _outcome(env.store, read_payment(env, payment_id), steps.records)
    verdict = _process(env, read_payment(env, payment_id), request.wait_s, steps)
    with steps.run("SettlePayment") as step:
        step.update.reason = SETTLED[verdict.decision]
        if verdict.decision == Decision.UNKNOWN:
            step.update.status = StepStatus.PENDING
        payment = settle_payment(env, payment_id, verdict, steps.with_current(step))
    return _outcome(env.store, payment, steps.records)


def _details(request: PayRequest, wallet: Account | None) -> dict[str, Any]:
    return {"user": request.user, "amount": request.money.text,
            "currency": request.money.currency, "order_id": request.order_id,
            "initial_balance": format_minor(wallet.balance if wallet else 0,
                                            request.money.currency)}


def _check_balance(env: SagaEnv, request: PayRequest, wallet: Account | None, steps: Steps
                   ) -> None:
    with steps.run("CheckWalletBalance") as step:
        available = wallet.available if wallet else 0
        step.update.reason = {"code": "available", "amount": available,
                              "currency": request.money.currency}
        if available < request.money.minor:
            raise postings.insufficient(request.user, available, request.money)
        try:
            limits.check(env.store.read, request.user, request.money)
        except LimitExceeded:
            step.update.reason = {**step.update.reason, "over_limit": True}
            raise


def _refused(env: SagaEnv, request: PayRequest, steps: Steps, error: PaycliError) -> Outcome:
    wallet = env.store.read.account("wallet", request.user, request.money.currency)
    result = PayResult(
        payment_id=None, status=None, user=request.user, amount=request.money.text,
        currency=request.money.currency, order_id=request.order_id, gateway_ref=None,
        balance=format_minor(wallet.balance if wallet else 0, request.money.currency),
        steps=step_records(steps.records), error=error_info(error),
    )
    return Outcome(result, error)


def _create(env: SagaEnv, request: PayRequest, payment_id: str, key: str | None, digest: str,
            steps: Steps) -> str | None:
    """Store the PENDING payment; returns another payment's id if a racer used `key` first."""
    with steps.run("CreatePayment"), env.store.transaction(payment_id) as tx:
        if key is not None:
            row = idempotency.lookup(tx, key, "pay", digest)
            if row is not None:
                return str(row["entity_id"])
        live = orders.live_attempt(tx, request.order_id)  # an order is charged once
        if live is not None:
            return live
        create_payment(tx, request, payment_id, key, digest, env.owner)
    return None


def create_payment(tx: Tx, request: PayRequest, payment_id: str, key: str | None,
                   digest: str, owner: str, **extra: Any) -> Payment:
    """Write a PENDING payment, its idempotency key and its `payment.created` event (with
    `extra`, such as the billing run it belongs to)."""
    payment = new_payment(request, payment_id, key, owner, tx.at)
    tx.insert_payment(payment)
    if key is not None:
        tx.put_idempotency(key, "pay", digest, payment_id)
    tx.append_event("payment.created", payment_id, created_event(payment, **extra))
    return payment


def new_payment(request: PayRequest, payment_id: str, key: str | None, owner: str, at: str
                ) -> Payment:
    """A PENDING payment of `request`, created at `at`."""
    money = request.money
    return Payment(
        id=payment_id, user_id=request.user, currency=money.currency, amount=money.minor,
        order_id=request.order_id, idempotency_key=key, gateway_key=f"paycli-{payment_id}",
        status=PaymentStatus.PENDING, gateway_ref=None, hold_id=None, refunded=0,
        refund_reserved=0, error_type=None, error_message=None, owner=owner,
        created_at=at, updated_at=at,
    )


def created_event(payment: Payment, **extra: Any) -> dict[str, Any]:
    """The payload of a payment's `payment.created` event."""
    return {"id": payment.id, "user": payment.user_id, "currency": payment.currency,
            "amount": payment.amount, "order_id": payment.order_id,
            "idempotency_key": payment.idempotency_key, "gateway_key": payment.gateway_key,
            **extra}


def reserve_funds(tx: Tx, request: PayRequest, payment_id: str) -> str:
    """Check the limits and hold the funds of a stored payment; the hold's id.

    Raises `LimitExceeded` or `InsufficientFunds` (and writes nothing) if it cannot."""
    limits.check(tx, request.user, request.money, leaving_out=payment_id)
    hold_id = postings.hold(tx, request.user, request.money, payment_id)
    set_payment(tx, payment_id, "payment.funds_reserved", {"hold_id": hold_id})
    return hold_id


def mark_processing(tx: Tx, payment_id: str) -> None:
    """The payment is about to be charged: PROCESSING, committed before the call."""
    set_payment(tx, payment_id, "payment.processing", {"status": PaymentStatus.PROCESSING})


def _reserve(env: SagaEnv, request: PayRequest, payment_id: str, steps: Steps) -> str:
    with steps.run("ReserveFunds") as step:
        try:
            with env.store.transaction(payment_id) as tx:
                return reserve_funds(tx, request, payment_id)
        except (InsufficientFunds, LimitExceeded) as exc:
            step.update.status = StepStatus.FAILED
            with env.store.transaction(payment_id) as tx:
                set_payment(tx, payment_id, "payment.failed", {
                    "status": PaymentStatus.FAILED, "error_type": exc.type,
                    "error_message": messages.stored({"code": "refused", "error": exc.message}),
                }, owner=None, steps=steps.with_current(step))
            raise


def _process(env: SagaEnv, payment: Payment, wait_s: float, steps: Steps) -> Verdict:
    with steps.run("ProcessPayment") as step:
        with env.store.transaction(payment.id) as tx:
            mark_processing(tx, payment.id)
        verdict = calls.charge(env, payment, step, wait_s)
        if verdict.decision != Decision.SUCCEEDED:
            step.update.status = (StepStatus.PENDING if verdict.decision == Decision.UNKNOWN
                                  else StepStatus.FAILED)
            step.update.reason = verdict.reason or {"code": str(verdict.decision)}
    return verdict  # on success, `calls.charge` left the step's detail: how it was approved


def replay(env: SagaEnv, payment_id: str, wait_s: float) -> Outcome:
    """The result of a payment made earlier with the same key (waiting while it runs)."""
    payment = wait_for_owner(lambda: read_payment(env, payment_id), wait_s)
    outcome = _outcome(env.store, payment)
    outcome.replayed = True
    return outcome
