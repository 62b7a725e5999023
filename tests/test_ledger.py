"""The double-entry ledger: deposits, holds, their resolution (`postings.Postings`, the one
movement buffer every caller uses), the schema's guards and the hash-chained event log;
and a state machine driving the code that pays and settles (`group.Opening`,
`settle.settle_payments_in`) against a plain model."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from itertools import pairwise

import psycopg
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from paycli.errors import InsufficientFunds, LimitExceeded
from paycli.ledger import limits
from paycli.ledger.chain import verify_chain
from paycli.ledger.postings import Postings
from paycli.ledger.wallet import credit as wallet_credit
from paycli.money import Money
from paycli.records import Account, Payment, PaymentStatus
from paycli.saga.core import Decision, Verdict
from paycli.saga.group import PayRequest, open_group
from paycli.saga.settle import settle_payments_in
from paycli.store import Store

# What either engine raises when a constraint or trigger refuses a statement.
REFUSED = (sqlite3.IntegrityError, psycopg.Error)


def drop_guard(store: Store, trigger: str) -> None:
    """Drop one of the event log's append-only triggers, as a forger with SQL access would."""
    on_table = " ON events" if store.backend == "postgresql" else ""
    store.conn.execute(f"DROP TRIGGER {trigger}{on_table}")  # type: ignore[attr-defined]


def deposit(store: Store, kind: str, user: str, money: Money, reference: str | None = None,
            transfer_id: str | None = None) -> Account:
    """One deposit in its own transaction; the wallet as it then stands."""
    with store.transaction() as tx:
        moves = Postings(tx)
        after = moves.deposit(kind, user, money, reference, transfer_id)
        moves.write()
    return after


def credit(store: Store, user: str, minor: int, code: str = "USD") -> Account:
    """Credit a wallet in its own transaction."""
    return deposit(store, "credit", user, Money(minor, code))


def hold(store: Store, user: str, minor: int, code: str = "USD") -> str:
    """Hold money of a wallet in its own transaction; returns the hold id."""
    with store.transaction() as tx:
        moves = Postings(tx)
        hold_id = moves.hold(user, Money(minor, code), "order-1")
        moves.write()
    return hold_id


def resolve(store: Store, hold_id: str, how: str) -> bool:
    """Commit or void a hold in its own transaction; whether it moved anything."""
    with store.transaction() as tx:
        moves = Postings(tx)
        moves.take_holds(tx.transfers_by_id([hold_id]))  # and the accounts they move
        moved = moves.commit(hold_id) if how == "commit" else moves.void(hold_id)
        moves.write()
    return moved


def commit(store: Store, hold_id: str) -> bool:
    return resolve(store, hold_id, "commit")


def void(store: Store, hold_id: str) -> bool:
    return resolve(store, hold_id, "void")


Resolve = Callable[[Store, str], bool]


def wallet(store: Store, user: str, code: str = "USD") -> Account:
    found = store.read.account("wallet", user, code)
    assert found is not None
    return found


def ledger_state(store: Store) -> tuple[list[Account], int]:
    """Every account and the event count: what 'nothing was written' compares."""
    return store.read.accounts(), store.read.event_count()


def chain_break(store: Store) -> object:
    return verify_chain(store.read.events())[1]


class TestDeposit:
    def test_credit_moves_money_from_funding_into_the_wallet(self, store: Store) -> None:
        """A credit raises the wallet's balance and lowers the funding account by as much."""
        after = credit(store, "alice", 10050)
        assert (after.balance, after.held) == (10050, 0)
        funding = store.read.account("funding", None, "USD")
        assert funding is not None and funding.balance == -10050
        assert store.read.currency_sums() == {"USD": 0}

    def test_credit_writes_a_posted_transfer_an_entry_and_an_event(self, store: Store) -> None:
        """A credit is recorded as a posted transfer, a statement line and one event."""
        deposit(store, "credit", "alice", Money(500, "USD"), "ref-1", "txn_fixed")
        transfer = store.read.transfer("txn_fixed")
        assert transfer is not None
        assert (transfer.kind, transfer.state, transfer.amount) == ("credit", "posted", 500)
        [entry] = store.read.entries(wallet(store, "alice").id, 10)
        assert (entry.type, entry.amount, entry.balance, entry.reference) == (
            "credit", 500, 500, "ref-1")
        [event] = store.read.events_of("txn_fixed")
        assert event.type == "transfer.posted"

    def test_refund_moves_money_from_clearing(self, store: Store) -> None:
        """A refund deposit comes out of the clearing account, keeping the sum at zero."""
        deposit(store, "refund", "alice", Money(300, "JPY"), "pay_x")
        clearing = store.read.account("clearing", None, "JPY")
        assert clearing is not None and clearing.balance == -300
        assert wallet(store, "alice", "JPY").balance == 300

    def test_currencies_keep_separate_wallets(self, store: Store) -> None:
        """One user's USD and JPY wallets never mix."""
        credit(store, "alice", 100, "USD")
        credit(store, "alice", 100, "JPY")
        assert wallet(store, "alice", "USD").balance == 100
        assert wallet(store, "alice", "JPY").balance == 100
        assert store.read.currency_sums() == {"USD": 0, "JPY": 0}


