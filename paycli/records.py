"""Plain records that cross the boundary between the store and the rest of paycli, and the
status enums that every layer shares.

Records are immutable named tuples: cheap to define (start-up matters) and to build from
rows. They carry amounts in integer minor units. Statuses are `StrEnum`s: a member equals
its text, so rows read back as plain strings compare equal to them. Nothing here touches
the database or the network.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import NamedTuple

# The shapes of what operators type: a user id, and an idempotency key or order id.
USER_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
KEY = re.compile(r"[\x21-\x7e]{1,255}")


class PaymentStatus(StrEnum):
    """Where a payment's saga stands (the contract's payment statuses)."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"


class DeliveryStatus(StrEnum):
    """Where a webhook delivery stands: `pending` never tried, `failed` tried and due
    again, `dead` given up on (until `webhooks retry`), `delivered` answered 2xx."""

    PENDING = "pending"
    FAILED = "failed"
    DEAD = "dead"
    DELIVERED = "delivered"


class RefundStatus(StrEnum):
    """Where a refund's saga stands (the contract's refund statuses)."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class StepStatus(StrEnum):
    """A saga step's state as shown to the operator."""

    RUNNING = "running"
    RETRY = "retry"
    SUCCESS = "success"
    FAILED = "failed"
    PENDING = "pending"
    STOPPED = "stopped"  # Ctrl-C: neither failed nor finished; `recover` finishes it


class BreakKind(StrEnum):
    """How the ledger and the gateway's settlement report disagree (`reconcile`)."""

    MISSING_IN_LEDGER = "missing_in_ledger"    # the gateway took money paycli has no record of
    MISSING_AT_GATEWAY = "missing_at_gateway"  # paycli COMPLETED, no approved charge (refund)
    STATUS_MISMATCH = "status_mismatch"        # both final, and they disagree
    AMOUNT_MISMATCH = "amount_mismatch"        # the same charge or refund, another amount
    RESOLVABLE = "resolvable"                  # PROCESSING here, final in the report
    UNRESOLVED = "unresolved"                  # not final here, nor at the gateway


class BreakerStatus(StrEnum):
    """The shared circuit breaker's state."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class TransferState(StrEnum):
    """A transfer between two accounts: pending (a hold), posted or voided."""

    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"


FINAL_PAYMENT_STATUSES = frozenset({PaymentStatus.COMPLETED, PaymentStatus.FAILED,
                                    PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED})
CAPTURED_STATUSES = frozenset({PaymentStatus.COMPLETED, PaymentStatus.PARTIALLY_REFUNDED,
                               PaymentStatus.REFUNDED})
REFUNDABLE_STATUSES = frozenset({PaymentStatus.COMPLETED, PaymentStatus.PARTIALLY_REFUNDED})
UNFINISHED_STATUSES = frozenset({PaymentStatus.PENDING, PaymentStatus.PROCESSING})
FINAL_REFUND_STATUSES = frozenset({RefundStatus.COMPLETED, RefundStatus.FAILED})


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
    status: PaymentStatus
    gateway_ref: str | None
    hold_id: str | None
    refunded: int
    refund_reserved: int
    error_type: str | None
    error_message: str | None
    owner: str | None
    created_at: str
    updated_at: str
    gateway: str = "default"  # the configured gateway its charge goes to

    @property
    def is_final(self) -> bool:
        """True once the payment's saga has ended (refunds may still follow)."""
        return self.status in FINAL_PAYMENT_STATUSES

    @property
    def refundable(self) -> int:
        """What may still be refunded: captured, less refunded and reserved refunds."""
        if self.status not in REFUNDABLE_STATUSES:
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
    status: RefundStatus
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
    actor: str | None


class BreakerState(NamedTuple):
    """The shared circuit breaker as stored in the ledger database."""

    state: BreakerStatus
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
    state: TransferState
    reference: str | None
    created_at: str
    resolved_at: str | None


class ReportLine(NamedTuple):
    """One line of a gateway's settlement report, checked, its amount in minor units."""

    line: int  # as an editor counts: the header is line 1
    external_id: str
    payment_id: str
    type: str  # charge | refund
    status: str  # charge: approved, pending, declined, refunded; refund: refunded, refund_failed
    amount: int
    currency: str
    created_at: str


class Limits(NamedTuple):
    """A scope's limits of one currency, in minor units (None: no limit); `scope` is a
    user id, or `''` for the default of every wallet."""

    scope: str
    currency: str
    max_amount: int | None
    daily_amount: int | None
    daily_count: int | None
    updated_at: str
