"""An order's payment attempts: which attempt a request for an order means, and the key
of the next one.

An order (`pay --order-id`, a billing run's `order_id`) may be paid in several attempts,
each a payment of its own, under the idempotency key `order:O` (the first) or `order:O#N`
(the Nth). A new attempt is made only when asked (`pay --retry`, `batch --retry-failed`)
and only when every attempt so far FAILED:

    no attempt yet        the first, under `order:O`
    a live attempt        that one (PENDING, PROCESSING, COMPLETED or refunded): an order
                          is never charged twice, so the request is its repeat
    every attempt FAILED  the latest, as a repeat (same result, same exit code); asked to
                          retry, a new attempt under `order:O#N`, N the attempts so far + 1

Invariants: at most one attempt of an order is ever past FAILED: checked inside the
creating transaction (`live_attempt`, writers being serialised) and enforced by the
ledger's unique index `payments_one_live_attempt` (schema v5) on both engines. A retry asks
for the same payment as the attempts before it: a different user, amount or currency
stays the idempotency conflict it always was (exit 6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paycli.records import Payment, PaymentStatus
from paycli.store import Reader


@dataclass(frozen=True)
class Attempt:
    """The attempt of an order a request means: the key it is found (or made) under, its
    number (1 for the first), and, for a new retry, the failed attempt it follows."""

    key: str
    number: int
    retrying: Payment | None = None


def key_of(order_id: str, number: int) -> str:
    """The idempotency key of an order's attempt `number`."""
    return f"order:{order_id}" if number == 1 else f"order:{order_id}#{number}"


def number_of(payment: Payment) -> int:
    """Which attempt of its order a payment is (1 unless made by a retry)."""
    key = payment.idempotency_key or ""
    prefix = f"order:{payment.order_id}#"
    tail = key[len(prefix):] if key.startswith(prefix) else ""
    return int(tail) if tail.isdigit() else 1


def is_live(payment: Payment) -> bool:
    """Whether an attempt holds its order: anything but FAILED (money held or taken)."""
    return payment.status != PaymentStatus.FAILED


def choose(order_id: str, attempts: list[Payment], stored: dict[str, dict[str, Any]],
           digest: str, retry: bool) -> Attempt:
    """The attempt a request for `order_id` means, given the order's attempts (oldest
    first) and the idempotency rows stored under their keys (see the module docstring)."""
    if not attempts:
        return Attempt(key_of(order_id, 1), 1)
    for number, attempt in enumerate(attempts, 1):
        if is_live(attempt):
            return Attempt(attempt.idempotency_key or key_of(order_id, number), number)
    latest = attempts[-1]
    repeat = Attempt(latest.idempotency_key or key_of(order_id, len(attempts)), len(attempts))
    if not retry or not _same_request(stored.get(repeat.key), digest):
        return repeat  # a different request meets its conflict under the latest key
    return Attempt(key_of(order_id, len(attempts) + 1), len(attempts) + 1, latest)


def _same_request(row: dict[str, Any] | None, digest: str) -> bool:
    return row is None or (row["command"] == "pay" and row["fingerprint"] == digest)


def attempt_for(reader: Reader, order_id: str | None, given_key: str | None, digest: str,
                retry: bool) -> Attempt | None:
    """The attempt a single payment request means; None when the order rules leave its
    key alone (no order id, or a key given by hand)."""
    if order_id is None or given_key is not None:
        return None
    attempts = reader.attempts_of([order_id])[order_id]
    stored = reader.idempotency_of([p.idempotency_key for p in attempts[-1:]
                                    if p.idempotency_key])
    return choose(order_id, attempts, stored, digest, retry)


def attempts_for(reader: Reader, wanted: list[tuple[str, str]], retry: bool
                 ) -> dict[str, Attempt]:
    """`attempt_for` of many (order id, request digest) at once (a billing run's group):
    two queries, whatever the group's size."""
    found = reader.attempts_of([order_id for order_id, _ in wanted])
    latest = [attempts[-1].idempotency_key for attempts in found.values()
              if attempts and attempts[-1].idempotency_key]
    stored = reader.idempotency_of(latest) if latest else {}
    return {order_id: choose(order_id, found[order_id], stored, digest, retry)
            for order_id, digest in wanted}


def live_attempt(reader: Reader, order_id: str | None) -> str | None:
    """The id of the order's live attempt, if it has one (read inside the transaction
    that would create another)."""
    if order_id is None:
        return None
    return next((p.id for p in reader.attempts_of([order_id])[order_id] if is_live(p)), None)


def attempt_ids(reader: Reader, payment: Payment) -> list[str]:
    """The ids of the attempts of a payment's order, oldest first (the payment alone
    when it has no order)."""
    if payment.order_id is None:
        return [payment.id]
    return [attempt.id for attempt in reader.attempts_of([payment.order_id])[payment.order_id]]


def retry_details(attempt: Attempt | None) -> dict[str, Any]:
    """What the live view shows of a retry: the attempt's number, the attempt before it
    and why that one failed (nothing for a first attempt)."""
    if attempt is None or attempt.retrying is None:
        return {}
    failed = attempt.retrying
    return {"attempt": attempt.number, "retrying": failed.id,
            "last_failure": failed.error_message or failed.error_type or "failed"}