class TestHold:
    def test_hold_reserves_without_moving_the_balance(self, store: Store) -> None:
        """A hold raises `held`, so available drops while the balance stays."""
        credit(store, "alice", 1000)
        hold(store, "alice", 400)
        after = wallet(store, "alice")
        assert (after.balance, after.held, after.available) == (1000, 400, 600)

    def test_insufficient_funds_raises_and_writes_nothing(self, store: Store) -> None:
        """A hold above the available balance raises InsufficientFunds and changes nothing."""
        credit(store, "alice", 1000)
        hold(store, "alice", 600)
        before = ledger_state(store)
        with pytest.raises(InsufficientFunds, match=r"alice has 4\.00 USD available, 5\.00"):
            hold(store, "alice", 500)
        assert ledger_state(store) == before

    def test_never_credited_wallet_cannot_hold(self, store: Store) -> None:
        """A wallet that never existed has nothing to hold, and is not opened by trying."""
        with pytest.raises(InsufficientFunds, match=r"0\.00 USD available"):
            hold(store, "ghost", 1)
        assert ledger_state(store) == ([], 0)

    def test_other_currency_does_not_cover_a_hold(self, store: Store) -> None:
        """Money in JPY does not pay for a USD hold."""
        credit(store, "alice", 10_000, "JPY")
        with pytest.raises(InsufficientFunds):
            hold(store, "alice", 1, "USD")

    def test_exact_available_amount_can_be_held(self, store: Store) -> None:
        """Holding every last minor unit is allowed; one more is not."""
        credit(store, "alice", 1000)
        hold(store, "alice", 1000)
        with pytest.raises(InsufficientFunds):
            hold(store, "alice", 1)
        assert wallet(store, "alice").available == 0


class TestResolveHold:
    def test_commit_moves_the_held_money_to_clearing(self, store: Store) -> None:
        """Committing a hold lowers balance and held by the amount and credits clearing."""
        credit(store, "alice", 1000)
        hold_id = hold(store, "alice", 400)
        assert commit(store, hold_id)
        after = wallet(store, "alice")
        assert (after.balance, after.held) == (600, 0)
        clearing = store.read.account("clearing", None, "USD")
        assert clearing is not None and clearing.balance == 400
        transfer = store.read.transfer(hold_id)
        assert transfer is not None and transfer.state == "posted"
        assert store.read.currency_sums() == {"USD": 0}

    def test_void_restores_the_available_balance(self, store: Store) -> None:
        """Voiding a hold gives the money back to available; nothing leaves the wallet."""
        credit(store, "alice", 1000)
        hold_id = hold(store, "alice", 400)
        assert void(store, hold_id)
        after = wallet(store, "alice")
        assert (after.balance, after.held, after.available) == (
            1000, 0, 1000)
        transfer = store.read.transfer(hold_id)
        assert transfer is not None and transfer.state == "voided"

    @pytest.mark.parametrize(
        ("first", "second"),
        [(commit, commit), (void, void), (commit, void), (void, commit)],
        ids=["commit-commit", "void-void", "commit-void", "void-commit"],
    )
    def test_resolving_twice_moves_nothing(self, store: Store, first: Resolve,
                                           second: Resolve) -> None:
        """A hold resolves once; a second commit or void returns False and writes nothing."""
        credit(store, "alice", 1000)
        hold_id = hold(store, "alice", 400)
        assert first(store, hold_id)
        before = ledger_state(store)
        assert not second(store, hold_id)
        assert ledger_state(store) == before

    def test_unknown_hold_is_a_no_op(self, store: Store) -> None:
        """Resolving a hold id that does not exist moves nothing."""
        credit(store, "alice", 1000)
        before = ledger_state(store)
        assert not commit(store, "hold_missing")
        assert not void(store, "hold_missing")
        assert ledger_state(store) == before

    def test_statement_shows_hold_payment_and_release(self, store: Store) -> None:
        """The wallet's statement lists every movement, newest first."""
        credit(store, "alice", 1000)
        commit(store, hold(store, "alice", 300))
        void(store, hold(store, "alice", 200))
        lines = store.read.entries(wallet(store, "alice").id, 10)
        assert [(e.type, e.amount, e.balance, e.held) for e in lines] == [
            ("release", 200, 700, 0),
            ("hold", -200, 700, 200),
            ("payment", -300, 700, 0),
            ("hold", -300, 1000, 300),
            ("credit", 1000, 1000, 0),
        ]


