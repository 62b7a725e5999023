"""The pay saga: check, create, hold, charge, settle — each step one committed transaction.

    CheckWalletBalance  available >= amount, or InsufficientFunds (nothing written)
    CreatePayment       a PENDING payment, its gateway idempotency key stored first
    ReserveFunds        a hold on the wallet, re-checked atomically
    ProcessPayment      PROCESSING, then the charge (retries, shared breaker); a pending
                        charge's reference is stored, then it is polled
    SettlePayment       approved: post the hold, COMPLETED; declined or unavailable: void
                        it, FAILED; unknown or still pending: keep it, PROCESSING

Invariants: the ledger is never between states (every transition commits with its event);
a hold is never voided while the gateway may hold a charge for it; a payment's process
owns it while it runs, and `recovery` takes over payments whose process died.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from paycli import idempotency, ledger
from paycli.errors import (
    BreakerOpen,
    GatewayUnavailable,
    InsufficientFunds,
    OutcomeUnknown,
    PaycliError,
    PaymentDeclined,
)
from paycli.gateway import (
    Answer,
    ChargeRequest,
    Gateway,
    GatewayFailure,
    LookupUnsupported,
    Rejected,
)
from paycli.logs import JsonLog
from paycli.models import Account, Payment, Refund
from paycli.money import Money, format_minor
from paycli.resilience import Resilience, RetryNotice
from paycli.steps import Reporter, Step, Steps, owner_alive, this_owner
from paycli.store import Store, Tx

ERRORS: dict[str, type[PaycliError]] = {
    "insufficient_funds": InsufficientFunds,
    "declined": PaymentDeclined,
    "gateway_unavailable": GatewayUnavailable,
    "breaker_open": BreakerOpen,
    "not_charged": GatewayUnavailable,
    "outcome_unknown": OutcomeUnknown,
}


class SagaEnv:
    """What a saga runs against: the ledger, the gateway, the breaker, the log."""

    def __init__(self, store: Store, gateway: Callable[[], Gateway],
                 resilience: Callable[[], Resilience], log: JsonLog | None = None) -> None:
        self.store = store
        self._gateway_factory = gateway
        self._resilience_factory = resilience
        self._gateway: Gateway | None = None
        self._resilience: Resilience | None = None
        self.log = log or JsonLog(None)
        self.owner = this_owner()

    @property
    def gateway(self) -> Gateway:
        """The gateway client, created on first use."""
        if self._gateway is None:
            self._gateway = self._gateway_factory()
        return self._gateway

    @property
    def resilience(self) -> Resilience:
        """Retries and the shared breaker, created on first use."""
        if self._resilience is None:
            self._resilience = self._resilience_factory()
        return self._resilience

    def close(self) -> None:
        """Close the gateway client if one was opened."""
        if self._gateway is not None:
            self._gateway.close()


@dataclass(frozen=True)
class PayRequest:
    """What the operator asked to pay."""

    user: str
    money: Money
    order_id: str | None = None
    idempotency_key: str | None = None
    wait_s: float = 30.0


@dataclass(frozen=True)
class Verdict:
    """What the gateway step concluded."""

    outcome: str  # approved, declined, unavailable, unknown
    gateway_ref: str | None = None
    error_type: str | None = None
    message: str | None = None


@dataclass
class Outcome:
    """A saga's result object (the `--json` output) and its error, if any."""

    result: dict[str, Any]
    error: PaycliError | None


def set_row(tx: Tx, table: str, row_id: str, event: str, changes: dict[str, Any],
            owner: str | bool | None = False, **extra: Any) -> None:
    """Change a payment or refund and append its event (`{"id", "changes", ...extra}`,
    which replay applies as is); `owner`, if given, changes too but is not an event field."""
    row_changes = dict(changes)
    if owner is not False:
        row_changes["owner"] = owner
    tx.update(table, row_id, row_changes)
    tx.append_event(event, row_id, {"id": row_id, "changes": changes, **extra})


def set_payment(tx: Tx, payment_id: str, event: str, changes: dict[str, Any],
                owner: str | bool | None = False, **extra: Any) -> None:
    """`set_row` for a payment."""
    set_row(tx, "payments", payment_id, event, changes, owner, **extra)


