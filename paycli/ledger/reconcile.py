"""The ledger against the gateway's settlement report: what agrees, and every break.

Both sides are walked in payment id order and merged, one payment at a time: the ledger's
payments with their refunds, and the report's lines sorted by payment id (`compare` takes
them already grouped, from a spool on disk), so neither side has to fit in memory.
For one payment id:

    the charge   the report line whose external_id is the payment's gateway reference,
                 else its most telling charge line (approved or refunded, pending,
                 declined); any other charge line that took money is `missing_in_ledger`
    its refunds  paired with refund lines by external_id where the gateway gives refunds
                 their own ids, then by amount (completed with refunded, failed with
                 refund_failed, then those in flight with whatever is left)

and each pair is judged:

    ledger \\ gateway   approved|refunded   declined           pending / no line
    PROCESSING         resolvable          resolvable         unresolved
    PENDING            status_mismatch     status_mismatch    unresolved (recover)
    COMPLETED (and     matched             status_mismatch    status_mismatch /
      refunded ones)                                          missing_at_gateway
    FAILED             status_mismatch     matched            status_mismatch / matched

(and likewise for refunds: refunded and refund_failed against COMPLETED and FAILED). A
pair that agrees on status but not on amount or currency is `amount_mismatch`, and is
never resolvable. A line nobody in the ledger matches is `missing_in_ledger` when the
gateway took or returned money by it (declined and failed lines moved none).

Invariant: comparing only reads; what `--apply` may settle is exactly the `resolvable`
findings, and the saga settles them (`paycli.saga.reconcile`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Generic, NamedTuple, TypeVar

from paycli.money import format_minor
from paycli.records import (
    BreakKind,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    ReportLine,
)
from paycli.results.reconcile import ReconcileBreak

TOOK_MONEY = ("approved", "refunded")  # a charge line's statuses that took the money
MOVED_MONEY = ("approved", "refunded", "pending")  # ... or are about to
CHARGE_RANK = {"approved": 0, "refunded": 0, "pending": 1, "declined": 2}
DONE_PAYMENT = (PaymentStatus.COMPLETED, PaymentStatus.PARTIALLY_REFUNDED,
                PaymentStatus.REFUNDED)


class Finding(NamedTuple):
    """How one payment or refund (or one report line nobody has) compares; `kind` None
    means ledger and report agree."""

    kind: BreakKind | None
    payment_id: str | None
    refund_id: str | None
    line: ReportLine | None
    ledger_status: str | None = None
    ledger_amount: int | None = None
    currency: str | None = None

    def as_break(self) -> ReconcileBreak:
        """The finding as the contract's break object."""
        assert self.kind is not None
        line = self.line
        currency = self.currency or (line.currency if line else None)
        return ReconcileBreak(
            kind=self.kind, payment_id=self.payment_id, refund_id=self.refund_id,
            external_id=line.external_id if line else None,
            ledger_status=self.ledger_status, gateway_status=line.status if line else None,
            ledger_amount=_amount(self.ledger_amount, self.currency),
            gateway_amount=_amount(line.amount, line.currency) if line else None,
            currency=currency, line=line.line if line else None)


def _amount(minor: int | None, currency: str | None) -> str | None:
    return None if minor is None or currency is None else format_minor(minor, currency)


Group = tuple[str, list[ReportLine]]


def compare(ledger: Iterable[tuple[Payment, list[Refund]]], groups: Iterable[Group]
            ) -> Iterator[Finding]:
    """Every finding, merging two streams sorted by payment id: the ledger's payments with
    their refunds, and the report's lines grouped by payment id."""
    group_stream: _Peek[Group] = _Peek(groups)
    for payment, refunds in ledger:
        while group_stream.head is not None and group_stream.head[0] < payment.id:
            yield from _unknown_payment(*group_stream.pop())
        lines: list[ReportLine] = []
        if group_stream.head is not None and group_stream.head[0] == payment.id:
            lines = group_stream.pop()[1]
        yield from judge(payment, refunds, lines)
    while group_stream.head is not None:
        yield from _unknown_payment(*group_stream.pop())


T = TypeVar("T")


class _Peek(Generic[T]):
    """An iterator whose next item can be looked at (`head`) before it is taken."""

    def __init__(self, items: Iterable[T]) -> None:
        self._items = iter(items)
        self.head: T | None = next(self._items, None)

    def pop(self) -> T:
        """Take the head; the next item becomes the head."""
        item = self.head
        assert item is not None
        self.head = next(self._items, None)
        return item


def _unknown_payment(payment_id: str, lines: list[ReportLine]) -> Iterator[Finding]:
    """Report lines for a payment id the ledger does not have."""
    for line in lines:
        if _moved_money(line):
            yield Finding(BreakKind.MISSING_IN_LEDGER, payment_id, None, line)


def _moved_money(line: ReportLine) -> bool:
    if line.type == "charge":
        return line.status in MOVED_MONEY
    return line.status == "refunded"


