"""The result of `reconcile`: its breaks and what `--apply` settled."""

from __future__ import annotations

from pydantic import Field

from paycli.records import BreakKind
from paycli.results.base import Result


class ReconcileBreak(Result):
    """A difference between the ledger and the gateway's report (`reconcile`): a payment or
    a refund, its status and amount on each side (None where a side has none), the report
    `line` it comes from and the `currency` of both amounts."""

    kind: BreakKind
    payment_id: str | None
    refund_id: str | None
    external_id: str | None
    ledger_status: str | None
    gateway_status: str | None
    ledger_amount: str | None
    gateway_amount: str | None
    currency: str | None
    line: int | None
    gateway: str | None = None  # the gateway of its report line, else the payment's


class ReconcileResolved(Result):
    """A PROCESSING payment or refund `reconcile --apply` settled from its report `line`."""

    payment_id: str
    refund_id: str | None
    status: str
    line: int


class WebhookBreak(Result):
    """A gateway webhook that contradicted a final state (kept by `listen`, never applied):
    its `webhook_id`, event `type`, the payment or refund it is about, each side's status
    and when it was received. Listed by `reconcile`, which cannot settle it: the ledger's
    final state stands, and the gateway's own records decide."""

    webhook_id: str
    type: str
    entity_id: str | None
    ledger_status: str | None
    gateway_status: str | None
    received_at: str


class ReconcileReport(Result):
    """`reconcile`: `matched` counts the payments and refunds on which ledger and report
    agree; `counts` the breaks by kind; `lines` the report lines read from `source`."""

    source: str
    lines: int
    applied: bool
    matched: int
    resolved: list[ReconcileResolved]
    breaks: list[ReconcileBreak]
    counts: dict[str, int]
    settled_elsewhere: int = 0  # resolvable, but settled by another process meanwhile
    webhook_breaks: list[WebhookBreak] = Field(default_factory=list)  # contradicting webhooks
