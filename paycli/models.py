"""Plain records that cross the boundary between the store and the rest of paycli.

Immutable named tuples: cheap to define (start-up matters) and to build from rows.

They carry amounts in integer minor units; nothing here touches SQLite or the network.
"""

from __future__ import annotations

from typing import NamedTuple

FINAL_PAYMENT_STATUSES = frozenset({"COMPLETED", "FAILED", "PARTIALLY_REFUNDED", "REFUNDED"})
PAYMENT_STATUSES = ("PENDING", "PROCESSING", "COMPLETED", "FAILED", "PARTIALLY_REFUNDED",
                    "REFUNDED")
FINAL_REFUND_STATUSES = frozenset({"COMPLETED", "FAILED"})


class Account(NamedTuple):
    """A ledger account: a user's wallet in one currency, or an external account."""

    id: int
    kind: str
    user_id: str | None
    currency: str
    balance: int
    held: int

    @property
    def available(self) -> int:
        """What may still be held or spent: the balance less the holds on it."""
        return self.balance - self.held


class Entry(NamedTuple):
    """One line of a wallet's statement."""

    seq: int
    at: str
    type: str
    amount: int
    balance: int
    held: int
    transfer_id: str
    reference: str | None


class Payment(NamedTuple):
    """A payment and where its saga stands."""

    id: str
    user_id: str
    currency: str
    amount: int
    order_id: str | None
    idempotency_key: str | None
    gateway_key: str
    status: str
    gateway_ref: str | None
    hold_id: str | None
    refunded: int
    refund_reserved: int
    error_type: str | None
    error_message: str | None
    owner: str | None
    created_at: str
    updated_at: str

    @property
    def is_final(self) -> bool:
        """True once the payment's saga has ended (refunds may still follow)."""
        return self.status in FINAL_PAYMENT_STATUSES

    @property
    def refundable(self) -> int:
        """What may still be refunded: captured, less refunded and reserved refunds."""
        if self.status not in ("COMPLETED", "PARTIALLY_REFUNDED"):
            return 0
        return self.amount - self.refunded - self.refund_reserved


class Refund(NamedTuple):
    """A refund of (part of) a payment and where its saga stands."""

    id: str
    payment_id: str
    currency: str
    amount: int
    reason: str | None
    idempotency_key: str | None
    gateway_key: str
    status: str
    gateway_ref: str | None
    transfer_id: str | None
    error_type: str | None
    error_message: str | None
    owner: str | None
    created_at: str
    updated_at: str

    @property
    def is_final(self) -> bool:
        """True once the refund's saga has ended."""
        return self.status in FINAL_REFUND_STATUSES


class Event(NamedTuple):
    """One entry of the append-only, hash-chained event log."""

    seq: int
    type: str
    entity_id: str
    payload: str
    at: str
    correlation_id: str | None
    prev_hash: str
    hash: str


class BreakerState(NamedTuple):
    """The shared circuit breaker as stored in the ledger database."""

    state: str
    failures: int
    opened_at: float | None
    probe_started: float | None


class Transfer(NamedTuple):
    """A movement of money between two accounts of one currency."""

    id: str
    kind: str
    debit_account: int
    credit_account: int
    amount: int
    currency: str
    state: str
    reference: str | None
    created_at: str
    resolved_at: str | None