def judge(payment: Payment, refunds: list[Refund], lines: list[ReportLine]
          ) -> Iterator[Finding]:
    """The findings of one payment, its refunds and the report lines of its id."""
    charges = [line for line in lines if line.type == "charge"]
    charge = _the_charge(payment, charges)
    yield _judge_payment(payment, charge)
    for other in charges:
        if other is not charge and other.status in MOVED_MONEY:
            yield Finding(BreakKind.MISSING_IN_LEDGER, payment.id, None, other)
    refund_lines = [line for line in lines if line.type == "refund"]
    yield from _judge_refunds(payment, charge, refunds, refund_lines)


def _the_charge(payment: Payment, charges: list[ReportLine]) -> ReportLine | None:
    for line in charges:
        if payment.gateway_ref and line.external_id == payment.gateway_ref:
            return line
    ranked = sorted(charges, key=lambda line: (CHARGE_RANK[line.status], line.line))
    return ranked[0] if ranked else None


def _judge_payment(payment: Payment, line: ReportLine | None) -> Finding:
    status = PaymentStatus(payment.status)
    gateway = line.status if line else None
    kind = _payment_kind(status, gateway)
    if kind in (None, BreakKind.RESOLVABLE) and line and not _same_amount(payment, line):
        kind = BreakKind.AMOUNT_MISMATCH
    return Finding(kind, payment.id, None, line, status, payment.amount, payment.currency)


def _payment_kind(status: PaymentStatus, gateway: str | None) -> BreakKind | None:
    final_there = gateway in TOOK_MONEY or gateway == "declined"
    if status == PaymentStatus.PROCESSING:
        return BreakKind.RESOLVABLE if final_there else BreakKind.UNRESOLVED
    if status == PaymentStatus.PENDING:
        return BreakKind.UNRESOLVED if gateway is None else BreakKind.STATUS_MISMATCH
    if status in DONE_PAYMENT:
        if gateway is None:
            return BreakKind.MISSING_AT_GATEWAY
        return None if gateway in TOOK_MONEY else BreakKind.STATUS_MISMATCH
    return None if gateway in (None, "declined") else BreakKind.STATUS_MISMATCH  # FAILED


def _same_amount(row: Payment | Refund, line: ReportLine) -> bool:
    return row.amount == line.amount and row.currency == line.currency


def _judge_refunds(payment: Payment, charge: ReportLine | None, refunds: list[Refund],
                   lines: list[ReportLine]) -> Iterator[Finding]:
    """Pair the payment's refunds with its refund lines, then judge each pair and the
    leftovers on both sides."""
    shared = {payment.gateway_ref, charge.external_id if charge else None}
    left = list(lines)
    pairs: list[tuple[Refund, ReportLine | None]] = []
    waiting: list[Refund] = []
    for found in refunds:  # by the refund's own id at the gateway, where it has one
        line = next((ln for ln in left if found.gateway_ref == ln.external_id
                     and ln.external_id not in shared), None)
        if line is not None:
            left.remove(line)
            pairs.append((found, line))
        else:
            waiting.append(found)
    for wanted, gateway in ((RefundStatus.COMPLETED, ("refunded",)),
                            (RefundStatus.FAILED, ("refund_failed",)),
                            (RefundStatus.PROCESSING, ("refunded", "refund_failed"))):
        for found in [r for r in waiting if r.status == wanted]:
            line = next((ln for ln in left if ln.status in gateway
                         and _same_amount(found, ln)), None)
            if line is not None:
                left.remove(line)
                waiting.remove(found)
                pairs.append((found, line))
    pairs.extend((found, None) for found in waiting)
    for found, line in pairs:
        yield _judge_refund(found, line)
    for line in left:
        if line.status == "refunded":
            yield Finding(BreakKind.MISSING_IN_LEDGER, payment.id, None, line)


def _judge_refund(found: Refund, line: ReportLine | None) -> Finding:
    status = RefundStatus(found.status)
    kind = _refund_kind(status, line.status if line else None)
    if kind in (None, BreakKind.RESOLVABLE) and line and not _same_amount(found, line):
        kind = BreakKind.AMOUNT_MISMATCH
    return Finding(kind, found.payment_id, found.id, line, status, found.amount,
                   found.currency)


def _refund_kind(status: RefundStatus, gateway: str | None) -> BreakKind | None:
    if status == RefundStatus.PROCESSING:
        return BreakKind.UNRESOLVED if gateway is None else BreakKind.RESOLVABLE
    if status == RefundStatus.PENDING:
        return BreakKind.UNRESOLVED if gateway is None else BreakKind.STATUS_MISMATCH
    if status == RefundStatus.COMPLETED:
        if gateway is None:
            return BreakKind.MISSING_AT_GATEWAY
        return None if gateway == "refunded" else BreakKind.STATUS_MISMATCH
    return None if gateway in (None, "refund_failed") else BreakKind.STATUS_MISMATCH