class TestOneBuffer:
    """Movements of one transaction in one `Postings`, as a payment's opening and settle
    and a billing run's group make them."""

    def test_a_hold_placed_and_posted_in_one_buffer(self, store: Store) -> None:
        """A hold the buffer placed can be posted by it before anything is written; the
        statement shows both movements, each with the wallet as it stood after it."""
        credit(store, "alice", 1000)
        with store.transaction() as tx:
            moves = Postings(tx)
            hold_id = moves.hold("alice", Money(300, "USD"), "pay_x")
            assert moves.commit(hold_id) and not moves.void(hold_id)
            moves.write()
        assert (wallet(store, "alice").balance, wallet(store, "alice").held) == (700, 0)
        lines = store.read.entries(wallet(store, "alice").id, 10)
        assert [(e.type, e.amount, e.balance, e.held) for e in lines] == [
            ("payment", -300, 700, 0), ("hold", -300, 1000, 300), ("credit", 1000, 1000, 0)]
        transfer = store.read.transfer(hold_id)
        assert transfer is not None and transfer.state == "posted"
        assert store.read.currency_sums() == {"USD": 0}

    def test_holds_count_against_what_is_left_in_order(self, store: Store) -> None:
        """Two holds in one buffer: the second sees what the first left; refused, it moves
        nothing and the first is still written."""
        credit(store, "alice", 500)
        with store.transaction() as tx:
            moves = Postings(tx)
            moves.hold("alice", Money(400, "USD"), "pay_1")
            assert moves.available("alice", "USD") == 100
            with pytest.raises(InsufficientFunds, match=r"1\.00 USD available, 2\.00"):
                moves.hold("alice", Money(200, "USD"), "pay_2")
            moves.write()
        assert wallet(store, "alice").held == 400

    def test_a_deposit_opens_a_wallet_of_another_currency(self, store: Store) -> None:
        """A wallet loaded in USD, credited in JPY: the JPY wallet is opened and credited."""
        credit(store, "alice", 1000)
        with store.transaction() as tx:
            moves = Postings(tx)
            assert moves.available("alice", "JPY") == 0
            after = moves.deposit("credit", "alice", Money(300, "JPY"), None)
            moves.write()
        assert (after.balance, wallet(store, "alice", "JPY").balance) == (300, 300)
        assert store.read.currency_sums() == {"USD": 0, "JPY": 0}

    def test_one_read_brings_the_wallets_and_the_ledgers_own_accounts(
            self, store: Store) -> None:
        """A payment's hold and a deposit read what they move in one query: the users'
        wallets found through the owner index (not a scan of every wallet), with the
        funding and clearing accounts beside them."""
        for user in ("alice", "bob", "carol"):
            credit(store, user, 1000)
        credit(store, "alice", 500, "EUR")
        with store.transaction() as tx:
            found = {(account.kind, account.user_id, account.currency)
                     for account in tx.accounts_of(["alice"])}
        assert found == {("wallet", "alice", "USD"), ("wallet", "alice", "EUR"),
                         ("funding", None, "USD"), ("funding", None, "EUR")}

    @pytest.mark.sqlite_only
    def test_the_wallet_read_uses_the_owner_index(self, store: Store) -> None:
        credit(store, "alice", 1000)
        seen: list[str] = []
        conn = store.conn  # type: ignore[attr-defined]
        conn.set_trace_callback(seen.append)
        with store.transaction() as tx:
            Postings(tx).load_wallets(["alice"])
        conn.set_trace_callback(None)
        [sql] = [statement for statement in seen if "FROM accounts" in statement]
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
        assert "SEARCH accounts USING INDEX accounts_owner (kind=? AND <expr>=?)" in plan

    @pytest.mark.sqlite_only
    def test_the_settling_reads_search_by_key(self, store: Store) -> None:
        credit(store, "alice", 1000)
        with store.transaction() as tx:
            opening = open_group(tx, [PayRequest("alice", Money(100, "USD"))] * 2, "test")
        seen: list[str] = []
        conn = store.conn  # type: ignore[attr-defined]
        conn.set_trace_callback(seen.append)
        with store.transaction() as tx:
            tx.settling([row.payment.id for row in opening.accepted])
        conn.set_trace_callback(None)
        reads = [statement for statement in seen if statement.startswith("SELECT")]
        assert len(reads) == 3  # the payments; their holds; their users' accounts
        for sql in reads:  # no table scanned whole, however many payments the ledger has
            plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
            assert any(step.startswith("SEARCH") for step in plan), plan
            assert not any(step.startswith("SCAN") for step in plan), plan