def claim_orphan(env: SagaEnv, table: str, row: Payment | Refund) -> bool:
    """Take over a payment or refund unless a live process owns it (compare-and-set)."""
    if row.owner == env.owner:
        return True
    if owner_alive(row.owner):
        return False
    with env.store.transaction(row.id) as tx:
        return tx.claim(table, row.id, row.owner, env.owner)


def exit_error(payment: Payment) -> PaycliError | None:
    """The error a payment in this state reports (None when it succeeded)."""
    if payment.status in ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED"):
        return None
    if payment.status in ("PENDING", "PROCESSING"):
        return OutcomeUnknown(payment.error_message or
                              "the payment's outcome is not known yet; run `paycli recover`")
    error = ERRORS.get(payment.error_type or "", GatewayUnavailable)
    return error(payment.error_message or "the payment failed")


def payment_result(store: Store, payment: Payment, steps: list[dict[str, Any]] | None = None
                   ) -> dict[str, Any]:
    """The contract's `pay` object for a payment as it stands."""
    wallet = store.read.account("wallet", payment.user_id, payment.currency)
    error = exit_error(payment)
    return {
        "payment_id": payment.id,
        "status": payment.status,
        "user": payment.user_id,
        "amount": format_minor(payment.amount, payment.currency),
        "currency": payment.currency,
        "order_id": payment.order_id,
        "gateway_ref": payment.gateway_ref,
        "balance": format_minor(wallet.balance if wallet else 0, payment.currency),
        "steps": steps if steps is not None else _stored_steps(store, payment.id),
        "error": {"type": error.type, "message": error.message} if error else None,
    }


def _stored_steps(store: Store, payment_id: str) -> list[dict[str, Any]]:
    import json

    for event in reversed(store.read.events_of(payment_id)):
        payload = json.loads(event.payload)
        if "steps" in payload:
            return list(payload["steps"])
    return []


def _outcome(store: Store, payment: Payment, steps: list[dict[str, Any]] | None = None
             ) -> Outcome:
    result = payment_result(store, payment, steps)
    return Outcome(result, exit_error(payment))


def pay(env: SagaEnv, request: PayRequest, reporter: Reporter) -> Outcome:
    """Run the pay saga for `request`; see the module docstring for its steps."""
    key = request.idempotency_key or (f"order:{request.order_id}" if request.order_id else None)
    digest = idempotency.fingerprint("pay", {
        "user": request.user, "currency": request.money.currency,
        "amount": request.money.minor, "order_id": request.order_id,
    })
    if key is not None:
        row = idempotency.lookup(env.store.read, key, "pay", digest)
        if row is not None:
            return replay(env, str(row["entity_id"]), request.wait_s)
    payment_id = ledger.new_id("pay")
    steps = Steps(reporter, env.log, payment_id)
    wallet = env.store.read.account("wallet", request.user, request.money.currency)
    reporter.started(_details(request, payment_id, wallet))
    try:
        _check_balance(request, wallet, steps)
    except InsufficientFunds as exc:
        return _refused(env, request, steps, exc)
    raced = _create(env, request, payment_id, key, digest, steps)
    if raced is not None:
        return replay(env, raced, request.wait_s)
    try:
        hold_id = _reserve(env, request, payment_id, steps)
    except InsufficientFunds:
        return _outcome(env.store, _payment(env, payment_id), steps.records)
    verdict = _process(env, _payment(env, payment_id), request.wait_s, steps)
    with steps.run("SettlePayment") as step:
        payment = settle(env, payment_id, hold_id, verdict, steps.records)
        if payment.status == "PROCESSING":
            step.show("pending", "hold kept until the outcome is known")
    return _outcome(env.store, payment, steps.records)


def _details(request: PayRequest, payment_id: str, wallet: Account | None) -> dict[str, Any]:
    return {"payment_id": payment_id, "user": request.user, "amount": request.money.text,
            "currency": request.money.currency, "order_id": request.order_id,
            "initial_balance": format_minor(wallet.balance if wallet else 0,
                                            request.money.currency)}


def _payment(env: SagaEnv, payment_id: str) -> Payment:
    payment = env.store.read.payment(payment_id)
    assert payment is not None, payment_id
    return payment


def _check_balance(request: PayRequest, wallet: Account | None, steps: Steps) -> None:
    with steps.run("CheckWalletBalance") as step:
        available = wallet.available if wallet else 0
        shown = f"{format_minor(available, request.money.currency)} {request.money.currency}"
        step.update.detail = f"available {shown}"
        if available < request.money.minor:
            raise InsufficientFunds(
                f"insufficient funds: {request.user} has {shown} available, "
                f"{request.money.text} {request.money.currency} needed"
            )


