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
    """Approves every charge at once; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._by_key: dict[str, Answer] = {}
        self._by_payment: dict[str, Answer] = {}
        self._captured: dict[str, Decimal] = {}
        self._refunded: dict[str, Decimal] = {}

    def charge(self, request: ChargeRequest) -> Answer | Rejected:
        """Approve, once per idempotency key."""
        with self._lock:
            known = self._by_key.get(request.idempotency_key)
            if known is not None:
                return known
            answer = Answer(externalId=f"inproc_{next(self._ids)}", status="approved")
            self._by_key[request.idempotency_key] = answer
            self._by_payment[request.payment_id] = answer
            self._captured[answer.externalId] = Decimal(request.amount)
            return answer

    def status(self, external_id: str) -> Answer | None:
        """The charge with that reference, or None."""
        with self._lock:
            if external_id not in self._captured:
                return None
            return Answer(externalId=external_id, status="approved")

    def find_payment(self, payment_id: str) -> Answer | None:
        """The charge made for that payment, or None."""
        with self._lock:
            return self._by_payment.get(payment_id)

    def refund(self, external_id: str, amount: str, reason: str,
               idempotency_key: str) -> RefundAnswer | Rejected:
        """Refund up to what is left of the charge."""
        with self._lock:
            captured = self._captured.get(external_id)
            if captured is None:
                return Rejected(404, "unknown charge")
            refunded = self._refunded.get(external_id, Decimal(0)) + Decimal(amount)
            if refunded > captured:
                return Rejected(400, "refund exceeds the captured amount")
            self._refunded[external_id] = refunded
            return RefundAnswer(externalId=external_id, status="refunded",
                                refundId=f"inproc_ref_{next(self._ids)}")

    def close(self) -> None:
        """Nothing to close."""
