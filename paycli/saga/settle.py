"""The one settle path: a verdict applied to a payment or a refund in one transaction.

Pay, refund and recover (and every later way of finishing a saga) settle through here, so
a final state is reached the same way whoever reaches it:

    payment  succeeded: post the hold, COMPLETED; refused or unavailable: void it, FAILED;
             unknown: keep it, PROCESSING
    refund   succeeded: credit the wallet from clearing, the payment PARTIALLY_REFUNDED or
             REFUNDED, the refund COMPLETED; refused or unavailable: release the
             reservation, FAILED; unknown: keep it, PROCESSING

Invariants: a final state is never changed (settling a final saga returns it as it is);
the owner is cleared in the same transaction, so the saga is nobody's once settled. A
caller that reports what it settled passes `settled_here`, a set that receives the ids
this very commit made final (not those another process settled first), so that nobody
claims a settlement that was not theirs.
"""

from __future__ import annotations

from typing import Any

from paycli.errors import RefusedInState
from paycli.ledger import postings
from paycli.ledger.postings import Postings
from paycli.money import Money
from paycli.records import Payment, PaymentStatus, Refund, RefundStatus
from paycli.saga.core import (
    Decision,
    SagaEnv,
    Verdict,
    change_event,
    read_refund,
    set_payment,
    set_refund,
)
from paycli.store import Tx
from paycli.store.stats import charge_ms

_PAYMENT_EVENTS = {
    Decision.SUCCEEDED: ("payment.completed", PaymentStatus.COMPLETED),
    Decision.REFUSED: ("payment.failed", PaymentStatus.FAILED),
    Decision.UNAVAILABLE: ("payment.failed", PaymentStatus.FAILED),
    Decision.UNKNOWN: ("payment.unresolved", PaymentStatus.PROCESSING),
}


def settle_payment(env: SagaEnv, payment_id: str, verdict: Verdict,
                   steps: list[dict[str, Any]], *, require: PaymentStatus | None = None,
                   settled_here: set[str] | None = None, **extra: Any) -> Payment:
    """Apply the verdict to a payment: post, void, or keep its hold.

    With `require`, a payment in any other status is refused (`RefusedInState`) instead of
    returned as it is; `extra` goes into the settle event beside the steps; `settled_here`
    (see the module docstring) receives the id if this commit made the payment final.
    """
    with env.store.transaction(payment_id) as tx:
        return settle_payment_in(tx, payment_id, verdict, steps, require=require,
                                 settled_here=settled_here, **extra)


def settle_payment_in(tx: Tx, payment_id: str, verdict: Verdict, steps: list[dict[str, Any]],
                      *, require: PaymentStatus | None = None,
                      settled_here: set[str] | None = None, **extra: Any) -> Payment:
    """`settle_payment` inside a transaction the caller holds."""
    return settle_payments_in(tx, [(payment_id, verdict, steps)], require=require,
                              settled_here=settled_here, **extra)[payment_id]


def settle_payments_in(tx: Tx, verdicts: list[tuple[str, Verdict, list[dict[str, Any]]]],
                       *, require: PaymentStatus | None = None,
                       settled_here: set[str] | None = None, **extra: Any
                       ) -> dict[str, Payment]:
    """Settle payments inside a transaction the caller holds, each by its verdict (a
    billing run settles a whole group in one): their rows and holds read together, moved
    in order, written together. Returns each payment as it now stands."""
    found, holds, accounts = tx.settling([payment_id for payment_id, _, _ in verdicts])
    moves = Postings(tx)
    moves.load_wallets([payment.user_id for payment in found.values()], accounts)
    moves.take_holds(holds)
    changed: list[tuple[Any, ...]] = []
    for payment_id, verdict, steps in verdicts:
        payment = found.get(payment_id)
        assert payment is not None, payment_id
        _check(payment, require)
        if payment.is_final:
            continue
        if payment.hold_id and verdict.decision == Decision.SUCCEEDED:
            moves.commit(payment.hold_id)
        elif payment.hold_id and verdict.decision != Decision.UNKNOWN:
            moves.void(payment.hold_id)
        event, status = _PAYMENT_EVENTS[verdict.decision]
        changes = {"status": status, "gateway_ref": verdict.gateway_ref,
                   "error_type": verdict.error_type, "error_message": verdict.detail}
        tx.append_event(event, payment_id, change_event(payment_id, changes, steps=steps,
                                                        **extra))
        took = charge_ms(steps)
        changed.append((status, verdict.gateway_ref, verdict.error_type, verdict.detail,
                        None, took, tx.at if took is not None else None, payment_id))
        found[payment_id] = payment._replace(
            status=status, gateway_ref=verdict.gateway_ref, error_type=verdict.error_type,
            error_message=verdict.detail, owner=None, updated_at=tx.at)
        if settled_here is not None and verdict.decision != Decision.UNKNOWN:
            settled_here.add(payment_id)
    moves.write()
    if changed:
        tx.update_many("payments", _SETTLED_COLUMNS, changed)
    return found


