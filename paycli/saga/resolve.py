"""Settling a saga by hand: an operator who learned the outcome from the gateway's support
or dashboard resolves a PROCESSING payment or refund, with a reason.

It goes through the one settle path (`settle`), so a hand-resolved payment ends exactly as
an answered one does: approved posts the hold (COMPLETED), declined voids it (FAILED); a
refund marked refunded credits the wallet, marked failed releases its reservation. The
settle event records the resolution's reason, and like every event, its actor.

Invariants: only a PROCESSING saga is resolved, checked inside the settling transaction,
so of two operators resolving one payment at once exactly one wins and the other is
refused (exit 9), told that another process settled it meanwhile; a final state is
never rewritten.
"""

from __future__ import annotations

from paycli.errors import NotFound, RefusedInState
from paycli.records import Payment, PaymentStatus, Refund, RefundStatus
from paycli.saga.core import Decision, SagaEnv, Verdict
from paycli.saga.settle import settle_payment, settle_refund


def resolve_payment(env: SagaEnv, payment_id: str, approved: bool, reason: str,
                    gateway_ref: str | None = None) -> Payment:
    """Settle a PROCESSING payment as approved or declined by the operator."""
    payment = env.store.read.payment(payment_id)
    if payment is None:
        raise NotFound(f"no payment {payment_id}")
    ref = gateway_ref or payment.gateway_ref
    verdict = (Verdict(Decision.SUCCEEDED, ref) if approved else
               Verdict(Decision.REFUSED, ref, "declined",
                       {"code": "declined_by_hand", "reason": reason}))
    try:
        return settle_payment(env, payment_id, verdict, [], require=PaymentStatus.PROCESSING,
                              resolution=_resolution(approved, reason))
    except RefusedInState as refused:
        raise _meanwhile(refused, payment, env.store.read.payment(payment_id)) from None


def resolve_refund(env: SagaEnv, refund_id: str, refunded: bool, reason: str) -> Refund:
    """Settle a PROCESSING refund as refunded or failed by the operator."""
    found = env.store.read.refund(refund_id)
    if found is None:
        raise NotFound(f"no refund {refund_id}")
    verdict = (Verdict(Decision.SUCCEEDED, found.gateway_ref) if refunded else
               Verdict(Decision.REFUSED, None, "refund_refused",
                       {"code": "refund_failed_by_hand", "reason": reason}))
    try:
        return settle_refund(env, refund_id, verdict, [], require=RefundStatus.PROCESSING,
                             resolution=_resolution(refunded, reason))
    except RefusedInState as refused:
        raise _meanwhile(refused, found, env.store.read.refund(refund_id)) from None


def _meanwhile(refused: RefusedInState, seen: Payment | Refund, now: Payment | Refund | None
               ) -> RefusedInState:
    """The refusal, saying so when the saga was PROCESSING a moment ago: another process
    settled it meanwhile, and this resolve changed nothing."""
    if seen.status != "PROCESSING" or now is None:
        return refused
    kind = "refund" if isinstance(seen, Refund) else "payment"
    return RefusedInState(f"{kind} {seen.id} was settled meanwhile by another process (it "
                          f"is {now.status}); this resolve changed nothing")


def _resolution(succeeded: bool, reason: str) -> dict[str, object]:
    return {"by_hand": True, "succeeded": succeeded, "reason": reason}
