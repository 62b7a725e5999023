"""The public event types, how the ledger's own events map to them, and their bodies.

The ledger's events are internal (their types and payloads may change between versions);
an endpoint receives a documented shape instead, version 1: `{"id", "type",
"created_at", "data"}`, `data` the record as the matching `--json` entry shows it, built
from the ledger when sent (so the endpoint reads the record as it stands then).

    payment.completed            a payment's status set to COMPLETED
    payment.failed               ... to FAILED
    payment.refunded             ... to REFUNDED (fully refunded)
    payment.partially_refunded   ... to PARTIALLY_REFUNDED
    refund.completed             a refund's status set to COMPLETED
    refund.failed                ... to FAILED
    wallet.credited              money credited to a wallet from outside (`wallet credit`)

Invariants: an event's public id is `evt_` and the first 24 hex digits of its chain
hash, the same on every try; `order_key` is the payment an event is about (a refund's
payment, a wallet's user for a credit), the unit within which events stay in order.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any, NamedTuple

from paycli.ledger.queries import payment_fields, refund_fields
from paycli.money import format_minor
from paycli.records import Event, PaymentStatus, RefundStatus
from paycli.results.payments import RefundEntry
from paycli.results.wallet import WalletCredit
from paycli.results.webhooks import WebhookEvent
from paycli.store import Reader
from paycli.store import webhooks as rows

PAYMENT_TYPES: dict[str, str] = {
    PaymentStatus.COMPLETED: "payment.completed",
    PaymentStatus.FAILED: "payment.failed",
    PaymentStatus.REFUNDED: "payment.refunded",
    PaymentStatus.PARTIALLY_REFUNDED: "payment.partially_refunded",
}
REFUND_TYPES: dict[str, str] = {RefundStatus.COMPLETED: "refund.completed",
                                 RefundStatus.FAILED: "refund.failed"}
CREDITED = "wallet.credited"
EVENT_TYPES = (*PAYMENT_TYPES.values(), *REFUND_TYPES.values(), CREDITED)


class Public(NamedTuple):
    """A ledger event as an endpoint knows it."""

    seq: int
    id: str
    type: str
    order_key: str
    entity_id: str
    at: str


def event_id(event: Event) -> str:
    """The public id of a ledger event."""
    return "evt_" + event.hash[:24]


def public(reader: Reader, event: Event) -> Public | None:
    """The public event a ledger event is, or None when it is none."""
    kind = event.type.partition(".")[0]
    if kind not in ("payment", "refund", "transfer"):
        return None
    payload = json.loads(event.payload)
    if kind == "transfer":
        if event.type != "transfer.posted" or payload.get("kind") != "credit":
            return None
        return _public(event, CREDITED, "wallet:" + str(payload["user"]))
    status = str((payload.get("changes") or {}).get("status"))
    if kind == "payment":
        type_ = PAYMENT_TYPES.get(status)
        return None if type_ is None else _public(event, type_, event.entity_id)
    type_ = REFUND_TYPES.get(status)
    refund = reader.refund(event.entity_id) if type_ else None
    return None if type_ is None or refund is None else _public(event, type_,
                                                                  refund.payment_id)


def _public(event: Event, type_: str, order_key: str) -> Public:
    return Public(event.seq, event_id(event), type_, order_key, event.entity_id, event.at)


def matches(patterns: list[str], type_: str) -> bool:
    """Whether an endpoint subscribed with `patterns` (`payment.*`, `*`) hears `type_`."""
    return any(fnmatch.fnmatchcase(type_, pattern) for pattern in patterns)


def body(reader: Reader, event: Event) -> WebhookEvent | None:
    """The body of a ledger event's public event, from the records as they stand; None
    if its record is gone (never, in an append-only ledger) or it maps to none."""
    found = public(reader, event)
    if found is None:
        return None
    data = _data(reader, found)
    if data is None:
        return None
    return WebhookEvent(id=found.id, type=found.type, created_at=found.at, data=data)


def _data(reader: Reader, found: Public) -> dict[str, Any] | None:
    if found.type == CREDITED:
        return _credit(reader, found.entity_id)
    if found.type in REFUND_TYPES.values():
        refund = reader.refund(found.entity_id)
        return None if refund is None else RefundEntry(
            **dict(refund_fields(refund)), payment_id=refund.payment_id).to_json()
    payment = reader.payment(found.entity_id)
    return None if payment is None else payment_fields(reader, payment).to_json()


def _credit(reader: Reader, transfer_id: str) -> dict[str, Any] | None:
    transfer = reader.transfer(transfer_id)
    if transfer is None:
        return None
    balance = rows.credit_balance(reader, transfer.credit_account, transfer_id)
    if balance is None:
        return None
    wallet = reader.account_by_id(transfer.credit_account)
    return WalletCredit(user=str(wallet.user_id), currency=transfer.currency,
                        amount=format_minor(transfer.amount, transfer.currency),
                        balance=format_minor(balance, transfer.currency),
                        transaction_id=transfer_id).to_json()
