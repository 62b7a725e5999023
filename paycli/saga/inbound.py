"""Settling from the gateway's own word: a verified webhook applied to the ledger.

A charge's or refund's outcome pushed by the gateway settles a PROCESSING payment or
refund through the one settle path (`settle`, `require=PROCESSING`), its settle event
citing the webhook id; the actor is the listener's (`webhook`). The webhook's id is taken
(`store.inbound`) in the same transaction, so an id is acted on once however many
listeners receive it, and a crash before the commit leaves it to the gateway's retry.

Invariants: a final state is never rewritten: an event that agrees with it changes
nothing, one that contradicts it is kept as a break (so is one whose amount or currency is
not the payment's or refund's, whatever its state); a payment or refund still PENDING
(its saga has not heard the gateway's answer yet) is left alone and the id not taken
(`NotReady`), so the gateway's retry finds it PROCESSING or final.

`apply_events` acts on several events in one transaction (one commit, one fsync, for as
many deliveries as arrived together), each exactly as `apply_event` would: an event that is
`NotReady` is found before anything of it is written, so it is left out alone; any other
error rolls the group back and each event is tried again in a transaction of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from paycli.errors import PaycliError
from paycli.gateway.webhook import GatewayEvent
from paycli.money import decimal_to_minor
from paycli.records import Payment, PaymentStatus, Refund, RefundStatus
from paycli.saga.core import Decision, Verdict
from paycli.saga.settle import settle_payment_in, settle_refund_in
from paycli.store import Store, Tx
from paycli.store.inbound import ReceivedWebhook, take_webhook

# What each event says happened, and the final states that agree with it.
_SUCCEEDED = ("charge.approved", "charge.refunded")
_AGREEING: dict[str, set[str]] = {
    "charge.approved": {PaymentStatus.COMPLETED, PaymentStatus.PARTIALLY_REFUNDED,
                        PaymentStatus.REFUNDED},
    "charge.declined": {PaymentStatus.FAILED},
    "charge.refunded": {RefundStatus.COMPLETED},
    "refund.failed": {RefundStatus.FAILED},
}


class NotReady(PaycliError):
    """The payment or refund has not reached PROCESSING yet: the gateway should retry."""

    type = "not_ready"


class Applied(NamedTuple):
    """What became of a webhook: `applied`, `agreed`, `break`, `ignored` or `duplicate`;
    the payment or refund it was about and the status that one had before."""

    outcome: str
    entity_id: str | None
    ledger_status: str | None


def apply_event(store: Store, event: GatewayEvent, received_at: str) -> Applied:
    """Act on a verified gateway event once, in one transaction (see the module)."""
    with store.transaction(event.webhook_id) as tx:
        return _apply_in(tx, event, received_at)


def apply_events(store: Store, events: Sequence[tuple[GatewayEvent, str]]
                 ) -> list[Applied | PaycliError]:
    """Act on each `(event, received_at)` once, all in one transaction when they can be;
    for each, what became of it or the error that left it to the gateway's retry."""
    if len(events) > 1:
        first = events[0][0].webhook_id
        try:
            with store.transaction(f"webhooks:{first}") as tx:
                return [_settled_or_not_ready(tx, event, at) for event, at in events]
        except PaycliError:
            pass  # rolled back: one at a time, so that one bad event fails alone
    return [_alone(store, event, at) for event, at in events]


def _settled_or_not_ready(tx: Tx, event: GatewayEvent, received_at: str
                          ) -> Applied | PaycliError:
    try:
        return _apply_in(tx, event, received_at)
    except NotReady as exc:  # raised before anything of this event was written
        return exc


def _alone(store: Store, event: GatewayEvent, received_at: str) -> Applied | PaycliError:
    try:
        return apply_event(store, event, received_at)
    except PaycliError as exc:
        return exc


def _apply_in(tx: Tx, event: GatewayEvent, received_at: str) -> Applied:
    target = _refund_of(tx, event) if event.is_refund else tx.payment(event.payment_id)
    applied = _judge(event, target)
    row = ReceivedWebhook(event.webhook_id, event.type, applied.entity_id,
                          applied.outcome, applied.ledger_status, event.status, received_at)
    if not take_webhook(tx, row):
        return applied._replace(outcome="duplicate")
    if applied.outcome == "applied" and target is not None:
        _settle(tx, event, target)
    return applied


def _judge(event: GatewayEvent, target: Payment | Refund | None) -> Applied:
    if target is None:
        return Applied("ignored", None, None)
    if target.status == PaymentStatus.PENDING:  # the same word for a refund
        raise NotReady(f"{target.id} is PENDING")
    if not _same_money(event, target):  # never settled by a word about other money
        return Applied("break", target.id, target.status)
    if target.status == PaymentStatus.PROCESSING:
        return Applied("applied", target.id, target.status)
    agrees = target.status in _AGREEING[event.type]
    return Applied("agreed" if agrees else "break", target.id, target.status)


def _settle(tx: Tx, event: GatewayEvent, target: Payment | Refund) -> None:
    if isinstance(target, Refund):
        verdict = (Verdict(Decision.SUCCEEDED, event.refund_id) if event.type in _SUCCEEDED
                   else Verdict(Decision.REFUSED, None, "refund_refused",
                                {"code": "refund_failed_by_webhook"}))
        settle_refund_in(tx, target.id, verdict, [], require=RefundStatus.PROCESSING,
                         webhook_id=event.webhook_id)
        return
    verdict = (Verdict(Decision.SUCCEEDED, event.external_id) if event.type in _SUCCEEDED
               else Verdict(Decision.REFUSED, event.external_id, "declined",
                            {"code": "declined_by_webhook"}))
    settle_payment_in(tx, target.id, verdict, [], require=PaymentStatus.PROCESSING,
                      webhook_id=event.webhook_id)


def _refund_of(tx: Tx, event: GatewayEvent) -> Refund | None:
    """The refund the event is about: the one with its gateway reference, else the oldest
    unfinished one of its payment for its amount (a refund whose answer was lost has no
    reference yet)."""
    refunds = tx.refunds(event.payment_id)
    for found in refunds:
        if event.refund_id and found.gateway_ref == event.refund_id:
            return found
    for found in refunds:
        if not found.is_final and _same_amount(event, found):
            return found
    return None


def _same_amount(event: GatewayEvent, found: Payment | Refund) -> bool:
    if event.amount is None:
        return True
    return decimal_to_minor(event.amount, found.currency) == found.amount


def _same_money(event: GatewayEvent, found: Payment | Refund) -> bool:
    """Whether the event's amount and currency (where it gives them) are the payment's
    or refund's: a charge event for other money is a break, whatever its status says."""
    if event.currency is not None and event.currency.upper() != found.currency:
        return False
    return _same_amount(event, found)