class TestSchemaGuards:
    """The CHECK constraints and triggers hold even when Python is bypassed."""

    def test_wallet_available_cannot_go_negative(self, store: Store) -> None:
        """Raising held above balance by hand is refused by the schema."""
        credit(store, "alice", 1000)
        with pytest.raises(REFUSED, match=r"(?i)check"):
            store.conn.execute("UPDATE accounts SET held = balance + 1 WHERE kind = 'wallet'")
        assert wallet(store, "alice").held == 0

    def test_wallet_balance_cannot_go_negative(self, store: Store) -> None:
        """A negative wallet balance is refused by the schema."""
        credit(store, "alice", 1000)
        with pytest.raises(REFUSED, match=r"(?i)check"):
            store.conn.execute("UPDATE accounts SET balance = -1 WHERE kind = 'wallet'")

    def test_held_cannot_go_negative(self, store: Store) -> None:
        """A negative hold total is refused by the schema."""
        credit(store, "alice", 1000)
        with pytest.raises(REFUSED, match=r"(?i)check"):
            store.conn.execute("UPDATE accounts SET held = -1 WHERE kind = 'wallet'")

    def test_transfer_amount_must_be_positive(self, store: Store) -> None:
        """A transfer of zero is refused by the schema."""
        credit(store, "alice", 1000)
        with pytest.raises(REFUSED, match=r"(?i)check"):
            store.conn.execute("UPDATE transfers SET amount = 0")

    def test_events_reject_update(self, store: Store) -> None:
        """An event cannot be edited."""
        credit(store, "alice", 1000)
        with pytest.raises(REFUSED, match="append-only"):
            store.conn.execute("UPDATE events SET payload = '{}'")

    def test_events_reject_delete(self, store: Store) -> None:
        """An event cannot be deleted."""
        credit(store, "alice", 1000)
        with pytest.raises(REFUSED, match="append-only"):
            store.conn.execute("DELETE FROM events")
        assert store.read.event_count() == 1

    def test_events_reject_truncate(self, store: Store, backend: str) -> None:
        """PostgreSQL's TRUNCATE, which fires no row trigger, cannot empty the log either."""
        if backend != "postgresql":
            pytest.skip("TRUNCATE is PostgreSQL's (SQLite's DELETE is covered above)")
        credit(store, "alice", 1000)
        with pytest.raises(REFUSED, match="append-only"):
            store.conn.execute("TRUNCATE events CASCADE")
        assert store.read.event_count() == 1


