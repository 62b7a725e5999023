"""What an interrupted saga (Ctrl-C) left behind, said so the operator knows what finishes
it. The saga's steps each commit whole, so the ledger holds exactly one of: nothing yet, a
payment or refund in flight with its money held, or a finished one."""

from __future__ import annotations

from typing import Any

from paycli.money import format_minor
from paycli.records import Payment, Refund
from paycli.store import Store

RECOVER = "run `paycli recover` to finish it"


def left_behind(store: Store, details: dict[str, Any]) -> str:
    """One line: what the interrupted saga whose `details` were announced left behind."""
    refund_id, payment_id = details.get("refund_id"), details.get("payment_id")
    if refund_id is not None:
        found = store.read.refund(refund_id)
        if found is not None:
            return _refund_left(found)
    elif payment_id is not None:
        payment = store.read.payment(payment_id)
        if payment is not None:
            return _payment_left(payment)
    return "interrupted: nothing was written, no money moved"


def _payment_left(payment: Payment) -> str:
    if payment.is_final:
        return f"interrupted: {payment.id} had already ended {payment.status}"
    money = f"{format_minor(payment.amount, payment.currency)} {payment.currency}"
    held = f"with {money} held" if payment.hold_id else "with nothing held yet"
    return f"interrupted: {payment.id} is {payment.status} {held}; {RECOVER}"


def _refund_left(refund: Refund) -> str:
    if refund.is_final:
        return f"interrupted: {refund.id} had already ended {refund.status}"
    money = f"{format_minor(refund.amount, refund.currency)} {refund.currency}"
    return (f"interrupted: {refund.id} is {refund.status} with {money} reserved on "
            f"{refund.payment_id}; {RECOVER}")
