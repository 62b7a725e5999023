"""Opening and settling payments in one transaction each way (`saga.group`,
`settle_payments_in`, `ledger.postings.Postings`), for a billing run's group and for
`pay`, which opens a group of one: the same checks, rows, statement lines and events; a
refused row or payment writes nothing (no payment, no event, no key), whichever check
refuses it; the ledger replays as if every payment had gone alone.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from paycli.config import Settings
from paycli.errors import IdempotencyConflict, InsufficientFunds, LimitExceeded
from paycli.gateway.protocol import Answer
from paycli.ledger import limits, postings
from paycli.ledger.batchfile import BatchRow
from paycli.ledger.replay import replay_events
from paycli.ledger.wallet import credit
from paycli.money import Money
from paycli.records import Payment, PaymentStatus
from paycli.saga import pay as paying
from paycli.saga.core import Decision, SagaEnv, Verdict
from paycli.saga.group import PayRequest, open_payments
from paycli.saga.settle import settle_payments_in
from paycli.saga.steps import SilentReporter, StepUpdate
from paycli.saga.wiring import resilience
from paycli.store import Store

OWNER = "host:1:1"
APPROVED = Verdict(Decision.SUCCEEDED, "ext_1")
DECLINED = Verdict(Decision.REFUSED, None, "declined",
                   {"code": "declined", "gateway_message": "no"})
UNKNOWN = Verdict(Decision.UNKNOWN, "ext_2", "outcome_unknown", {"code": "lost"})


def row(user: str, minor: int, order: str, line: int = 2) -> BatchRow:
    return BatchRow(line, user, Money(minor, "USD"), order, None)


def opened(store: Store, rows: list[BatchRow]) -> list[Any]:
    with store.transaction("batch:bat_test") as tx:
        return open_payments(tx, rows, OWNER, "bat_test")


def settled(store: Store, verdicts: list[tuple[str, Verdict]]) -> dict[str, Payment]:
    with store.transaction("batch:bat_test") as tx:
        return settle_payments_in(tx, [(pid, verdict, []) for pid, verdict in verdicts])


def wallet(store: Store, user: str) -> tuple[int, int]:
    found = store.read.account("wallet", user, "USD")
    assert found is not None
    return found.balance, found.held


def consistent(store: Store) -> bool:
    report = replay_events(store)
    return report.consistent and report.chain_ok


class Approving:
    """A gateway that approves every charge."""

    def charge(self, request: Any) -> Answer:
        return Answer(externalId=f"ext_{request.payment_id}", status="approved")


def saga_env(store: Store) -> SagaEnv:
    """A saga environment on `store` whose gateway approves everything."""
    settings = Settings(overrides={"gateway_url": "http://127.0.0.1:9"},
                        env={"PAYCLI_GATEWAY_API_KEY": "k"})
    return SagaEnv(store, Approving, lambda on: resilience(on, settings))


def written(store: Store, order: str) -> tuple[list[Payment], dict[str, Any] | None, int]:
    """What the ledger holds for an order: its payments, its key, and the event count."""
    return ([p for p in store.read.payments() if p.order_id == order],
            store.read.idempotency(f"order:{order}"), store.read.event_count())


class TestOpening:
    def test_rows_are_held_in_order_against_what_is_left(self, store: Store) -> None:
        """A wallet of 2.50 holds the first two 1.00 rows; the third is refused and writes
        nothing; the other user's row goes through."""
        credit(store, "ann", Money(250, "USD"))
        credit(store, "bob", Money(100, "USD"))
        events = store.read.event_count()
        results = opened(store, [row("ann", 100, "o-1"), row("ann", 100, "o-2"),
                                 row("ann", 100, "o-3"), row("bob", 100, "o-4")])
        assert [type(result) for result in results] == [Payment, Payment, InsufficientFunds,
                                                        Payment]
        assert "ann has 0.50 USD available, 1.00 USD needed" in str(results[2])
        assert wallet(store, "ann") == (250, 200) and wallet(store, "bob") == (100, 100)
        for payment in (results[0], results[1], results[3]):
            stored = store.read.payment(payment.id)
            assert stored == payment and stored.status == PaymentStatus.PROCESSING
            assert stored.owner == OWNER and stored.hold_id is not None
        assert store.read.idempotency("order:o-3") is None
        assert store.read.event_count() == events + 3 * 4
        assert consistent(store)

    def test_each_payment_has_the_saga_events_in_its_order(self, store: Store) -> None:
        """created, held, funds reserved, processing; then held funds posted, completed;
        statement lines show the wallet after each movement."""
        credit(store, "ann", Money(1000, "USD"))
        first, second = opened(store, [row("ann", 300, "o-1"), row("ann", 200, "o-2")])
        settled(store, [(first.id, APPROVED), (second.id, DECLINED)])
        types = [event.type for event in store.read.events_of(first.id)]
        assert types == ["payment.created", "payment.funds_reserved", "payment.processing",
                         "payment.completed"]
        held = store.read.events_of(first.hold_id)
        assert [event.type for event in held] == ["transfer.held", "transfer.committed"]
        assert [e.type for e in store.read.events_of(second.hold_id)] == [
            "transfer.held", "transfer.voided"]
        account = store.read.account("wallet", "ann", "USD")
        lines = [(e.type, e.amount, e.balance, e.held)
                 for e in reversed(store.read.entries(account.id, 10))]
        assert lines == [("credit", 1000, 1000, 0), ("hold", -300, 1000, 300),
                         ("hold", -200, 1000, 500), ("payment", -300, 700, 200),
                         ("release", 200, 700, 0)]
        assert store.read.payment(first.id).status == PaymentStatus.COMPLETED
        assert store.read.payment(second.id).status == PaymentStatus.FAILED
        assert store.read.currency_sums() == {"USD": 0}
        assert consistent(store)

    def test_a_key_already_used_names_its_payment_or_conflicts(self, store: Store) -> None:
        """A repeated order id (in an earlier run or earlier in the group) names the first
        payment; the same order id for another amount is a conflict; nothing is written
        for either."""
        credit(store, "ann", Money(1000, "USD"))
        (earlier,) = opened(store, [row("ann", 100, "o-1")])
        again, conflict, twice_a, twice_b = opened(store, [
            row("ann", 100, "o-1"), row("ann", 999, "o-1"), row("ann", 100, "o-2"),
            row("ann", 100, "o-2")])
        assert again == earlier.id
        assert isinstance(conflict, IdempotencyConflict)
        assert isinstance(twice_a, Payment) and twice_b == twice_a.id
        assert wallet(store, "ann") == (1000, 200)
        assert consistent(store)

    def test_limits_count_the_group_itself(self, store: Store) -> None:
        """A daily count of 2 and a daily amount of 5.00: the group's own earlier rows
        count, like payments already made today."""
        credit(store, "ann", Money(10_000, "USD"))
        credit(store, "bob", Money(10_000, "USD"))
        limits.set_limits(store, "ann", "USD", daily_count=2)
        limits.set_limits(store, limits.DEFAULT, "USD", daily_amount=500)
        (made,) = opened(store, [row("ann", 100, "o-0")])
        results = opened(store, [row("ann", 100, "o-1"), row("ann", 100, "o-2"),
                                 row("bob", 300, "o-3"), row("bob", 300, "o-4"),
                                 row("bob", 200, "o-5")])
        assert isinstance(made, Payment) and isinstance(results[0], Payment)
        assert isinstance(results[1], LimitExceeded) and "daily limit is 2" in str(results[1])
        assert isinstance(results[2], Payment) and isinstance(results[3], LimitExceeded)
        assert "2.00 USD left today" in str(results[3])
        assert isinstance(results[4], Payment)
        assert wallet(store, "ann")[1] == 200 and wallet(store, "bob")[1] == 500


