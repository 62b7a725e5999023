"""A billing run's group of payments opened in one transaction: for each row, the very
checks, writes and events of the pay saga's CheckWalletBalance, CreatePayment,
ReserveFunds and the start of ProcessPayment, at a fraction of their cost.

    keys    every row's idempotency key (`order:ORDER_ID`) looked up in one query: a key
            already used for the same payment names that payment (an earlier run's, or
            an earlier row's); used for another, the row is refused (IdempotencyConflict)
    funds   the wallets read in one query and held in memory in row order (`grouped`):
            a row the available balance (after the group's earlier holds) does not
            cover is refused (InsufficientFunds); so is one over a limit, each wallet's
            limits and day's usage read once and counted on (LimitExceeded)
    writes  for an accepted row, its events in the saga's order (`payment.created`,
            `transfer.held`, `payment.funds_reserved`, `payment.processing`); then the
            group's payments (PROCESSING, held, owned by this process), keys, holds,
            accounts and statement lines, one statement per table

Invariants: a refused row writes nothing; the caller commits the group before any of its
charges leaves; the ledger ends exactly as if each row had gone through the saga's own
steps, so replay, recover and every listing see nothing different.
"""

from __future__ import annotations

from paycli.errors import IdempotencyConflict, InsufficientFunds, LimitExceeded, PaycliError
from paycli.ledger import idempotency, limits, orders, postings
from paycli.ledger.batchfile import BatchRow
from paycli.ledger.grouped import GroupPostings
from paycli.records import Payment, PaymentStatus
from paycli.saga import pay as paying
from paycli.saga.core import change_event
from paycli.store import Tx

Opened = Payment | str | PaycliError  # a new payment; an earlier one's id; the refusal


def open_payments(tx: Tx, rows: list[BatchRow], owner: str, batch_id: str,
                  retry: bool = False) -> list[Opened]:
    """Open a payment for each row (see the module docstring); for each row, in order:
    its new PROCESSING payment, the id of the payment its key already names, or the error
    that refused it. Each row's key is its order's attempt (`orders`): with `retry`, a
    new attempt for an order whose every attempt FAILED."""
    requests = [paying.PayRequest(user=row.user, money=row.money, order_id=row.order_id)
                for row in rows]
    digests = [paying.request_key(request)[1] for request in requests]
    attempts = orders.attempts_for(tx, [(row.order_id, digest) for row, digest
                                        in zip(rows, digests, strict=True)], retry)
    wanted = [(request, attempts[row.order_id].key, digest)
              for row, request, digest in zip(rows, requests, digests, strict=True)]
    used = tx.idempotency_of([key for _, key, _ in wanted])
    moves = GroupPostings(tx)
    moves.load_wallets(row.user for row in rows)
    usages: dict[tuple[str, str], limits.Usage] | None = {} if tx.has_limits() else None
    opened: list[Opened] = []
    payments: list[Payment] = []
    keys: list[tuple[object, ...]] = []
    for request, key, digest in wanted:
        try:
            earlier = idempotency.matching(used.get(key), key, "pay", digest)
            if earlier is not None:
                opened.append(str(earlier["entity_id"]))
                continue
            usage = _judge(tx, moves, usages, request)
        except (IdempotencyConflict, InsufficientFunds, LimitExceeded) as exc:
            opened.append(exc)
            continue
        payment = _open(tx, moves, request, key, owner, batch_id)
        if usage is not None:
            usage.add(request.money.minor)
        used[key] = {"command": "pay", "fingerprint": digest, "entity_id": payment.id}
        keys.append((key, "pay", digest, payment.id, None, None))
        payments.append(payment)
        opened.append(payment)
    if payments:
        tx.insert_payments(payments)
        tx.put_idempotencies(keys)
        moves.write()
    return opened


def _judge(tx: Tx, moves: GroupPostings, usages: dict[tuple[str, str], limits.Usage] | None,
           request: paying.PayRequest) -> limits.Usage | None:
    """CheckWalletBalance for one row, against the group so far: its wallet's usage."""
    money, user = request.money, request.user
    available = moves.available(user, money.currency)
    if available < money.minor:
        raise postings.insufficient(user, available, money)
    if usages is None:
        return None
    usage = usages.get((user, money.currency))
    if usage is None:
        usage = usages[(user, money.currency)] = limits.Usage.of(tx, user, money.currency)
    limits.judge(usage, user, money)
    return usage


def _open(tx: Tx, moves: GroupPostings, request: paying.PayRequest, key: str, owner: str,
          batch_id: str) -> Payment:
    """CreatePayment, ReserveFunds and PROCESSING for one accepted row: its events now, its
    rows with the group's."""
    payment = paying.new_payment(request, postings.new_id("pay"), key, owner, tx.at)
    tx.append_event("payment.created", payment.id, paying.created_event(payment,
                                                                        batch=batch_id))
    hold_id = moves.hold(request.user, request.money, payment.id)
    tx.append_event("payment.funds_reserved", payment.id,
                    change_event(payment.id, {"hold_id": hold_id}))
    tx.append_event("payment.processing", payment.id,
                    change_event(payment.id, {"status": PaymentStatus.PROCESSING}))
    return payment._replace(status=PaymentStatus.PROCESSING, hold_id=hold_id)