class TestHashChain:
    @pytest.fixture
    def busy_store(self, store: Store) -> Store:
        """A ledger with five events of every kind."""
        credit(store, "alice", 1000)
        commit(store, hold(store, "alice", 300))
        void(store, hold(store, "alice", 200))
        assert store.read.event_count() == 5
        return store

    def test_real_log_verifies(self, busy_store: Store) -> None:
        """The chain paycli writes verifies from the first event to the last."""
        assert verify_chain(busy_store.read.events()) == (5, None)

    def test_empty_log_verifies(self, store: Store) -> None:
        """A ledger with no events has an intact (empty) chain."""
        assert verify_chain(store.read.events()) == (0, None)

    def test_chain_links_from_genesis(self, busy_store: Store) -> None:
        """The first event links to 64 zeros and each next one to the hash before it."""
        events = list(busy_store.read.events())
        assert events[0].prev_hash == "0" * 64
        assert all(b.prev_hash == a.hash for a, b in pairwise(events))

    def test_edited_payload_is_detected(self, busy_store: Store) -> None:
        """Changing one event's payload breaks the chain at that event."""
        conn = busy_store.conn
        drop_guard(busy_store, "events_no_update")
        conn.execute(
            "UPDATE events SET payload = replace(payload, '\"amount\":1000', '\"amount\":9000')"
            " WHERE seq = 1"
        )
        found = chain_break(busy_store)
        assert found is not None and found.seq == 1 and "edited" in found.reason

    @pytest.mark.parametrize("column", ["type", "entity_id", "at", "correlation_id"])
    def test_edited_field_is_detected(self, busy_store: Store, column: str) -> None:
        """Every hashed field of an event is protected, not only the payload."""
        drop_guard(busy_store, "events_no_update")
        busy_store.conn.execute(f"UPDATE events SET {column} = 'forged' WHERE seq = 3")
        found = chain_break(busy_store)
        assert found is not None and found.seq == 3

    def test_deleted_event_is_detected(self, busy_store: Store) -> None:
        """Removing an event from the middle shows as a gap at the next one."""
        drop_guard(busy_store, "events_no_delete")
        busy_store.conn.execute("DELETE FROM events WHERE seq = 2")
        found = chain_break(busy_store)
        assert found is not None and found.seq == 3 and "removed" in found.reason

    def test_deleted_first_event_is_detected(self, busy_store: Store) -> None:
        """Removing the genesis event shows as a gap at the start."""
        drop_guard(busy_store, "events_no_delete")
        busy_store.conn.execute("DELETE FROM events WHERE seq = 1")
        found = chain_break(busy_store)
        assert found is not None and found.seq == 2

    def test_swapped_events_are_detected(self, busy_store: Store) -> None:
        """Exchanging the places of two events breaks the chain."""
        conn = busy_store.conn
        drop_guard(busy_store, "events_no_update")
        conn.execute("UPDATE events SET seq = 999 WHERE seq = 2")
        conn.execute("UPDATE events SET seq = 2 WHERE seq = 3")
        conn.execute("UPDATE events SET seq = 3 WHERE seq = 999")
        found = chain_break(busy_store)
        assert found is not None and found.seq == 2

    def test_rewritten_link_is_detected(self, busy_store: Store) -> None:
        """An event whose prev_hash was changed no longer links to the one before."""
        drop_guard(busy_store, "events_no_update")
        busy_store.conn.execute("UPDATE events SET prev_hash = hash WHERE seq = 4")
        found = chain_break(busy_store)
        assert found is not None and found.seq == 4 and "prev_hash" in found.reason

    def test_break_reports_the_first_place_only(self, busy_store: Store) -> None:
        """Verification reads every event but reports the earliest break."""
        drop_guard(busy_store, "events_no_update")
        busy_store.conn.execute("UPDATE events SET at = 'x' WHERE seq IN (2, 4)")
        count, found = verify_chain(busy_store.read.events())
        assert count == 5
        assert found is not None and found.seq == 2


USERS = ("alice", "bob")
CURRENCIES = ("USD", "JPY")


DECISIONS = (Decision.SUCCEEDED, Decision.REFUSED, Decision.UNKNOWN)
SETTLE_EVENTS = {Decision.SUCCEEDED: 2, Decision.REFUSED: 2, Decision.UNKNOWN: 1}


