"""How a write transaction reaches the engine. On PostgreSQL its writes wait and go with
the next statement that needs an answer, and an update of many rows is one statement; on
both engines the rows come out the same, a read sees the writes made before it, and an
error or a Ctrl-C in any write undoes the whole transaction and leaves the ledger
writable. On PostgreSQL a payment takes a counted number of round trips (read from the
driver's protocol trace, not assumed)."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import pq

from paycli.config import Settings
from paycli.gateway.inprocess import InProcessGateway
from paycli.ledger import limits, wallet
from paycli.ledger.postings import Postings
from paycli.money import Money
from paycli.records import PaymentStatus
from paycli.saga import pay as saga
from paycli.saga.core import SagaEnv
from paycli.saga.group import PayRequest, open_group
from paycli.saga.steps import SilentReporter
from paycli.saga.wiring import resilience
from paycli.store import Store, Tx

ENGINE_ERRORS = (sqlite3.IntegrityError, psycopg.errors.CheckViolation)
# A payment on PostgreSQL: the wallet read for the screen; opening (BEGIN, lock and chain
# head; wallets and whether limits are set, together; the writes with COMMIT); the
# breaker; settling (BEGIN, lock and head; the payment; its hold and its user's accounts,
# together; the writes with COMMIT); the wallet for the answer.
PAYMENT_ROUND_TRIPS = 10
# And its statements: 1 + 3 + 2 + 9 (payment, hold, wallet, statement line, four
# events, COMMIT) + 1 + 3 + 3 + 7 (hold, accounts, statement line, payment, two events,
# COMMIT) + 1.
PAYMENT_STATEMENTS = 30


def usd(amount: int) -> Money:
    return Money(amount * 100, "USD")


def held(store: Store, user: str) -> tuple[int, int]:
    account = store.read.account("wallet", user, "USD")
    assert account is not None
    return account.balance, account.held


def credit_in(tx: Tx, user: str, money: Money) -> None:
    """Credit a wallet inside a transaction the test holds (its writes wait on PostgreSQL)."""
    moves = Postings(tx)
    moves.deposit("credit", user, money, None)
    moves.write()


class TestWritesInOrder:
    def test_a_read_sees_the_writes_before_it(self, store: Store) -> None:
        with store.transaction() as tx:
            credit_in(tx, "alice", usd(5))  # on PostgreSQL its writes wait for the read
            account = tx.account("wallet", "alice", "USD")
            assert account is not None and account.balance == 500
        assert held(store, "alice") == (500, 0)

    def test_an_error_in_a_write_undoes_the_whole_transaction(self, store: Store) -> None:
        wallet.credit(store, "alice", usd(5))
        with pytest.raises(ENGINE_ERRORS), store.transaction() as tx:
            credit_in(tx, "bob", usd(1))
            alice = tx.account("wallet", "alice", "USD")
            assert alice is not None
            # held above the balance: the engine's CHECK refuses it (on PostgreSQL at
            # the COMMIT the write waited for)
            tx.set_accounts([(alice.balance, alice.balance + 1, alice.id)])
        assert store.read.account("wallet", "bob", "USD") is None
        assert held(store, "alice") == (500, 0)
        wallet.credit(store, "bob", usd(2))  # the connection and the ledger lock are free
        assert held(store, "bob") == (200, 0)

    def test_a_ctrl_c_among_the_writes_undoes_them(self, store: Store) -> None:
        wallet.credit(store, "alice", usd(5))
        with pytest.raises(KeyboardInterrupt), store.transaction() as tx:
            credit_in(tx, "alice", usd(1))
            raise KeyboardInterrupt
        assert held(store, "alice") == (500, 0)
        wallet.credit(store, "alice", usd(1))
        assert held(store, "alice") == (600, 0)


@pytest.mark.parametrize(("sql", "merged"), [
    ("UPDATE accounts SET balance = ?, held = ? WHERE id = ?", True),
    ("UPDATE transfers SET state = ? WHERE id = ? AND state = 'pending'", True),
    ("UPDATE payments SET charge_ms = coalesce(charge_ms, ?), owner = NULL WHERE id = ?", True),
    ("UPDATE payments SET refunded = refunded + ? WHERE id = ?", False),  # an expression
    ("UPDATE payments SET owner = ? WHERE id = ? AND owner = ?", False),  # a value after it
    ("UPDATE elsewhere SET a = ? WHERE id = ?", False),  # not a ledger table: no types
    ("INSERT INTO accounts (id) VALUES (?)", False),
])
def test_which_updates_are_one_statement(sql: str, merged: bool) -> None:
    from paycli.store.pg_connection import _merged_update_of  # the rule, without a server
    assert (_merged_update_of(sql) is not None) == merged


def test_a_column_of_two_kinds_goes_row_by_row() -> None:
    """No array holds values of two kinds: such rows go one statement each, as before;
    whole numbers in a floating-point column become floats."""
    from paycli.store.pg_connection import _merged_update_of
    merged = _merged_update_of("UPDATE payments SET charge_ms = ?, owner = ? WHERE id = ?")
    assert merged is not None
    assert merged.arrays([(5, "me", "a"), (2.5, None, "b")]) == [
        [5.0, 2.5], ["me", None], ["a", "b"]]
    assert merged.arrays([(1.0, "me", "a"), (2.0, 7, "b")]) is None
    assert merged.arrays([(1.0, PaymentStatus.COMPLETED, "a"), (2.0, "x", "b")]) is not None


@pytest.mark.parametrize(("sql", "values", "listed"), [
    ("SELECT a FROM t WHERE id IN (?, ?)", ("x", "y"),
     "SELECT a FROM t WHERE id = ANY(CAST(%b AS TEXT[]))"),
    ("SELECT a FROM t WHERE coalesce(u, '') IN (?, ?, ?) UNION ALL SELECT a FROM t WHERE k = '%'",
     ("x", "y", "z"), "SELECT a FROM t WHERE coalesce(u, '') = ANY(CAST(%b AS TEXT[])) "
     "UNION ALL SELECT a FROM t WHERE k = '%%'"),
    ("SELECT a FROM t WHERE id IN (?, ?) ORDER BY a", (1, 2),
     "SELECT a FROM t WHERE id = ANY(CAST(%b AS BIGINT[])) ORDER BY a"),
    ("SELECT a FROM t WHERE id IN (?)", ("x",), None),  # one value: nothing to gain
    ("SELECT a FROM t WHERE id NOT IN (?, ?)", ("x", "y"), None),  # not `= ANY`
    ("SELECT a FROM t WHERE id IN (?, ?)", ("x", 1), None),  # no one type for the array
    ("SELECT a FROM t WHERE id IN (?, ?)", (1.5, 2.5), None),  # only text and integers
    ("SELECT a FROM t WHERE id IN (?, ?)", (True, False), None),
    ("SELECT a FROM t WHERE s IN (?, ?)", (PaymentStatus.FAILED, "COMPLETED"),
     "SELECT a FROM t WHERE s = ANY(CAST(%b AS TEXT[]))"),
    ("SELECT a FROM t WHERE b = ? AND id IN (?, ?)", ("x", "y", "z"), None),  # another value
])
def test_which_lists_go_as_one_array(sql: str, values: tuple[Any, ...],
                                     listed: str | None) -> None:
    from paycli.store.pg_connection import _any_of  # the rule, without a server
    assert _any_of(sql, values) == listed


def test_a_listed_read_can_use_its_index(pg: Any) -> None:
    """The array keeps the plan an IN list has: with sequential scans priced out, each
    read by a list of keys goes by its index (the column's collation and the array's
    agree)."""
    url = pg.create_ledger()
    try:
        with Store(url) as store:
            wallet.credit(store, "alice", usd(5))
            conn = store.conn
            conn.execute("SET enable_seqscan = off")
            for sql, values, index in [
                ("SELECT id FROM payments WHERE id IN (?, ?)", ("a", "b"), "payments_pkey"),
                ("SELECT id FROM transfers WHERE id IN (?, ?)", ("a", "b"), "transfers_pkey"),
                ("SELECT id FROM accounts WHERE id IN (?, ?)", (1, 2), "accounts_pkey"),
                ("SELECT key FROM idempotency WHERE key IN (?, ?)", ("a", "b"),
                 "idempotency_pkey"),
                ("SELECT id FROM accounts WHERE kind = 'wallet' AND coalesce(user_id, '') "
                 "IN (?, ?)", ("alice", "bob"), "accounts_owner")]:
                plan = " ".join(row[0] for row in conn.execute(f"EXPLAIN {sql}", values))
                assert "= ANY" in plan and index in plan, plan
            assert sorted((account.kind, account.user_id) for account in  # one list, rows
                          store.read.accounts_of(["alice", "bob"])) == [  # as before
                ("funding", None), ("wallet", "alice")]
    finally:
        pg.drop(url)


class TestReadsTogether:
    """The reads a group's opening and settling start with, sent in one exchange: the same
    rows as each read alone."""

    def test_settling_reads_payments_holds_and_their_accounts(self, store: Store) -> None:
        ids = TestUpdatesOfManyRows().opened(store, 3)
        with store.transaction() as tx:
            payments, holds, accounts = tx.settling([*ids, "pay_unknown"])
            assert payments == tx.payments_by_id(ids)
            assert holds == tx.transfers_by_id([payments[key].hold_id or "" for key in ids])
            assert accounts == tx.accounts_of(["alice"])
            moved = {account for held in holds.values()
                     for account in (held.debit_account, held.credit_account)}
            assert len(holds) == 3 and moved <= {account.id for account in accounts}

    def test_a_final_payments_hold_is_not_read(self, store: Store) -> None:
        [payment_id] = TestUpdatesOfManyRows().opened(store, 1)
        with store.transaction() as tx:
            tx.update_many("payments", ("status",), [(PaymentStatus.FAILED, payment_id)])
        with store.transaction() as tx:
            payments, holds, _ = tx.settling([payment_id])
            assert list(payments) == [payment_id] and holds == {}

    def test_more_values_than_one_list_holds(self, store: Store) -> None:
        [payment_id] = TestUpdatesOfManyRows().opened(store, 1)
        unknown = [f"pay_unknown_{number}" for number in range(600)]  # two IN lists
        with store.transaction() as tx:
            payments, holds, accounts = tx.settling([*unknown, payment_id])
            assert list(payments) == [payment_id] and len(holds) == 1
            assert accounts == tx.accounts_of(["alice"])
        with store.transaction() as tx:
            used, accounts, _ = tx.opening(unknown, ["alice"])
            assert used == {} and accounts == tx.accounts_of(["alice"])

    def test_opening_reads_keys_wallets_and_limits(self, store: Store) -> None:
        wallet.credit(store, "alice", usd(5), "k1")
        with store.transaction() as tx:
            used, accounts, limited = tx.opening(["k1", "k2"], ["alice", "bob"])
            assert used == tx.idempotency_of(["k1", "k2"]) and list(used) == ["k1"]
            assert accounts == tx.accounts_of(["alice", "bob"]) and not limited
            assert tx.opening([], ["alice"])[0] == {}  # no keys: no read of them
        limits.set_limits(store, "alice", "USD", max_amount=100)
        with store.transaction() as tx:
            assert tx.opening([], ["alice"])[2]


def test_a_few_rows_written_together_keep_their_order(store: Store) -> None:
    """Five deposits in one transaction: five statement lines, under the COPY threshold
    (waiting for the COMMIT on PostgreSQL), numbered in the order written, each balance
    the one after it."""
    with store.transaction() as tx:
        moves = Postings(tx)
        for amount in range(1, 6):
            moves.deposit("credit", "alice", usd(amount), f"credit-{amount}")
        moves.write()
    account = store.read.account("wallet", "alice", "USD")
    assert account is not None
    lines = sorted(store.read.entries(account.id, 10), key=lambda entry: entry.seq)
    assert [(line.reference, line.balance) for line in lines] == [
        (f"credit-{amount}", sum(range(1, amount + 1)) * 100) for amount in range(1, 6)]


class TestUpdatesOfManyRows:
    """`Tx.update_many` as the settle path uses it: on PostgreSQL one statement for rows
    with distinct ids, once a row otherwise; the same rows either way."""

    def opened(self, store: Store, count: int) -> list[str]:
        wallet.credit(store, "alice", usd(100))
        with store.transaction() as tx:
            opening = open_group(tx, [PayRequest("alice", usd(1)) for _ in range(count)],
                                 "test")
        return [row.payment.id for row in opening.accepted]

    def rows(self, store: Store, ids: list[str]) -> list[tuple[Any, ...]]:
        with store.snapshot() as read:
            return [tuple(read.conn.execute(
                "SELECT status, gateway_ref, owner, charge_ms, charged_at FROM payments "
                "WHERE id = ?", (payment_id,)).fetchone()) for payment_id in ids]

    def test_values_nulls_and_kept_columns(self, store: Store) -> None:
        ids = self.opened(store, 3)
        columns = ("status", "gateway_ref", "owner", "charge_ms", "charged_at")
        with store.transaction() as tx:  # charge_ms all NULL: no type to guess from
            tx.update_many("payments", columns, [
                (PaymentStatus.PROCESSING, None, "me", None, None, ids[0]),
                (PaymentStatus.PROCESSING, "ref-b", None, None, None, ids[1])])
        with store.transaction() as tx:  # charge_ms and charged_at keep a first value
            tx.update_many("payments", columns, [
                (PaymentStatus.COMPLETED, "ref-a", None, 12.5, "2026-12-05T10:00:00Z", ids[0]),
                (PaymentStatus.FAILED, None, None, None, None, ids[1]),
                (PaymentStatus.COMPLETED, "ref-c", None, 3.0, "2026-12-05T11:00:00Z", ids[2])])
        with store.transaction() as tx:
            tx.update_many("payments", ("charge_ms", "charged_at"), [
                (99.0, "2026-12-06T00:00:00Z", ids[0]), (7.25, "2026-12-05T12:00:00Z", ids[1])])
        assert self.rows(store, ids) == [
            ("COMPLETED", "ref-a", None, 12.5, "2026-12-05T10:00:00Z"),
            ("FAILED", None, None, 7.25, "2026-12-05T12:00:00Z"),
            ("COMPLETED", "ref-c", None, 3.0, "2026-12-05T11:00:00Z")]

    def test_whole_numbers_in_a_floating_point_column(self, store: Store) -> None:
        ids = self.opened(store, 2)
        with store.transaction() as tx:  # one array of one type on PostgreSQL
            tx.update_many("payments", ("charge_ms",), [(5, ids[0]), (2.5, ids[1])])
        assert [row[3] for row in self.rows(store, ids)] == [5.0, 2.5]

    def test_the_same_row_twice_ends_as_the_last_says(self, store: Store) -> None:
        [payment_id] = self.opened(store, 1)
        with store.transaction() as tx:
            tx.update_many("payments", ("status", "gateway_ref"), [
                (PaymentStatus.PROCESSING, "first", payment_id),
                (PaymentStatus.COMPLETED, "last", payment_id)])
        assert self.rows(store, [payment_id]) == [("COMPLETED", "last", "test", None, None)]


@pytest.fixture
def traced(pg: Any) -> Iterator[tuple[Store, Path]]:
    """A PostgreSQL ledger whose connection writes its protocol trace to a file."""
    url = pg.create_ledger()
    trace = Path(tempfile.mkdtemp()) / "trace"
    try:
        with Store(url) as store, trace.open("wb") as out:
            raw = store.conn.raw  # type: ignore[attr-defined]
            raw.pgconn.trace(out.fileno())
            raw.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
            yield store, trace
            raw.pgconn.untrace()
    finally:
        pg.drop(url)


def statements(trace: Path) -> int:
    """Statements the trace shows sent (each is bound to its values once)."""
    return sum("\tBind\t" in line and line.startswith("F")
               for line in trace.read_text(errors="replace").splitlines())


def round_trips(trace: Path) -> int:
    """Exchanges the trace shows: each ends with the server ready for the next query."""
    return sum("\tReadyForQuery" in line and line.startswith("B")
               for line in trace.read_text(errors="replace").splitlines())


class TestPostgresRoundTrips:
    def test_a_payment_takes_ten(self, traced: tuple[Store, Path]) -> None:
        store, trace = traced
        wallet.credit(store, "alice", usd(1000))
        gateway, settings = InProcessGateway(), Settings()
        env = SagaEnv(store, lambda: gateway, lambda on: resilience(on, settings))
        for _ in range(10):  # the driver prepares a statement at its fifth run: settled
            saga.pay(env, PayRequest("alice", usd(1)), SilentReporter())
        before, sent = round_trips(trace), statements(trace)
        outcome = saga.pay(env, PayRequest("alice", usd(1)), SilentReporter())
        assert outcome.result.status == PaymentStatus.COMPLETED
        assert round_trips(trace) - before == PAYMENT_ROUND_TRIPS
        assert statements(trace) - sent == PAYMENT_STATEMENTS
        assert held(store, "alice") == (98900, 0)

    def test_a_group_settles_its_rows_in_one_update_each(
            self, traced: tuple[Store, Path]) -> None:
        store, trace = traced
        ids = TestUpdatesOfManyRows().opened(store, 40)
        before = trace.read_text(errors="replace").count("UPDATE payments")
        with store.transaction() as tx:
            tx.update_many("payments", ("status",),
                           [(PaymentStatus.COMPLETED, payment_id) for payment_id in ids])
        assert trace.read_text(errors="replace").count("UPDATE payments") - before == 1
