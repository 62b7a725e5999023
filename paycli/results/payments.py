"""Results of `pay`, `refund`, `payments list | show | resolve`, `refunds list | resolve`."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from paycli.records import PaymentStatus, RefundStatus
from paycli.results.base import ErrorInfo, Result, StepRecord


class PayResult(Result):
    """`pay`: a payment as it stands after its saga (no id when none was created)."""

    payment_id: str | None
    status: PaymentStatus | None
    user: str
    amount: str
    currency: str
    order_id: str | None
    gateway_ref: str | None
    balance: str
    steps: list[StepRecord]
    error: ErrorInfo | None


class RefundResult(Result):
    """`refund`: the refund after its saga and its payment's status."""

    refund_id: str | None
    payment_id: str
    amount: str
    currency: str
    status: RefundStatus | None
    payment_status: PaymentStatus
    refunded_amount: str
    balance: str
    steps: list[StepRecord]
    error: ErrorInfo | None


class RefundFields(Result):
    """A refund as `payments list` and `payments show` show it."""

    refund_id: str
    amount: str
    currency: str
    status: RefundStatus
    reason: str | None
    gateway_ref: str | None
    error: ErrorInfo | None
    created_at: str
    updated_at: str


class PaymentFields(Result):
    """The fields `payments list` and `payments show` share (`steps`: the saga's steps as
    its last event recorded them)."""

    payment_id: str
    status: PaymentStatus
    user: str
    amount: str
    currency: str
    order_id: str | None
    gateway_ref: str | None
    gateway: str  # the configured gateway that holds (or was asked for) its charge
    refunded_amount: str
    refundable_amount: str
    error: ErrorInfo | None
    created_at: str
    updated_at: str
    refunds: list[RefundFields]
    steps: list[StepRecord]
    attempts: list[str]  # the payment ids of its order's attempts, oldest first


class PaymentsList(Result):
    """`payments list`: newest first."""

    payments: list[PaymentFields]


class TimelineEvent(Result):
    """One event of a payment's timeline; besides its changes it carries what its event
    recorded (a settlement's `steps`, a reservation's `refund_id`)."""

    model_config = ConfigDict(frozen=True, extra="allow", defer_build=True)

    seq: int
    at: str
    type: str
    actor: str | None
    entity_id: str
    changes: dict[str, Any]


class PaymentShow(PaymentFields):
    """`payments show`: the payment's fields (with its saga's steps as they ran) and its
    timeline, oldest first."""

    events: list[TimelineEvent]


class PaymentResolved(PaymentFields):
    """`payments resolve`: the payment after the operator's decision, why, and who."""

    reason: str
    actor: str


class RefundEntry(RefundFields):
    """A refund as `refunds list` shows it: its fields and its payment's id."""

    payment_id: str


class RefundsList(Result):
    """`refunds list`: newest first."""

    refunds: list[RefundEntry]


class RefundResolved(Result):
    """`refunds resolve`: the refund after the operator's decision (`refund_reason` is
    why it was asked for), its payment's status, why it was resolved, and who."""

    refund_id: str
    payment_id: str
    amount: str
    currency: str
    status: RefundStatus
    refund_reason: str | None
    gateway_ref: str | None
    error: ErrorInfo | None
    created_at: str
    updated_at: str
    payment_status: PaymentStatus
    reason: str
    actor: str