# The charge's time goes with the settle that first carries it (`stats` reads it).
_SETTLED_COLUMNS = ("status", "gateway_ref", "error_type", "error_message", "owner",
                    "charge_ms", "charged_at")


def _check(row: Payment | Refund, require: str | None) -> None:
    if require is not None and row.status != require:
        kind = "refund" if isinstance(row, Refund) else "payment"
        raise RefusedInState(f"{kind} {row.id} is {row.status}: only {require} {kind}s can be "
                             "resolved; a final state is never changed")


def settle_refund(env: SagaEnv, refund_id: str, verdict: Verdict,
                  steps: list[dict[str, Any]], *, require: RefundStatus | None = None,
                  settled_here: set[str] | None = None, **extra: Any) -> Refund:
    """Apply the verdict to a refund: credit the wallet, release, or keep the reservation
    (`require`, `settled_here` and `extra` as for `settle_payment`)."""
    with env.store.transaction(refund_id) as tx:
        settle_refund_in(tx, refund_id, verdict, steps, require=require,
                         settled_here=settled_here, **extra)
    return read_refund(env, refund_id)


def settle_refund_in(tx: Tx, refund_id: str, verdict: Verdict, steps: list[dict[str, Any]],
                     *, require: RefundStatus | None = None,
                     settled_here: set[str] | None = None, **extra: Any) -> None:
    """`settle_refund` inside a transaction the caller holds."""
    found = tx.refund(refund_id)
    payment = tx.payment(found.payment_id) if found else None
    assert found is not None and payment is not None
    _check(found, require)
    if found.is_final:
        return
    if settled_here is not None and verdict.decision != Decision.UNKNOWN:
        settled_here.add(refund_id)
    recorded = {"steps": steps, **extra}  # what the settle event carries besides changes
    if verdict.decision == Decision.SUCCEEDED:
        _credit_refund(tx, found, payment, verdict, recorded)
    elif verdict.decision in (Decision.REFUSED, Decision.UNAVAILABLE):
        set_payment(tx, payment.id, "payment.refund_released",
                    {"refund_reserved": payment.refund_reserved - found.amount},
                    refund_id=refund_id)
        set_refund(tx, refund_id, "refund.failed", {
            "status": RefundStatus.FAILED, "error_type": verdict.error_type,
            "error_message": verdict.detail}, owner=None, **recorded)
    else:
        set_refund(tx, refund_id, "refund.unresolved", {
            "status": RefundStatus.PROCESSING, "error_type": verdict.error_type,
            "error_message": verdict.detail}, owner=None, **recorded)


def _credit_refund(tx: Tx, found: Refund, payment: Payment, verdict: Verdict,
                   recorded: dict[str, Any]) -> None:
    transfer_id = postings.new_id("txn")
    moves = Postings(tx)
    moves.deposit("refund", payment.user_id, Money(found.amount, found.currency), found.id,
                  transfer_id)
    moves.write()
    refunded = payment.refunded + found.amount
    status = (PaymentStatus.REFUNDED if refunded == payment.amount
              else PaymentStatus.PARTIALLY_REFUNDED)
    set_payment(tx, payment.id, "payment.refunded", {
        "refunded": refunded, "refund_reserved": payment.refund_reserved - found.amount,
        "status": status}, refund_id=found.id)
    set_refund(tx, found.id, "refund.completed", {
        "status": RefundStatus.COMPLETED, "gateway_ref": verdict.gateway_ref,
        "transfer_id": transfer_id, "error_type": None, "error_message": None},
        owner=None, **recorded)