class TestSettling:
    def test_a_group_of_mixed_verdicts(self, store: Store) -> None:
        """Approved: posted, COMPLETED; declined: released, FAILED; unknown: still held,
        PROCESSING with its reference; one settled meanwhile is left as it was; every
        owner cleared."""
        credit(store, "ann", Money(1000, "USD"))
        payments = opened(store, [row("ann", 100, f"o-{n}") for n in range(4)])
        settled(store, [(payments[3].id, APPROVED)])
        result = settled(store, [(payments[0].id, APPROVED), (payments[1].id, DECLINED),
                                 (payments[2].id, UNKNOWN), (payments[3].id, DECLINED)])
        statuses = [result[p.id].status for p in payments]
        assert statuses == [PaymentStatus.COMPLETED, PaymentStatus.FAILED,
                            PaymentStatus.PROCESSING, PaymentStatus.COMPLETED]
        assert [store.read.payment(p.id) for p in payments] == [result[p.id] for p in payments]
        assert result[payments[2].id].gateway_ref == "ext_2"
        assert all(result[p.id].owner is None for p in payments)
        assert wallet(store, "ann") == (800, 100)
        assert consistent(store)

    def test_the_group_ledger_is_the_single_sagas(self, store: Store, tmp_path: Any,
                                                  backend: str) -> None:
        """Paid as a group or one by one, the same payments leave the same balances, the
        same movements and the same events (a group holds all its rows before settling
        any, so only the order in which they interleave differs)."""
        credit(store, "ann", Money(1000, "USD"))
        group = opened(store, [row("ann", 100 + n, f"g-{n}") for n in range(3)])
        settled(store, [(p.id, APPROVED) for p in group])

        with Store(str(tmp_path / "single.db")) as single:
            env = saga_env(single)
            credit(single, "ann", Money(1000, "USD"))
            for n in range(3):
                outcome = paying.pay(env, paying.PayRequest("ann", Money(100 + n, "USD"),
                                                            f"g-{n}"), SilentReporter())
                assert outcome.error is None
            assert wallet(single, "ann") == wallet(store, "ann")

            def shape(ledger: Store) -> tuple[Any, ...]:
                account = ledger.read.account("wallet", "ann", "USD")
                lines = sorted((e.type, e.amount) for e in ledger.read.entries(account.id, 100))
                kinds = sorted(event.type for event in ledger.read.events())
                return lines, kinds

            assert shape(single) == shape(store)


