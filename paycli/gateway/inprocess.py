"""An in-process card gateway that approves every charge: `paycli bench --gateway inprocess`.

It keeps the protocol's semantics that matter to paycli (one charge per idempotency key,
look-up by payment id, refunds up to the captured amount) without any network, so the
bench measures paycli itself against the storage limit.
"""

from __future__ import annotations

import itertools
import threading
from decimal import Decimal

from paycli.gateway.protocol import Answer, ChargeRequest, RefundAnswer, Rejected


class InProcessGateway:
    """Approves every charge at once; thread-safe.

    It remembers each charge as a number (its reference is `inproc_N`) under its
    idempotency key and its payment id, and its amount and refunds by number: a bench of a
    million payments keeps a million small entries, not a million answers."""

    answers_at_once = True  # no network: a billing run charges it without worker threads

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._by_key: dict[str, int] = {}
        self._by_payment: dict[str, int] = {}
        self._captured: dict[int, Decimal] = {}
        self._refunded: dict[int, Decimal] = {}

    def charge(self, request: ChargeRequest) -> Answer | Rejected:
        """Approve, once per idempotency key."""
        with self._lock:
            number = self._by_key.get(request.idempotency_key)
            if number is None:
                number = self._by_key[request.idempotency_key] = next(self._ids)
                self._by_payment[request.payment_id] = number
                self._captured[number] = Decimal(request.amount)
        return _approved(number)

    def status(self, external_id: str) -> Answer | None:
        """The charge with that reference, or None."""
        number = _number(external_id)
        with self._lock:
            return _approved(number) if number in self._captured else None

    def find_payment(self, payment_id: str) -> Answer | None:
        """The charge made for that payment, or None."""
        with self._lock:
            number = self._by_payment.get(payment_id)
        return None if number is None else _approved(number)

    def refund(self, external_id: str, amount: str, reason: str,
               idempotency_key: str) -> RefundAnswer | Rejected:
        """Refund up to what is left of the charge."""
        number = _number(external_id)
        with self._lock:
            captured = self._captured.get(number)
            if captured is None:
                return Rejected(404, "unknown charge")
            refunded = self._refunded.get(number, Decimal(0)) + Decimal(amount)
            if refunded > captured:
                return Rejected(400, "refund exceeds the captured amount")
            self._refunded[number] = refunded
            return RefundAnswer(externalId=external_id, status="refunded",
                                refundId=f"inproc_ref_{next(self._ids)}")

    def close(self) -> None:
        """Nothing to close."""


def _approved(number: int) -> Answer:
    return Answer(externalId=f"inproc_{number}", status="approved")


def _number(external_id: str) -> int:
    """The charge number of an `inproc_N` reference (0, which no charge has, otherwise)."""
    prefix, _, digits = external_id.partition("_")
    return int(digits) if prefix == "inproc" and digits.isdigit() else 0
