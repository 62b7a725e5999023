"""`paycli payments list` and `payments show`: payments as the contract's result objects.

Invariants:
- Amounts are exact decimal strings at the currency's precision, never floats, in the
  payment's fields and in the timeline's `changes` alike.
- The books keep why a saga failed as a reason code and its values; it is put in words
  (`results.messages`) here, when read, in the `error` objects and the timeline alike.
- A `payments list` entry has exactly the fields of `payments show` less `events`.
- The timeline (`events`) is oldest first and covers everything that happened to the
  payment: its own events, its hold's, its refunds' and their credits'. Each entry has
  `seq, at, type, entity_id, changes` plus what the event carried besides (the settle
  event's `steps`: each step's duration and gateway attempts; the `refund_id` of a
  refund's reservation).
- Reads run on the reader given; the CLI passes one snapshot, so a result never mixes two
  states of the ledger.
"""

from __future__ import annotations

import json
from typing import Any

from paycli.errors import NotFound
from paycli.ledger import orders
from paycli.money import format_minor
from paycli.records import Payment, Refund
from paycli.results import messages
from paycli.results.base import ErrorInfo, StepRecord
from paycli.results.payments import (
    PaymentFields,
    PaymentResolved,
    PaymentShow,
    PaymentsList,
    RefundEntry,
    RefundFields,
    RefundResolved,
    RefundsList,
    TimelineEvent,
)
from paycli.store import Reader

AMOUNT_KEYS = frozenset({"amount", "refunded", "refund_reserved"})


def list_payments(reader: Reader, *, user: str | None = None, status: str | None = None,
                  currency: str | None = None, since: str | None = None,
                  until: str | None = None, limit: int = 50, gateway: str | None = None
                  ) -> PaymentsList:
    """Payments matching every filter given, newest first (`since` <= created < `until`)."""
    found = reader.payments(user_id=user, status=status, currency=currency, since=since,
                            until=until, limit=limit, gateway=gateway)
    return PaymentsList(payments=[payment_fields(reader, payment) for payment in found])


def list_refunds(reader: Reader, *, status: str | None = None, payment_id: str | None = None,
                 limit: int = 50) -> RefundsList:
    """Refunds matching every filter given, newest first."""
    found = reader.refund_rows(status=status, payment_id=payment_id, limit=limit)
    return RefundsList(refunds=[RefundEntry(**dict(refund_fields(refund)),
                                            payment_id=refund.payment_id)
                                for refund in found])


def resolved_payment(reader: Reader, payment_id: str, reason: str, actor: str
                     ) -> PaymentResolved:
    """A payment after its resolution by hand, with the reason and the actor."""
    payment = reader.payment(payment_id)
    assert payment is not None, payment_id
    return PaymentResolved(**dict(payment_fields(reader, payment)), reason=reason, actor=actor)


def resolved_refund(reader: Reader, refund_id: str, reason: str, actor: str) -> RefundResolved:
    """A refund after its resolution by hand, with the reason and the actor."""
    refund = reader.refund(refund_id)
    payment = reader.payment(refund.payment_id) if refund else None
    assert refund is not None and payment is not None, refund_id
    fields = dict(refund_fields(refund))
    fields["refund_reason"] = fields.pop("reason")
    return RefundResolved(**fields, payment_id=refund.payment_id,
                          payment_status=payment.status, reason=reason, actor=actor)


def show_payment(reader: Reader, payment_id: str) -> PaymentShow:
    """One payment, its refunds and its timeline; `NotFound` if there is no such payment."""
    payment = reader.payment(payment_id)
    if payment is None:
        raise NotFound(f"no payment {payment_id}")
    fields = payment_fields(reader, payment)
    return PaymentShow(**dict(fields), events=timeline(reader, payment))


def saga_steps(reader: Reader, entity_id: str) -> list[StepRecord]:
    """The steps of a payment's (or refund's) saga, from the event that ended it."""
    for event in reversed(reader.events_of(entity_id)):
        payload = json.loads(event.payload)
        if "steps" in payload:
            return [step_record(step) for step in payload["steps"]]
    return []


def step_record(stored: dict[str, Any]) -> StepRecord:
    """A step as the books keep it (name, status, attempts, duration and a detail code with
    its values; an earlier version kept no detail) as the contract's object, the detail in
    words."""
    return StepRecord(name=stored["name"], status=stored["status"],
                      attempts=stored["attempts"], duration_ms=stored["duration_ms"],
                      detail=messages.step_detail(stored.get("detail")))


def _error(error_type: str | None, message: str | None) -> ErrorInfo | None:
    """The error of a payment or refund, its stored reason in words."""
    if error_type is None:
        return None
    return ErrorInfo(type=error_type, message=messages.error_text(message) or "")


def payment_fields(reader: Reader, payment: Payment) -> PaymentFields:
    """The fields `payments list` and `payments show` share."""
    currency = payment.currency
    refunds = reader.refunds(payment.id)
    return PaymentFields(
        payment_id=payment.id, status=payment.status, user=payment.user_id,
        amount=format_minor(payment.amount, currency), currency=currency,
        order_id=payment.order_id, gateway_ref=payment.gateway_ref, gateway=payment.gateway,
        refunded_amount=format_minor(payment.refunded, currency),
        refundable_amount=format_minor(payment.refundable, currency),
        error=_error(payment.error_type, payment.error_message),
        created_at=payment.created_at, updated_at=payment.updated_at,
        refunds=[refund_fields(refund) for refund in refunds],
        steps=saga_steps(reader, payment.id), attempts=orders.attempt_ids(reader, payment),
    )


def refund_fields(refund: Refund) -> RefundFields:
    """One refund of a payment, oldest first in its payment's `refunds`."""
    return RefundFields(
        refund_id=refund.id, amount=format_minor(refund.amount, refund.currency),
        currency=refund.currency, status=refund.status, reason=refund.reason,
        gateway_ref=refund.gateway_ref, error=_error(refund.error_type, refund.error_message),
        created_at=refund.created_at, updated_at=refund.updated_at,
    )


def timeline(reader: Reader, payment: Payment) -> list[TimelineEvent]:
    """Every event about the payment, its hold, its refunds and their credits, oldest first."""
    refunds = reader.refunds(payment.id)
    entity_ids = {payment.id, payment.hold_id}
    for refund in refunds:
        entity_ids.update((refund.id, refund.transfer_id))
    found = [event for entity_id in sorted(filter(None, entity_ids))
             for event in reader.events_of(entity_id)]
    found.sort(key=lambda event: event.seq)
    return [TimelineEvent(seq=event.seq, at=event.at, type=event.type, actor=event.actor,
                          entity_id=event.entity_id, **_content(event.payload, payment.currency))
            for event in found]


def _content(payload_text: str, currency: str) -> dict[str, Any]:
    """An event's `changes` (the whole payload of a creation) and what it carried besides."""
    payload = json.loads(payload_text)
    if "changes" in payload:
        extra = {k: v for k, v in payload.items() if k not in ("id", "changes")}
        return {"changes": _amounts(payload["changes"], currency), **extra}
    return {"changes": _amounts({k: v for k, v in payload.items() if k != "id"}, currency)}


def _amounts(changes: dict[str, Any], currency: str) -> dict[str, Any]:
    """The changes as shown: amounts as decimal strings, a stored reason in words."""
    return {key: format_minor(value, currency)
            if key in AMOUNT_KEYS and isinstance(value, int)
            else messages.error_text(value) if key == "error_message" else value
            for key, value in changes.items()}