class LedgerMachine(RuleBasedStateMachine):
    """Random credits, daily limits, groups of payments opened and settled, and refunds,
    through the code `pay` and billing runs run (`wallet.credit`, `group.Opening`,
    `settle.settle_payments_in`, `Postings`), checked against a plain Python model."""

    payments = Bundle("payments")

    def __init__(self) -> None:
        super().__init__()
        self.store = Store(":memory:")
        self.balance: Counter[tuple[str, str]] = Counter()
        self.held: Counter[tuple[str, str]] = Counter()
        self.daily: dict[tuple[str, str], int | None] = {}
        self.made: Counter[tuple[str, str]] = Counter()  # today's payments not FAILED
        self.status: dict[str, str] = {}
        self.amount: dict[str, tuple[str, str, int]] = {}
        self.given_back: set[str] = set()
        self.events = 0

    def teardown(self) -> None:
        self.store.close()

    @initialize(minor=st.integers(0, 10_000))
    def fund(self, minor: int) -> None:
        """Every wallet starts with the same credit (none if 0)."""
        for user in USERS:
            for code in CURRENCIES:
                if minor:
                    self.credit(user, code, minor)

    @rule(user=st.sampled_from(USERS), code=st.sampled_from(CURRENCIES),
          minor=st.integers(1_000, 10_000))
    def credit(self, user: str, code: str, minor: int) -> None:
        wallet_credit(self.store, user, Money(minor, code))
        self.balance[user, code] += minor
        self.events += 1

    @rule(user=st.sampled_from(USERS), code=st.sampled_from(CURRENCIES),
          count=st.none() | st.integers(0, 6))
    def limit(self, user: str, code: str, count: int | None) -> None:
        limits.set_limits(self.store, user, code, daily_count=count)
        self.daily[user, code] = count
        self.events += 1

    @rule(target=payments, rows=st.lists(st.tuples(
        st.sampled_from(USERS), st.sampled_from(CURRENCIES), st.integers(1, 2_000)),
        min_size=1, max_size=4))
    def open(self, rows: list[tuple[str, str, int]]) -> object:
        requests = [PayRequest(user, Money(minor, code)) for user, code, minor in rows]
        with self.store.transaction() as tx:
            results = open_group(tx, requests, "owner").opened()
        opened = []
        for (user, code, minor), result in zip(rows, results, strict=True):
            expected = self._judged(user, code, minor)
            assert isinstance(result, expected), (rows, results)
            if isinstance(result, Payment):
                self.held[user, code] += minor
                self.made[user, code] += 1
                self.status[result.id] = PaymentStatus.PROCESSING
                self.amount[result.id] = (user, code, minor)
                self.events += 4
                opened.append(result.id)
        return multiple(*opened)

    def _judged(self, user: str, code: str, minor: int) -> type:
        """What the model says a row gets: refused for funds, for a limit, or a payment."""
        if self.balance[user, code] - self.held[user, code] < minor:
            return InsufficientFunds
        allowed = self.daily.get((user, code))
        if allowed is not None and self.made[user, code] + 1 > allowed:
            return LimitExceeded
        return Payment

    @rule(picked=st.lists(payments, min_size=1, max_size=4, unique=True),
          decisions=st.lists(st.sampled_from(DECISIONS), min_size=4, max_size=4))
    def settle(self, picked: list[str], decisions: list[Decision]) -> None:
        verdicts = [(payment_id, Verdict(decision, f"ext_{payment_id}"), [])
                    for payment_id, decision in zip(picked, decisions, strict=False)]
        with self.store.transaction() as tx:
            found = settle_payments_in(tx, verdicts)
        for payment_id, verdict, _ in verdicts:
            self._settled(payment_id, verdict.decision)
            assert found[payment_id].status == self.status[payment_id]

    def _settled(self, payment_id: str, decision: Decision) -> None:
        if self.status[payment_id] != PaymentStatus.PROCESSING:
            return  # final: settling again changes nothing
        user, code, minor = self.amount[payment_id]
        self.events += SETTLE_EVENTS[decision]
        if decision == Decision.SUCCEEDED:
            self.balance[user, code] -= minor
            self.held[user, code] -= minor
            self.status[payment_id] = PaymentStatus.COMPLETED
        elif decision == Decision.REFUSED:
            self.held[user, code] -= minor
            self.made[user, code] -= 1
            self.status[payment_id] = PaymentStatus.FAILED

    @rule(payment_id=payments)
    def give_back(self, payment_id: str) -> None:
        """A completed payment's money credited back from clearing, as a refund is."""
        if self.status[payment_id] != PaymentStatus.COMPLETED or payment_id in self.given_back:
            return
        user, code, minor = self.amount[payment_id]
        deposit(self.store, "refund", user, Money(minor, code), payment_id)
        self.given_back.add(payment_id)
        self.balance[user, code] += minor
        self.events += 1

    @invariant()
    def every_currency_sums_to_zero(self) -> None:
        assert all(total == 0 for total in self.store.read.currency_sums().values())

    @invariant()
    def wallets_match_the_model(self) -> None:
        wallets = {(a.user_id, a.currency): a for a in self.store.read.accounts()
                   if a.kind == "wallet"}
        for (user, code), account in wallets.items():
            assert account.available >= 0
            assert (account.balance, account.held) == (self.balance[user, code],
                                                      self.held[user, code])
            newest = self.store.read.entries(account.id, 1)[0]
            assert (newest.balance, newest.held) == (account.balance, account.held)
        opened = {key for key, value in self.balance.items() if value or self.held[key]}
        assert opened <= wallets.keys()

    @invariant()
    def payments_match_the_model(self) -> None:
        stored = {payment.id: payment for payment in self.store.read.payments()}
        assert {pid: p.status for pid, p in stored.items()} == self.status
        for payment_id, payment in stored.items():
            hold = self.store.read.transfer(payment.hold_id or "")
            assert hold is not None and hold.amount == payment.amount
            state = {PaymentStatus.PROCESSING: "pending", PaymentStatus.COMPLETED: "posted",
                     PaymentStatus.FAILED: "voided"}[PaymentStatus(payment.status)]
            assert hold.state == state, payment_id

    @invariant()
    def chain_is_intact(self) -> None:
        assert verify_chain(self.store.read.events()) == (self.events, None)


