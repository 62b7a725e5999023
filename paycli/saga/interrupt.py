"""What an interrupted saga (Ctrl-C) left behind, said so the operator knows what finishes
it. The saga's steps each commit whole, so the ledger holds exactly one of: nothing yet, a
payment or refund in flight with its money held, or a finished one. The facts are read
here; `paycli.results.messages` words them."""

from __future__ import annotations

from typing import Any

from paycli.records import Payment, Refund
from paycli.results import messages
from paycli.results.messages import Reason
from paycli.store import Store


def left_behind(store: Store, details: dict[str, Any]) -> str:
    """One line: what the interrupted saga whose `details` were announced left behind."""
    return messages.render(_left(store, details))


def _left(store: Store, details: dict[str, Any]) -> Reason:
    refund_id, payment_id = details.get("refund_id"), details.get("payment_id")
    if refund_id is not None:
        found = store.read.refund(refund_id)
        if found is not None:
            return _refund_left(found)
    elif payment_id is not None:
        payment = store.read.payment(payment_id)
        if payment is not None:
            return _payment_left(payment)
    return {"code": "interrupted_nothing_written"}


def _payment_left(payment: Payment) -> Reason:
    if payment.is_final:
        return {"code": "interrupted_after_end", "id": payment.id, "status": payment.status}
    return {"code": "interrupted_payment", "id": payment.id, "status": payment.status,
            "amount": payment.amount, "currency": payment.currency,
            "held": payment.hold_id is not None}


def _refund_left(refund: Refund) -> Reason:
    if refund.is_final:
        return {"code": "interrupted_after_end", "id": refund.id, "status": refund.status}
    return {"code": "interrupted_refund", "id": refund.id, "status": refund.status,
            "amount": refund.amount, "currency": refund.currency,
            "payment_id": refund.payment_id}