class PayingAnotherFirst(SilentReporter):
    """Pays another order of the same wallet as the saga starts, before its opening
    transaction: a concurrent payment that takes the last of a daily limit between what
    the operator was shown and the opening's check."""

    def __init__(self, env: SagaEnv, request: PayRequest) -> None:
        self.env, self.request, self.done = env, request, False
        self.steps: list[tuple[str, str]] = []  # (name, status) as each was reported

    def started(self, details: dict[str, Any]) -> None:
        if not self.done:
            self.done = True
            assert paying.pay(self.env, self.request, SilentReporter()).error is None

    def step(self, update: StepUpdate) -> None:
        self.steps.append((update.name, str(update.status)))


class TestRefusalsWriteNothing:
    """Issue 27, item 2: a refusal writes nothing on either path, and the order pays later."""

    def test_a_limit_found_by_the_opening_writes_nothing_and_the_order_pays_later(
            self, store: Store) -> None:
        """lq-2 is refused (exit 12) because lq-1 took the last payment of today's count
        just before lq-2's opening checked: no payment, no event, no key for lq-2; once the
        limit is raised, paying lq-2 again charges it (not a stored FAILED)."""
        env = saga_env(store)
        credit(store, "l2", Money(10_000, "USD"))
        limits.set_limits(store, "l2", "USD", daily_count=1)
        other = PayRequest("l2", Money(100, "USD"), "lq-1")
        reporter = PayingAnotherFirst(env, other)
        outcome = paying.pay(env, PayRequest("l2", Money(100, "USD"), "lq-2"), reporter)
        assert isinstance(outcome.error, LimitExceeded) and outcome.error.exit_code == 12
        assert outcome.result.payment_id is None and outcome.result.status is None
        events = store.read.event_count()
        assert written(store, "lq-2") == ([], None, events)
        assert reporter.steps == [("CheckWalletBalance", "running"),
                                  ("CheckWalletBalance", "failed")]
        assert [step.name for step in outcome.result.steps] == ["CheckWalletBalance"]

        limits.set_limits(store, "l2", "USD", daily_count=5)
        again = paying.pay(env, PayRequest("l2", Money(100, "USD"), "lq-2"), SilentReporter())
        assert again.error is None and not again.replayed
        assert again.result.status == PaymentStatus.COMPLETED
        assert [step.name for step in again.result.steps] == [
            "CheckWalletBalance", "CreatePayment", "ReserveFunds", "ProcessPayment",
            "SettlePayment"]
        assert wallet(store, "l2") == (9_800, 0)
        assert consistent(store)

    def test_insufficient_funds_and_a_key_conflict_write_nothing_on_the_single_path(
            self, store: Store) -> None:
        """Paying more than is available, or an order id again with another amount: the
        refusal is reported and nothing is written."""
        env = saga_env(store)
        credit(store, "ann", Money(500, "USD"))
        assert paying.pay(env, PayRequest("ann", Money(100, "USD"), "o-1"),
                          SilentReporter()).error is None
        before = written(store, "o-2")
        poor = paying.pay(env, PayRequest("ann", Money(401, "USD"), "o-2"), SilentReporter())
        assert isinstance(poor.error, InsufficientFunds) and poor.result.payment_id is None
        assert written(store, "o-2") == before
        events = store.read.event_count()
        with pytest.raises(IdempotencyConflict):
            paying.pay(env, PayRequest("ann", Money(200, "USD"), "o-1"), SilentReporter())
        assert store.read.event_count() == events and len(store.read.payments()) == 1

    def test_a_refused_row_of_a_group_writes_nothing_and_pays_in_a_later_group(
            self, store: Store) -> None:
        """A billing run's row refused by a limit leaves no payment, event or key; once the
        limit is raised the same order opens in a later group."""
        credit(store, "l2", Money(10_000, "USD"))
        limits.set_limits(store, "l2", "USD", daily_count=1)
        events = store.read.event_count()
        first, refused = opened(store, [row("l2", 100, "lq-1"), row("l2", 100, "lq-2")])
        assert isinstance(first, Payment) and isinstance(refused, LimitExceeded)
        assert written(store, "lq-2") == ([], None, events + 4)
        limits.set_limits(store, "l2", "USD", daily_count=5)
        (later,) = opened(store, [row("l2", 100, "lq-2")])
        assert isinstance(later, Payment) and later.status == PaymentStatus.PROCESSING
        assert consistent(store)


@pytest.mark.sqlite_only
def test_ids_sort_by_creation_and_keep_the_contract_shape() -> None:
    """`pay_` and 24 hex digits, as the contract says; made later, sorted later."""
    first = postings.new_id("pay")
    time.sleep(0.002)
    later = [postings.new_id("pay") for _ in range(50)]
    assert all(re.fullmatch(r"pay_[0-9a-f]{24}", made) for made in [first, *later])
    assert all(first < made for made in later)
    assert len(set(later)) == 50
