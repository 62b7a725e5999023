"""The pay saga: open (check, create, hold), charge, settle; the opening one committed
transaction, the charge and the settle after it.

    CheckWalletBalance  available >= amount, or InsufficientFunds; within the limits, or
                        LimitExceeded; a repeated key names its payment, or conflicts
    CreatePayment       the payment, its gateway idempotency key fixed before anything
                        leaves the process
    ReserveFunds        a hold on the wallet and PROCESSING: these three steps are the
                        phases of ONE transaction (`group.Opening`, the billing run's
                        opening with a group of one), committed as ReserveFunds ends, so a
                        refusal at any of them writes nothing
    ProcessPayment      the charge (retries, shared breaker); a pending charge's reference
                        is stored, then it is polled (`calls`)
    SettlePayment       the verdict through the one settle path (`settle`)

Invariants: the ledger is never between states (every transition commits with its event);
a hold is never voided while the gateway may hold a charge for it; a payment's process
owns it while it runs, and `recover` takes over payments whose process died.
"""

from __future__ import annotations

import contextlib
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
from paycli.ledger import idempotency, orders, postings
from paycli.ledger.queries import saga_steps, step_record
from paycli.money import format_minor
from paycli.records import Account, Payment, PaymentStatus, StepStatus
from paycli.results import messages
from paycli.results.base import ErrorInfo, StepRecord
from paycli.results.payments import PayResult
from paycli.saga import calls, routing
from paycli.saga.core import Decision, Outcome, SagaEnv, Verdict, read_payment
from paycli.saga.group import Opening
from paycli.saga.group import PayRequest as PayRequest
from paycli.saga.group import request_key as request_key
from paycli.saga.owner import wait_for_owner
from paycli.saga.settle import settle_payment
from paycli.saga.steps import Reporter, Steps
from paycli.store import Store

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
        opened = open_payment(env, request, payment_id, steps)
    except (InsufficientFunds, LimitExceeded) as exc:
        return _refused(env, request, steps, exc)
    if isinstance(opened, str):
        return replay(env, opened, request.wait_s)
    reporter.started({"payment_id": payment_id, **details})
    verdict = _process(env, opened, request.wait_s, steps)
    with steps.run("SettlePayment") as step:
        step.update.reason = SETTLED[verdict.decision]
        if verdict.decision == Decision.UNKNOWN:
            step.update.status = StepStatus.PENDING
        payment = settle_payment(env, payment_id, verdict, steps.with_current(step))
    return _outcome(env.store, payment, steps.records)


def open_payment(env: SagaEnv, request: PayRequest, payment_id: str, steps: Steps
                 ) -> Payment | str:
    """Open a group of one (`group.Opening`), each phase run as its step, in one
    transaction committed as ReserveFunds ends (so that step is shown done only once the
    payment is durable): the PROCESSING payment, or the id of the payment its key already
    names. A refusal is raised from its step and writes nothing."""
    gateway = routing.choose(env)  # before the transaction: it reads the breakers
    with contextlib.ExitStack() as transaction:
        tx = transaction.enter_context(env.store.transaction(payment_id))
        opening = Opening(tx, [request], env.owner, ids=[payment_id], gateway=gateway)
        with steps.run("CheckWalletBalance") as step:
            [row] = opening.check()
            step.update.reason = _available(opening, request, row)
            if isinstance(row, PaycliError):
                raise row
        if isinstance(row, str):
            return row  # a racer opened this very payment first
        with steps.run("CreatePayment"):
            opening.create()
        with steps.run("ReserveFunds"):
            opening.reserve()
            transaction.close()  # the commit
        return row.payment


def _available(opening: Opening, request: PayRequest, row: object) -> dict[str, Any]:
    """The CheckWalletBalance step's reason: what the wallet had available (and whether
    the payment was over a limit)."""
    money = request.money
    reason: dict[str, Any] = {"code": "available", "currency": money.currency,
                              "amount": opening.moves.available(request.user, money.currency)}
    if isinstance(row, LimitExceeded):
        reason["over_limit"] = True
    return reason


def _details(request: PayRequest, wallet: Account | None) -> dict[str, Any]:
    return {"user": request.user, "amount": request.money.text,
            "currency": request.money.currency, "order_id": request.order_id,
            "initial_balance": format_minor(wallet.balance if wallet else 0,
                                            request.money.currency)}


def _refused(env: SagaEnv, request: PayRequest, steps: Steps, error: PaycliError) -> Outcome:
    wallet = env.store.read.account("wallet", request.user, request.money.currency)
    result = PayResult(
        payment_id=None, status=None, user=request.user, amount=request.money.text,
        currency=request.money.currency, order_id=request.order_id, gateway_ref=None,
        balance=format_minor(wallet.balance if wallet else 0, request.money.currency),
        steps=step_records(steps.records), error=error_info(error),
    )
    return Outcome(result, error)


def _process(env: SagaEnv, payment: Payment, wait_s: float, steps: Steps) -> Verdict:
    with steps.run("ProcessPayment") as step:
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