class TestLedgerProperties:
    def test_any_sequence_keeps_the_books(self) -> None:
        """Any run of credits, limits, groups opened and settled, and refunds keeps the
        books balanced and true."""
        # Checked after every step: each currency sums to zero, no wallet's available is
        # negative, wallets, their newest statement lines, payments and their holds equal
        # a plain Python model, and the hash chain verifies.
        run_state_machine_as_test(
            LedgerMachine,
            settings=settings(max_examples=100, stateful_step_count=30, deadline=None),
        )


class TestPostgresRowsAtOnce:
    """On PostgreSQL a plain INSERT of many rows is one COPY stream; anything COPY cannot
    say (a conflict clause, RETURNING, an UPDATE) is not copied (for updates, see
    test_round_trips)."""

    @pytest.mark.parametrize(("sql", "copy"), [
        ("INSERT INTO entries (account_id, amount) VALUES (?, ?)",
         "COPY entries (account_id, amount) FROM STDIN"),
        ("INSERT INTO idempotency (key) VALUES (?) ON CONFLICT (key) DO NOTHING", None),
        ("INSERT INTO payments (id) VALUES (?) RETURNING id", None),
        ("UPDATE accounts SET balance = ? WHERE id = ?", None),
        ("INSERT INTO stored.events SELECT * FROM events", None),
    ])
    def test_which_statements_are_copied(self, sql: str, copy: str | None) -> None:
        from paycli.store.pg_connection import _copy_of  # the rule itself, without a server
        assert _copy_of(sql) == copy

    def test_copied_rows_keep_their_order_values_and_constraints(self, store: Store) -> None:
        """Rows with NULLs, quotes, tabs and backslashes arrive exactly, in order; a row
        breaking a constraint fails the whole write, as row-by-row inserts would."""
        at = "2026-01-01T00:00:00.000000+00:00"
        rows = [(f"k{n}", "pay", "fp", None, 'a\t"b"\\c\nd', n, at) for n in range(5)]
        with store.transaction("test") as tx:
            tx.conn.executemany("INSERT INTO idempotency (key, command, fingerprint, "
                                "entity_id, result, exit_code, created_at) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        got = store.read.conn.execute(
            "SELECT key, command, fingerprint, entity_id, result, exit_code, created_at "
            "FROM idempotency ORDER BY key").fetchall()
        assert [tuple(row) for row in got] == rows
        with pytest.raises(Exception, match=r"(?i)unique|duplicate"), \
                store.transaction("test") as tx:
            tx.conn.executemany("INSERT INTO idempotency (key, command, fingerprint, "
                                "exit_code, created_at) VALUES (?, ?, ?, ?, ?)",
                                [("new", "pay", "fp", 0, at), ("k1", "pay", "fp", 0, at)])
        assert store.read.idempotency("new") is None  # nothing of the failed write stayed