def _refused(env: SagaEnv, request: PayRequest, steps: Steps, error: PaycliError) -> Outcome:
    wallet = env.store.read.account("wallet", request.user, request.money.currency)
    result = {
        "payment_id": None, "status": None, "user": request.user,
        "amount": request.money.text, "currency": request.money.currency,
        "order_id": request.order_id, "gateway_ref": None,
        "balance": format_minor(wallet.balance if wallet else 0, request.money.currency),
        "steps": steps.records, "error": {"type": error.type, "message": error.message},
    }
    return Outcome(result, error)


def _create(env: SagaEnv, request: PayRequest, payment_id: str, key: str | None, digest: str,
            steps: Steps) -> str | None:
    """Store the PENDING payment; returns another payment's id if a racer used `key` first."""
    with steps.run("CreatePayment"), env.store.transaction(payment_id) as tx:
        if key is not None:
            row = idempotency.lookup(tx, key, "pay", digest)
            if row is not None:
                return str(row["entity_id"])
        money = request.money
        payment = Payment(
            id=payment_id, user_id=request.user, currency=money.currency, amount=money.minor,
            order_id=request.order_id, idempotency_key=key, gateway_key=f"paycli-{payment_id}",
            status="PENDING", gateway_ref=None, hold_id=None, refunded=0, refund_reserved=0,
            error_type=None, error_message=None, owner=env.owner, created_at=tx.at,
            updated_at=tx.at,
        )
        tx.insert_payment(payment)
        if key is not None:
            tx.put_idempotency(key, "pay", digest, payment_id)
        tx.append_event("payment.created", payment_id, {
            "id": payment_id, "user": request.user, "currency": money.currency,
            "amount": money.minor, "order_id": request.order_id, "idempotency_key": key,
            "gateway_key": payment.gateway_key,
        })
    return None


def _reserve(env: SagaEnv, request: PayRequest, payment_id: str, steps: Steps) -> str:
    with steps.run("ReserveFunds"):
        try:
            with env.store.transaction(payment_id) as tx:
                hold_id = ledger.hold(tx, request.user, request.money, payment_id)
                set_payment(tx, payment_id, "payment.funds_reserved", {"hold_id": hold_id})
            return hold_id
        except InsufficientFunds as exc:
            with env.store.transaction(payment_id) as tx:
                set_payment(tx, payment_id, "payment.failed", {
                    "status": "FAILED", "error_type": exc.type, "error_message": exc.message,
                }, owner=None, steps=steps.records)
            raise


def _process(env: SagaEnv, payment: Payment, wait_s: float, steps: Steps) -> Verdict:
    with steps.run("ProcessPayment") as step:
        with env.store.transaction(payment.id) as tx:
            set_payment(tx, payment.id, "payment.processing", {"status": "PROCESSING"})
        verdict = charge(env, payment, step, wait_s)
        if verdict.outcome != "approved":
            step.update.status = "pending" if verdict.outcome == "unknown" else "failed"
            step.update.detail = verdict.message or verdict.outcome
        else:
            tries = step.update.attempts
            step.update.detail = f"approved ({verdict.gateway_ref})" + (
                f" on attempt {tries}/{step.update.max_attempts}" if tries > 1 else "")
    return verdict


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
        self.step.show("running", f"attempt {number}/{self.env.resilience.attempts}")
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

    def retrying(self, notice: RetryNotice) -> None:
        self.step.show("retry", f"attempt {notice.attempt}/{notice.attempts} failed: "
                                f"{notice.reason}; retrying in {notice.wait_s:.2f}s")


def charge(env: SagaEnv, payment: Payment, step: Step, wait_s: float) -> Verdict:
    """Charge the gateway for `payment`, deciding only on what the gateway says."""
    attempts = _Attempts(env, payment, step)
    try:
        answer = env.resilience.call(attempts, attempts.retrying)
    except LookupUnsupported:
        return _unknown("the gateway's answer was lost and it cannot look charges up")
    except (BreakerOpen, GatewayFailure) as exc:
        if not attempts.uncertain:
            error_type = "breaker_open" if isinstance(exc, BreakerOpen) else "gateway_unavailable"
            message = exc.message if isinstance(exc, BreakerOpen) else (
                f"gateway unavailable: {exc.reason} after {attempts.step.update.attempts} "
                "attempt(s); nothing was charged")
            return Verdict("unavailable", None, error_type, message)
        found = _final_lookup(env, payment.id)
        if not isinstance(found, Answer):
            return found
        answer = found
    if isinstance(answer, Answer) and answer.status == "pending":
        _remember_reference(env, payment.id, answer.externalId)
    return _conclude(env, answer, wait_s, step)


