"""Opening payments: the one way a payment starts, for a group of any size. `pay` opens a
group of one, a billing run up to 256 rows at once; either way in ONE transaction the
caller holds, phase by phase (each phase is the pay saga's step of that name):

    CheckWalletBalance  every row's idempotency key looked up in one query: a key already
                        used for the same payment names that payment (an earlier run's, or
                        an earlier row's); used for another, the row is refused
                        (IdempotencyConflict). Then funds and limits, in row order, against
                        the group so far: the wallets read in one query (`Postings`), each
                        wallet's limits and day's usage read once and counted on
                        (InsufficientFunds, LimitExceeded)
    CreatePayment       each accepted row's payment and its `payment.created` event, its
                        gateway and that gateway's idempotency key fixed before anything
                        leaves the process
    ReserveFunds        each one's hold (`transfer.held`), `payment.funds_reserved` and
                        `payment.processing`; then the group's payments (PROCESSING, held,
                        owned by the caller's process), keys, holds, accounts and statement
                        lines, one statement per table

Invariants: a refused row writes nothing (no payment, no event, no key), whichever check
refuses it; the caller commits the group before any of its charges leaves; a payment is
never stored half-opened (it is written once, PROCESSING with its hold, or not at all).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from paycli.errors import IdempotencyConflict, InsufficientFunds, LimitExceeded, PaycliError
from paycli.ledger import idempotency, limits, orders, postings
from paycli.ledger.batchfile import BatchRow
from paycli.ledger.postings import Postings, insufficient
from paycli.money import Money
from paycli.records import Payment, PaymentStatus
from paycli.saga.core import change_event
from paycli.store import Tx

Opened = Payment | str | PaycliError  # a new payment; an earlier one's id; the refusal
PHASES = ("CheckWalletBalance", "CreatePayment", "ReserveFunds")
_REFUSALS = (IdempotencyConflict, InsufficientFunds, LimitExceeded)


@dataclass(frozen=True)
class PayRequest:
    """What the operator asked to pay."""

    user: str
    money: Money
    order_id: str | None = None
    idempotency_key: str | None = None
    wait_s: float = 30.0
    retry: bool = False  # a new attempt for an order whose every attempt FAILED (`orders`)


def request_key(request: PayRequest) -> tuple[str | None, str]:
    """The payment's idempotency key (given, or derived from its order id) and the
    fingerprint of what it asks, which a repeat under that key must match."""
    key = request.idempotency_key or (f"order:{request.order_id}" if request.order_id else None)
    return key, idempotency.fingerprint("pay", {
        "user": request.user, "currency": request.money.currency,
        "amount": request.money.minor, "order_id": request.order_id,
    })


def new_payment(request: PayRequest, payment_id: str, key: str | None, owner: str, at: str,
                gateway: str = "default") -> Payment:
    """A PENDING payment of `request`, created at `at`, to be charged at `gateway`."""
    money = request.money
    return Payment(
        id=payment_id, user_id=request.user, currency=money.currency, amount=money.minor,
        order_id=request.order_id, idempotency_key=key, gateway_key=f"paycli-{payment_id}",
        status=PaymentStatus.PENDING, gateway_ref=None, hold_id=None, refunded=0,
        refund_reserved=0, error_type=None, error_message=None, owner=owner,
        created_at=at, updated_at=at, gateway=gateway,
    )


def created_event(payment: Payment, **extra: Any) -> dict[str, Any]:
    """The payload of a payment's `payment.created` event."""
    return {"id": payment.id, "user": payment.user_id, "currency": payment.currency,
            "amount": payment.amount, "order_id": payment.order_id,
            "idempotency_key": payment.idempotency_key, "gateway_key": payment.gateway_key,
            "gateway": payment.gateway, **extra}


@dataclass
class Accepted:
    """A row that passed the checks: the payment it becomes."""

    request: PayRequest
    key: str | None
    digest: str
    payment: Payment


