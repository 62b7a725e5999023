"""What the gateway's answers and look-ups mean for a payment or a refund, as verdicts.

    charge_verdict     a charge's state: approved succeeds, declined is refused, pending
                       (or anything undecidable) is unknown
    refund_verdict     a refund's answer: refunded succeeds, refund_failed or a 4xx is refused
    ask_about_payment  look a charge up (by its reference, else by paycli's payment id)
    ask_about_refund   look the refunded charge up: its list of refunds (by idempotency key)
                       where the gateway lists them, else its `refunded` status

A charge looked up may answer `refunded` (the seed's gateway does once any refund went
through). That is a well-formed answer, never "malformed": for a refund in flight it means
the refund went through when the amounts agree — the charge's refunded amount, where the
gateway gives one, is what paycli had refunded plus this refund; where it gives none, this
refund is the payment's only one. For a payment still in flight it is undecidable (a refund
paycli never made), so the payment stays PROCESSING for an operator.

Invariant: a verdict is drawn only from what the gateway said; an answer that does not
settle the question is `unknown`, which keeps the money where it is.
"""

from __future__ import annotations

from paycli.errors import GatewayConfigError
from paycli.gateway.protocol import (
    Answer,
    GatewayFailure,
    LookupUnsupported,
    RefundAnswer,
    Rejected,
)
from paycli.money import decimal_to_minor
from paycli.records import Payment, Refund
from paycli.saga.core import Decision, SagaEnv, Verdict, unknown

REFUND_KEPT = "reservation"
NOT_CHARGED = "not_charged"  # a look-up's error type when the gateway holds no charge


def charge_verdict(answer: Answer) -> Verdict:
    """What a charge's state at the gateway means for its payment."""
    if answer.status == "approved":
        return Verdict(Decision.SUCCEEDED, answer.externalId)
    if answer.status == "declined":
        return Verdict(Decision.REFUSED, answer.externalId, "declined",
                       {"code": "declined", "gateway_message": answer.message or None})
    if answer.status == "refunded":
        return unknown({"code": "refunded_elsewhere"}, answer.externalId)
    return unknown({"code": "still_pending", "gateway_status": answer.status},
                   answer.externalId)


def refund_verdict(answer: RefundAnswer | Rejected) -> Verdict:
    """What the gateway's answer to a refund means for it."""
    if isinstance(answer, Rejected):
        return Verdict(Decision.REFUSED, None, "refund_refused", {
            "code": "refund_rejected", "http_status": answer.http_status,
            "gateway_message": answer.message or None})
    if answer.status == "refunded":
        return Verdict(Decision.SUCCEEDED, answer.refundId or answer.externalId)
    return Verdict(Decision.REFUSED, answer.refundId, "refund_refused",
                   {"code": "refund_failed", "gateway_message": answer.message or None})


def ask_about_payment(env: SagaEnv, payment: Payment) -> Verdict:
    """What the payment's own gateway knows of its charge (by its reference, else by
    paycli's payment id), as a verdict."""
    try:
        env = env.at(payment.gateway)
        if payment.gateway_ref:
            found = env.gateway.status(payment.gateway_ref)
        else:
            found = env.gateway.find_payment(payment.id)
    except LookupUnsupported:
        return unknown({"code": "no_lookup_by_id"}, payment.gateway_ref, finish="reconcile")
    except GatewayFailure as exc:
        return unknown({"code": "not_asked", "failure": exc.reason}, payment.gateway_ref)
    except GatewayConfigError as exc:
        return unknown({"code": "not_asked_config", "error": exc.message}, payment.gateway_ref)
    if found is None:
        return Verdict(Decision.UNAVAILABLE, None, NOT_CHARGED, {"code": "no_charge"})
    return charge_verdict(found)


def ask_about_refund(env: SagaEnv, found: Refund) -> Verdict | None:
    """What the gateway's status of the charge says of this refund; None if it shows that
    the refund did not go through. Asked of the payment's own gateway."""
    try:
        env = at_payments_gateway(env, found)
    except GatewayConfigError as exc:  # its gateway is no longer configured
        return unknown({"code": "not_asked_config", "error": exc.message}, kept=REFUND_KEPT)
    if not found.gateway_ref:
        return unknown({"code": "no_gateway_ref"}, kept=REFUND_KEPT)
    try:
        charge_state = env.gateway.status(found.gateway_ref)
    except GatewayFailure as exc:
        return unknown({"code": "not_asked", "failure": exc.reason}, kept=REFUND_KEPT)
    except GatewayConfigError as exc:
        return unknown({"code": "not_asked_config", "error": exc.message}, kept=REFUND_KEPT)
    if charge_state is None:
        return unknown({"code": "answer_lost_charge_forgotten"}, kept=REFUND_KEPT)
    if charge_state.refunds is not None:
        return _listed(charge_state, found)
    if charge_state.status == "refunded":
        return _refunded_charge(env, charge_state, found)
    return unknown({"code": "answer_lost_no_refund_list", "gateway_status": charge_state.status},
                   kept=REFUND_KEPT)


def at_payments_gateway(env: SagaEnv, found: Refund) -> SagaEnv:
    """`env` at the gateway of the refund's payment (the one that holds its charge)."""
    payment = env.store.read.payment(found.payment_id)
    return env.at(payment.gateway) if payment is not None else env


def _listed(charge_state: Answer, found: Refund) -> Verdict | None:
    """The refund in the charge's list of refunds, found by its idempotency key."""
    assert charge_state.refunds is not None
    for record in charge_state.refunds:
        if record.idempotencyKey == found.gateway_key:
            return refund_verdict(RefundAnswer(
                externalId=charge_state.externalId,
                status="refunded" if record.status == "refunded" else "refund_failed",
                refundId=record.refundId))
    return None


def _refunded_charge(env: SagaEnv, charge_state: Answer, found: Refund) -> Verdict | None:
    """A charge the gateway calls `refunded`: this refund went through if the amounts
    agree; it did not if the refunded amount leaves it out; otherwise nobody can tell."""
    payment = env.store.read.payment(found.payment_id)
    assert payment is not None, found.payment_id
    succeeded = Verdict(Decision.SUCCEEDED, charge_state.externalId)
    if charge_state.refundedAmount is not None:
        refunded = decimal_to_minor(charge_state.refundedAmount, payment.currency)
        if refunded == payment.refunded + found.amount:
            return succeeded
        if refunded == payment.refunded:
            return None
        return unknown({"code": "refunded_amount_unaccounted", "refunded": refunded,
                        "expected": payment.refunded + found.amount}, kept=REFUND_KEPT)
    if payment.refunded == 0 and payment.refund_reserved == found.amount:
        return succeeded  # the payment's only refund: the one that marked the charge refunded
    return unknown({"code": "refunded_amount_unknown"}, kept=REFUND_KEPT)