def _remember_reference(env: SagaEnv, payment_id: str, gateway_ref: str) -> None:
    """Store a pending charge's reference before polling it: if this process dies while it
    polls, `recover` can still ask by externalId (the seed's gateway knows no other way)."""
    with env.store.transaction(payment_id) as tx:
        set_payment(tx, payment_id, "payment.charge_pending", {"gateway_ref": gateway_ref})


def _final_lookup(env: SagaEnv, payment_id: str) -> Answer | Verdict:
    try:
        found = env.gateway.find_payment(payment_id)
    except (LookupUnsupported, GatewayFailure) as exc:
        return _unknown(f"the gateway's answer was lost and the charge cannot be looked up "
                        f"({exc})")
    if found is None:
        return Verdict("unavailable", None, "gateway_unavailable",
                       "gateway unavailable: no answer, and the gateway holds no charge for "
                       "this payment; nothing was charged")
    return found


def _unknown(message: str, gateway_ref: str | None = None) -> Verdict:
    return Verdict("unknown", gateway_ref, "outcome_unknown",
                   f"outcome unknown: {message}; the hold is kept, run `paycli recover`")


def _conclude(env: SagaEnv, answer: Answer | Rejected, wait_s: float, step: Step) -> Verdict:
    if isinstance(answer, Rejected):
        return Verdict("declined", None, "declined",
                       f"declined: the gateway rejected the charge (HTTP {answer.http_status}"
                       f"{': ' + answer.message if answer.message else ''})")
    if answer.status == "pending":
        step.show("pending", f"pending at the gateway ({answer.externalId}); waiting")
        answer = poll(env.gateway, answer, time.monotonic() + wait_s)
    if answer.status == "approved":
        return Verdict("approved", answer.externalId)
    if answer.status == "declined":
        reason = f": {answer.message}" if answer.message else ""
        return Verdict("declined", answer.externalId, "declined",
                       f"declined by the gateway{reason}")
    return _unknown("still pending at the gateway", answer.externalId)


def poll(gateway: Gateway, answer: Answer, deadline: float) -> Answer:
    """Ask for a pending charge's status with backoff until it settles or `deadline`."""
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


def settle(env: SagaEnv, payment_id: str, hold_id: str | None, verdict: Verdict,
           steps: list[dict[str, Any]]) -> Payment:
    """Apply the verdict in one transaction: post, void, or keep the hold."""
    with env.store.transaction(payment_id) as tx:
        extra = {"steps": steps}
        if verdict.outcome == "approved":
            if hold_id:
                ledger.commit_hold(tx, hold_id)
            set_payment(tx, payment_id, "payment.completed", {
                "status": "COMPLETED", "gateway_ref": verdict.gateway_ref,
                "error_type": None, "error_message": None}, owner=None, **extra)
        elif verdict.outcome in ("declined", "unavailable"):
            if hold_id:
                ledger.void_hold(tx, hold_id)
            set_payment(tx, payment_id, "payment.failed", {
                "status": "FAILED", "gateway_ref": verdict.gateway_ref,
                "error_type": verdict.error_type, "error_message": verdict.message},
                owner=None, **extra)
        else:
            set_payment(tx, payment_id, "payment.unresolved", {
                "status": "PROCESSING", "gateway_ref": verdict.gateway_ref,
                "error_type": verdict.error_type, "error_message": verdict.message},
                owner=None, **extra)
    return _payment(env, payment_id)


def replay(env: SagaEnv, payment_id: str, wait_s: float) -> Outcome:
    """The result of a payment made earlier with the same key (waiting while it runs)."""
    deadline = time.monotonic() + wait_s
    payment = _payment(env, payment_id)
    while not payment.is_final and owner_alive(payment.owner) and time.monotonic() < deadline:
        time.sleep(0.05)
        payment = _payment(env, payment_id)
    return _outcome(env.store, payment)