class Opening:
    """A group of payments being opened inside the caller's transaction (see the module
    docstring): `check`, `create`, `reserve`, in that order."""

    def __init__(self, tx: Tx, requests: list[PayRequest], owner: str,
                 ids: list[str] | None = None, gateway: str = "default", **created: Any
                 ) -> None:
        self.tx, self.requests, self.owner = tx, requests, owner
        self.gateway = gateway  # where the new payments' charges go (`routing.choose`)
        self.ids = ids  # the new payments' ids (made here if not given)
        self.created = created  # what each `payment.created` event carries besides
        self.moves = Postings(tx)
        self.rows: list[Accepted | str | PaycliError] = []
        self.timings: dict[str, float] = {}  # each phase's milliseconds, for the group

    @property
    def accepted(self) -> list[Accepted]:
        """The rows that passed the checks, in order."""
        return [row for row in self.rows if isinstance(row, Accepted)]

    def opened(self) -> list[Opened]:
        """For each row, in order: its payment, the payment its key names, or its refusal."""
        return [row.payment if isinstance(row, Accepted) else row for row in self.rows]

    @contextmanager
    def _timed(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.timings[phase] = (time.perf_counter() - started) * 1000

    def check(self) -> list[Accepted | str | PaycliError]:
        """CheckWalletBalance for every row, in order (see the module docstring)."""
        with self._timed("CheckWalletBalance"):
            wanted = self._wanted()
            keys = [key for _, key, _ in wanted if key is not None]
            users = list(dict.fromkeys(request.user for request in self.requests))
            used, accounts, limited = self.tx.opening(keys, users)  # one exchange
            self.moves.load_wallets(users, accounts)
            usages: dict[tuple[str, str], limits.Usage] | None = {} if limited else None
            reserved: Counter[tuple[str, str]] = Counter()  # by the group's earlier rows
            ids = iter(self.ids or [])
            for request, key, digest in wanted:
                refused = self._judge(request, key, digest, used, usages, reserved)
                if refused is not None:
                    self.rows.append(refused)
                    continue
                payment_id = next(ids, None) or postings.new_id("pay")
                payment = new_payment(request, payment_id, key, self.owner, self.tx.at,
                                      self.gateway)
                if key is not None:
                    used[key] = {"command": "pay", "fingerprint": digest,
                                 "entity_id": payment.id}
                self.rows.append(Accepted(request, key, digest, payment))
        return self.rows

    def _wanted(self) -> list[tuple[PayRequest, str | None, str]]:
        """Each request with its key and fingerprint. An order's key is the attempt the
        request means (`orders`: its live attempt, its latest, or with `retry` a new one),
        read inside this transaction, so an attempt a racer made first counts."""
        wanted = [(request, *request_key(request)) for request in self.requests]
        attempts: dict[str, orders.Attempt] = {}
        for retry in (False, True):
            asked = [(request.order_id, digest) for request, _, digest in wanted
                     if request.order_id is not None and request.idempotency_key is None
                     and request.retry is retry]
            if asked:
                attempts.update(orders.attempts_for(self.tx, asked, retry))
        return [(request, attempts[request.order_id].key
                 if request.order_id in attempts and request.idempotency_key is None
                 else key, digest) for request, key, digest in wanted]

    def _judge(self, request: PayRequest, key: str | None, digest: str,
               used: dict[str, dict[str, Any]],
               usages: dict[tuple[str, str], limits.Usage] | None,
               reserved: Counter[tuple[str, str]]) -> str | PaycliError | None:
        """One row's check against the group so far: the earlier payment its key names,
        its refusal, or None when it passes (counted on for the rows after it)."""
        money, wallet = request.money, (request.user, request.money.currency)
        usage = None
        try:
            earlier = (idempotency.matching(used.get(key), key, "pay", digest)
                       if key is not None else None)
            if earlier is not None:
                return str(earlier["entity_id"])
            live = self._live_attempt(request)
            if live is not None:
                return live  # an order is charged once, whatever key asks for it
            available = self.moves.available(*wallet) - reserved[wallet]
            if available < money.minor:
                raise insufficient(request.user, available, money)
            if usages is not None:
                usage = self._usage(usages, wallet)
                limits.judge(usage, request.user, money)
        except _REFUSALS as exc:
            return exc
        if usage is not None:
            usage.add(money.minor)
        reserved[wallet] += money.minor
        return None

    def _live_attempt(self, request: PayRequest) -> str | None:
        """The live attempt of the order of a request that names its own key (an order's
        attempts, found through `_wanted`, need no second look)."""
        if request.order_id is None or request.idempotency_key is None:
            return None
        return orders.live_attempt(self.tx, request.order_id)

    def _usage(self, usages: dict[tuple[str, str], limits.Usage], wallet: tuple[str, str]
               ) -> limits.Usage:
        found = usages.get(wallet)
        if found is None:
            found = usages[wallet] = limits.Usage.of(self.tx, *wallet)
        return found

    def create(self) -> None:
        """CreatePayment for every accepted row: its `payment.created` event."""
        with self._timed("CreatePayment"):
            for row in self.accepted:
                self.tx.append_event("payment.created", row.payment.id,
                                     created_event(row.payment, **self.created))

    def reserve(self) -> None:
        """ReserveFunds for every accepted row: its hold and PROCESSING, with their events;
        then the group's rows are written."""
        with self._timed("ReserveFunds"):
            accepted = self.accepted
            for row in accepted:
                payment = row.payment
                hold_id = self.moves.hold(payment.user_id, row.request.money, payment.id)
                self.tx.append_event("payment.funds_reserved", payment.id,
                                     change_event(payment.id, {"hold_id": hold_id}))
                self.tx.append_event("payment.processing", payment.id, change_event(
                    payment.id, {"status": PaymentStatus.PROCESSING}))
                row.payment = payment._replace(status=PaymentStatus.PROCESSING,
                                               hold_id=hold_id)
            if accepted:
                self.tx.insert_payments([row.payment for row in accepted])
                self.tx.put_idempotencies([(row.key, "pay", row.digest, row.payment.id,
                                            None, None) for row in accepted
                                           if row.key is not None])
                self.moves.write()


def open_payments(tx: Tx, rows: list[BatchRow], owner: str, batch_id: str,
                  retry: bool = False) -> list[Opened]:
    """Open a billing run's group of rows (every phase, see the module docstring); for
    each row, in order, what `Opening.opened` says. With `retry`, a row whose order's
    every attempt FAILED gets a new attempt (`orders`)."""
    return open_group(tx, [PayRequest(user=row.user, money=row.money, order_id=row.order_id,
                                      retry=retry) for row in rows],
                      owner, batch=batch_id).opened()


def open_group(tx: Tx, requests: list[PayRequest], owner: str, **created: Any
               ) -> Opening:
    """Every phase of opening `requests`, in one go; the opening, for its results and
    timings."""
    opening = Opening(tx, requests, owner, **created)
    opening.check()
    opening.create()
    opening.reserve()
    return opening
