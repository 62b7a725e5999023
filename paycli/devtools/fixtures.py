"""`paycli fixtures load`: a known set of wallets, payments and refunds, for training,
support reproductions and demos, loaded through the real commands' code paths.

    wallets   `wallet credit`, keyed `fixture:wallet:USER:CURRENCY:AMOUNT`
    payments  the billing run's engine (`paycli batch`: a group opened and settled in one
              transaction each way) against the configured gateway, keyed by the order id
              (as `pay --order-id` is)
    refunds   the refund saga of the payment made for that order, keyed by the order,
              the amount and which such refund of the file it is

Invariants: every entry is checked (`ledger.fixturefile.FixturesFile`, read from the file
before this runs) and every payment's order id is checked against the ledger before
anything is written, so a bad file or an order id already used for another payment writes
nothing; every entry carries an idempotency key, so loading the same file again creates
nothing (it counts as skipped), moves no money and sends the gateway no new charge.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from paycli.errors import NotFound, PaycliError
from paycli.ledger import idempotency, postings, wallet
from paycli.ledger.batchfile import BatchRow
from paycli.ledger.fixturefile import FixturesFile, PaymentEntry, RefundEntry
from paycli.money import Money
from paycli.results.fixtures import FixtureFailure, FixturesLoaded
from paycli.saga import pay as paying
from paycli.saga import refund as refunding
from paycli.saga.batch import Batch, BatchOptions
from paycli.saga.batchrows import RowOutcome
from paycli.saga.core import Outcome, SagaEnv
from paycli.saga.steps import SilentReporter

REASON = "fixture"


@dataclass
class _Tally:
    created: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    failures: list[FixtureFailure] = field(default_factory=list)
    errors: list[PaycliError] = field(default_factory=list)

    def count(self, kind: str, outcome: Outcome, entry: str) -> None:
        if outcome.replayed:
            self.skipped += 1
        elif outcome.error is not None:
            self.fail(kind, entry, outcome.error)
        else:
            self.created[kind] += 1

    def fail(self, kind: str, entry: str, error: PaycliError) -> None:
        self.errors.append(error)
        self.failures.append(FixtureFailure(kind=kind, entry=entry, error=error.message))


def load(env: SagaEnv, plan: FixturesFile, max_major: int, wait_s: float
         ) -> tuple[FixturesLoaded, PaycliError | None]:
    """Load `plan`; the summary, and the first failure's error (None if none failed)."""
    check_orders(env, plan)
    tally = _Tally()
    for entry in plan.wallets:
        _credit(env, entry.user, entry.money, tally)
    _pay(env, plan.payments, wait_s, tally)
    seen: Counter[tuple[str, str | None]] = Counter()
    for refund in plan.refunds:
        seen[refund.order_id, refund.amount] += 1
        _refund(env, refund, seen[refund.order_id, refund.amount], max_major, tally)
    result = FixturesLoaded(
        wallets=tally.created["wallets"], payments=tally.created["payments"],
        refunds=tally.created["refunds"], skipped=tally.skipped, failed=len(tally.failures),
        failures=tally.failures)
    return result, tally.errors[0] if tally.errors else None


def _pay(env: SagaEnv, payments: list[PaymentEntry], wait_s: float, tally: _Tally) -> None:
    """The file's payments through the billing run's engine (`saga.batch`), each with
    exactly the guarantees of `pay --order-id`."""
    def ended(outcome: RowOutcome) -> None:
        if outcome.status == "skipped":
            tally.skipped += 1
        elif outcome.status == "completed":
            tally.created["payments"] += 1
        else:
            assert outcome.error is not None
            tally.fail("payments", str(outcome.order_id), outcome.error)

    rows = [BatchRow(number, entry.user, entry.money, entry.order_id, None)
            for number, entry in enumerate(payments, start=1)]
    Batch(env, postings.new_id("bat"), BatchOptions(concurrency=4, wait_s=wait_s),
          ended).run(rows)


def check_orders(env: SagaEnv, plan: FixturesFile) -> None:
    """Refuse (`IdempotencyConflict`) an order id the ledger used for another payment."""
    for entry in plan.payments:
        request = paying.PayRequest(user=entry.user, money=entry.money,
                                    order_id=entry.order_id)
        key, digest = paying.request_key(request)
        assert key is not None
        idempotency.lookup(env.store.read, key, "pay", digest)


def _credit(env: SagaEnv, user: str, money: Money, tally: _Tally) -> None:
    key = f"fixture:wallet:{user}:{money.currency}:{money.minor}"
    if env.store.read.idempotency(key) is not None:
        tally.skipped += 1
        return
    wallet.credit(env.store, user, money, key)
    tally.created["wallets"] += 1


def _refund(env: SagaEnv, entry: RefundEntry, number: int, max_major: int,
            tally: _Tally) -> None:
    paid = env.store.read.idempotency(f"order:{entry.order_id}")
    if paid is None:
        tally.fail("refunds", entry.order_id, NotFound(f"no payment for order "
                                                       f"{entry.order_id!r}"))
        return
    key = f"fixture:refund:{entry.order_id}:{entry.amount or 'all'}:{number}"
    request = refunding.RefundRequest(str(paid["entity_id"]), entry.amount, REASON, key)
    try:
        outcome = refunding.refund(env, request, SilentReporter(), max_major)
    except PaycliError as exc:  # refused before it started: not refundable, too much
        tally.fail("refunds", entry.order_id, exc)
        return
    tally.count("refunds", outcome, entry.order_id)
