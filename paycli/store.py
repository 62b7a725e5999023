"""The ledger database: the only module of paycli that speaks SQL (with its companion
`replay_store`, which holds the SQL of `replay-events`' in-memory rebuild).

Invariants kept here:
- One SQLite file in WAL mode with `synchronous=FULL`; created 0600 (its folder 0700 when
  paycli creates it). SQLite gives the `-wal` and `-shm` files the database file's mode.
- Every write runs in `BEGIN IMMEDIATE` through `Store.transaction()`; the sqlite3 module's
  implicit transactions are off (`isolation_level=None`). A busy database is waited for,
  never reported to the operator as "database is locked".
- Every state change appends its event in the same transaction (`Tx.append_event`); each
  event stores `sha256(prev_hash + canonical_json(event))`, so the log is a hash chain.

Another engine can stand in for this module by offering the same `Store` and `Tx` methods.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from paycli.errors import LedgerCorrupt, UsageError
from paycli.hashing import GENESIS_HASH, canonical_json, event_hash, utc_now
from paycli.models import Account, BreakerState, Entry, Event, Payment, Refund, Transfer
from paycli.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

BUSY_TIMEOUT_S = 30.0

_PAYMENT_COLUMNS = (
    "id, user_id, currency, amount, order_id, idempotency_key, gateway_key, status, "
    "gateway_ref, hold_id, refunded, refund_reserved, error_type, error_message, owner, "
    "created_at, updated_at"
)
_REFUND_COLUMNS = (
    "id, payment_id, currency, amount, reason, idempotency_key, gateway_key, status, "
    "gateway_ref, transfer_id, error_type, error_message, owner, created_at, updated_at"
)
_UPDATABLE = {
    "payments": frozenset({"status", "gateway_ref", "hold_id", "refunded", "refund_reserved",
                           "error_type", "error_message", "owner"}),
    "refunds": frozenset({"status", "gateway_ref", "transfer_id", "error_type",
                          "error_message", "owner"}),
}


def _prepare_path(path: str) -> None:
    if path == ":memory:":
        return
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"--db {path}: is a directory, not a ledger file")
    if not target.parent.exists():
        try:
            target.parent.mkdir(mode=0o700, parents=True)
        except OSError as exc:
            raise UsageError(f"--db {path}: cannot create its folder ({exc.strerror})") from None
    if not target.exists():
        try:
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError as exc:
            raise UsageError(f"--db {path}: cannot create it ({exc.strerror})") from None
    elif not os.access(target, os.R_OK | os.W_OK):
        raise UsageError(f"--db {path}: not readable and writable by this user")


def _connect(path: str) -> sqlite3.Connection:
    _prepare_path(path)
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
        _refuse_foreign(conn, path)
        _retry_busy(lambda: conn.execute("PRAGMA journal_mode=WAL").fetchone())
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.DatabaseError as exc:
        raise LedgerCorrupt(f"--db {path}: not a paycli ledger ({exc})") from None
    return conn


_WRITE_LOCKS: dict[str, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock(path: str) -> threading.RLock:
    """The one lock that this process's writers to the ledger at `path` share."""
    key = path if path == ":memory:" else os.path.realpath(path)
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, threading.RLock())


def _refuse_foreign(conn: sqlite3.Connection, path: str) -> None:
    """Refuse, before writing anything (even the WAL switch), a file that is not ours."""
    app = conn.execute("PRAGMA application_id").fetchone()[0]
    if app == APPLICATION_ID:
        return
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if app != 0 or tables:
        conn.close()
        raise LedgerCorrupt(f"--db {path}: a SQLite file, but not a paycli ledger")


def _retry_busy(action: Any, deadline_s: float = BUSY_TIMEOUT_S * 2) -> Any:
    """Run `action`, waiting out SQLITE_BUSY beyond what the busy handler covers."""
    give_up = time.monotonic() + deadline_s
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            message = str(exc)
            busy = "locked" in message or "busy" in message
            if not busy or time.monotonic() > give_up:
                raise
            time.sleep(random.uniform(0.001, 0.02))


class Store:
    """A paycli ledger file: opens it (creating or migrating it), reads it, writes to it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.commits = 0  # write transactions committed through this Store (for the bench)
        self.conn = _connect(path)
        self._reader = Reader(self.conn)
        self._write_lock = _write_lock(path)
        try:
            self._migrate()
        except BaseException:
            self.conn.close()
            raise

    def close(self) -> None:
        """Close the connection; the ledger stays as the last commit left it."""
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _version(self) -> tuple[int, int]:
        app = self.conn.execute("PRAGMA application_id").fetchone()[0]
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        return int(app), int(version)

    def _migrate(self) -> None:
        app, version = self._version()
        if app == APPLICATION_ID and version == SCHEMA_VERSION:
            return
        with self.transaction() as tx:
            app, version = self._version()
            if app == 0 and version == 0:
                tables = self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                if tables:
                    raise LedgerCorrupt(f"--db {self.path}: a SQLite file, but not a paycli ledger")
            elif app != APPLICATION_ID:
                raise LedgerCorrupt(f"--db {self.path}: a SQLite file, but not a paycli ledger")
            elif version > SCHEMA_VERSION:
                raise LedgerCorrupt(
                    f"--db {self.path}: schema version {version} is newer than this paycli "
                    f"({SCHEMA_VERSION}); upgrade paycli"
                )
            for script in MIGRATIONS[version:]:
                tx.run_script(script)
            self.conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            self.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextlib.contextmanager
    def transaction(self, correlation_id: str | None = None) -> Iterator[Tx]:
        """One `BEGIN IMMEDIATE` write transaction: committed on exit, rolled back on error.

        Threads of one process queue on a lock first, so they hand the write lock over
        at once instead of waking in SQLite's busy handler (which sleeps up to 100 ms);
        other processes are still waited for by the busy handler.
        """
        with self._write_lock:
            _retry_busy(lambda: self.conn.execute("BEGIN IMMEDIATE"))
            try:
                yield Tx(self.conn, correlation_id)
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            _retry_busy(lambda: self.conn.execute("COMMIT"))
            self.commits += 1

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Reader]:
        """A read transaction: every read inside sees one consistent state."""
        _retry_busy(lambda: self.conn.execute("BEGIN DEFERRED"))
        try:
            yield Reader(self.conn)
        finally:
            self.conn.execute("COMMIT")

    @property
    def read(self) -> Reader:
        """Reads outside a transaction: each statement sees the latest commit."""
        return self._reader


class Reader:
    """The read queries of the ledger."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def account(self, kind: str, user_id: str | None, currency: str) -> Account | None:
        """The account of that owner and currency, or None if never opened."""
        row = self.conn.execute(
            "SELECT id, kind, user_id, currency, balance, held FROM accounts "
            "WHERE kind = ? AND ifnull(user_id, '') = ? AND currency = ?",
            (kind, user_id or "", currency),
        ).fetchone()
        return Account(*row) if row else None

    def accounts(self) -> list[Account]:
        """Every account, wallets and external ones."""
        rows = self.conn.execute(
            "SELECT id, kind, user_id, currency, balance, held FROM accounts ORDER BY id"
        ).fetchall()
        return [Account(*row) for row in rows]

    def currency_sums(self) -> dict[str, int]:
        """The sum of balances over all accounts, per currency (always zero)."""
        rows = self.conn.execute("SELECT currency, sum(balance) FROM accounts GROUP BY currency")
        return {currency: int(total) for currency, total in rows}

    def entries(self, account_id: int, limit: int) -> list[Entry]:
        """The newest `limit` statement lines of an account, newest first."""
        rows = self.conn.execute(
            "SELECT seq, at, type, amount, balance, held, transfer_id, reference FROM entries "
            "WHERE account_id = ? ORDER BY seq DESC LIMIT ?",
            (account_id, limit),
        ).fetchall()
        return [Entry(*row) for row in rows]

    def account_by_id(self, account_id: int) -> Account:
        """The account with that id (it must exist)."""
        row = self.conn.execute(
            "SELECT id, kind, user_id, currency, balance, held FROM accounts WHERE id = ?",
            (account_id,),
        ).fetchone()
        return Account(*row)

    def transfer(self, transfer_id: str) -> Transfer | None:
        """A transfer, or None."""
        row = self.conn.execute(
            "SELECT id, kind, debit_account, credit_account, amount, currency, state, "
            "reference, created_at, resolved_at FROM transfers WHERE id = ?",
            (transfer_id,),
        ).fetchone()
        return Transfer(*row) if row else None

    def idempotency(self, key: str) -> dict[str, Any] | None:
        """The stored request and result of an idempotency key, or None."""
        row = self.conn.execute(
            "SELECT key, command, fingerprint, entity_id, result, exit_code FROM idempotency "
            "WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        names = ("key", "command", "fingerprint", "entity_id", "result", "exit_code")
        return dict(zip(names, row, strict=True))

    def payment(self, payment_id: str) -> Payment | None:
        """A payment, or None."""
        row = self.conn.execute(
            f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE id = ?", (payment_id,)
        ).fetchone()
        return Payment(*row) if row else None

    def payments(self, *, user_id: str | None = None, status: str | None = None,
                 currency: str | None = None, since: str | None = None,
                 until: str | None = None, limit: int | None = None) -> list[Payment]:
        """Payments matching every filter given, newest first."""
        where: list[str] = []
        args: list[Any] = []
        for column, op, value in (("user_id", "=", user_id), ("status", "=", status),
                                  ("currency", "=", currency), ("created_at", ">=", since),
                                  ("created_at", "<", until)):
            if value is not None:
                where.append(f"{column} {op} ?")
                args.append(value)
        sql = f"SELECT {_PAYMENT_COLUMNS} FROM payments"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [Payment(*row) for row in self.conn.execute(sql, args)]

    def unfinished_payments(self) -> list[Payment]:
        """Payments whose saga has not ended, oldest first."""
        rows = self.conn.execute(
            f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE status IN ('PENDING', 'PROCESSING') "
            "ORDER BY created_at"
        )
        return [Payment(*row) for row in rows]

    def refund(self, refund_id: str) -> Refund | None:
        """A refund, or None."""
        row = self.conn.execute(
            f"SELECT {_REFUND_COLUMNS} FROM refunds WHERE id = ?", (refund_id,)
        ).fetchone()
        return Refund(*row) if row else None

    def refunds(self, payment_id: str) -> list[Refund]:
        """The refunds of a payment, oldest first."""
        rows = self.conn.execute(
            f"SELECT {_REFUND_COLUMNS} FROM refunds WHERE payment_id = ? ORDER BY created_at",
            (payment_id,),
        )
        return [Refund(*row) for row in rows]

    def unfinished_refunds(self) -> list[Refund]:
        """Refunds whose saga has not ended, oldest first."""
        rows = self.conn.execute(
            f"SELECT {_REFUND_COLUMNS} FROM refunds WHERE status IN ('PENDING', 'PROCESSING') "
            "ORDER BY created_at"
        )
        return [Refund(*row) for row in rows]

    def events_of(self, entity_id: str) -> list[Event]:
        """The events about one entity, oldest first."""
        rows = self.conn.execute(
            "SELECT seq, type, entity_id, payload, at, correlation_id, prev_hash, hash "
            "FROM events WHERE entity_id = ? ORDER BY seq",
            (entity_id,),
        )
        return [Event(*row) for row in rows]

    def events(self, after_seq: int = 0, batch: int = 5000) -> Iterator[Event]:
        """Every event from `after_seq` on, oldest first, streamed in batches."""
        while True:
            rows = self.conn.execute(
                "SELECT seq, type, entity_id, payload, at, correlation_id, prev_hash, hash "
                "FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, batch),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield Event(*row)
            after_seq = rows[-1][0]

    def event_count(self) -> int:
        """How many events the log holds."""
        return int(self.conn.execute("SELECT count(*) FROM events").fetchone()[0])

    def breaker(self, name: str = "gateway") -> BreakerState:
        """The shared circuit breaker's state (closed with no failures if never used)."""
        row = self.conn.execute(
            "SELECT state, failures, opened_at, probe_started FROM breaker WHERE name = ?",
            (name,),
        ).fetchone()
        return BreakerState(*row) if row else BreakerState("closed", 0, None, None)

    def rows(self, sql_name: str, batch: int = 2000) -> Iterator[tuple[list[str], tuple[Any, ...]]]:
        """Stream one of the export queries as (column names, row) pairs."""
        cursor = self.conn.execute(_EXPORT_QUERIES[sql_name])
        names = [d[0] for d in cursor.description]
        while chunk := cursor.fetchmany(batch):
            for row in chunk:
                yield names, row

    def row_count(self, sql_name: str) -> int:
        """How many rows one of the export queries streams."""
        sql = f"SELECT count(*) FROM ({_EXPORT_QUERIES[sql_name]})"
        return int(self.conn.execute(sql).fetchone()[0])


_EXPORT_QUERIES = {
    "payments": f"SELECT {_PAYMENT_COLUMNS} FROM payments ORDER BY created_at, id",
    "refunds": (
        "SELECT " + ", ".join(f"r.{name.strip()}" for name in _REFUND_COLUMNS.split(","))
        + ", p.user_id FROM refunds r JOIN payments p ON p.id = r.payment_id "
        "ORDER BY r.created_at, r.id"
    ),
    "transfers": (
        "SELECT t.id, t.kind, t.state, t.amount, t.currency, d.kind AS debit_kind, "
        "d.user_id AS debit_user, c.kind AS credit_kind, c.user_id AS credit_user, "
        "t.reference, t.created_at, t.resolved_at FROM transfers t "
        "JOIN accounts d ON d.id = t.debit_account JOIN accounts c ON c.id = t.credit_account "
        "ORDER BY t.created_at, t.id"
    ),
}


class Tx(Reader):
    """The writes of one transaction. Every state change goes with its event."""

    def __init__(self, conn: sqlite3.Connection, correlation_id: str | None) -> None:
        super().__init__(conn)
        self.correlation_id = correlation_id
        self.at = utc_now()
        self._head: tuple[int, str] | None = None

    def run_script(self, script: str) -> None:
        """Run DDL statements one by one inside this transaction."""
        statement = ""
        for line in script.splitlines(keepends=True):
            statement += line
            if sqlite3.complete_statement(statement):
                self.conn.execute(statement)
                statement = ""

    def append_event(self, type_: str, entity_id: str, payload: dict[str, Any]) -> int:
        """Append an event to the hash chain; returns its sequence number."""
        if self._head is None:
            row = self.conn.execute(
                "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            self._head = (row[0], row[1]) if row else (0, GENESIS_HASH)
        prev_seq, prev_hash = self._head
        seq, text = prev_seq + 1, canonical_json(payload)
        digest = event_hash(prev_hash, seq, type_, entity_id, text, self.at, self.correlation_id)
        self.conn.execute(
            "INSERT INTO events (seq, type, entity_id, payload, at, correlation_id, prev_hash, "
            "hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, type_, entity_id, text, self.at, self.correlation_id, prev_hash, digest),
        )
        self._head = (seq, digest)
        return seq

    def open_account(self, kind: str, user_id: str | None, currency: str) -> Account:
        """The account of that owner and currency, opened with a zero balance if new."""
        found = self.account(kind, user_id, currency)
        if found:
            return found
        cursor = self.conn.execute(
            "INSERT INTO accounts (kind, user_id, currency, updated_at) VALUES (?, ?, ?, ?)",
            (kind, user_id, currency, self.at),
        )
        return Account(int(cursor.lastrowid or 0), kind, user_id, currency, 0, 0)

    def set_account(self, account_id: int, balance: int, held: int) -> None:
        """Store an account's new balance and holds."""
        self.conn.execute(
            "UPDATE accounts SET balance = ?, held = ?, updated_at = ? WHERE id = ?",
            (balance, held, self.at, account_id),
        )

    def insert_transfer(self, transfer_id: str, kind: str, debit: int, credit: int,
                        amount: int, currency: str, state: str, reference: str | None) -> None:
        """Record a transfer between two accounts."""
        resolved = self.at if state == "posted" else None
        self.conn.execute(
            "INSERT INTO transfers (id, kind, debit_account, credit_account, amount, currency, "
            "state, reference, created_at, resolved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (transfer_id, kind, debit, credit, amount, currency, state, reference, self.at,
             resolved),
        )

    def resolve_transfer(self, transfer_id: str, state: str) -> None:
        """Move a pending transfer to `posted` or `voided`."""
        self.conn.execute(
            "UPDATE transfers SET state = ?, resolved_at = ? WHERE id = ? AND state = 'pending'",
            (state, self.at, transfer_id),
        )

    def add_entry(self, account: Account, transfer_id: str, type_: str, amount: int,
                  reference: str | None) -> None:
        """Add a statement line showing `account` as it stands after this movement."""
        self.conn.execute(
            "INSERT INTO entries (account_id, transfer_id, type, amount, balance, held, "
            "reference, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (account.id, transfer_id, type_, amount, account.balance, account.held, reference,
             self.at),
        )

    def put_idempotency(self, key: str, command: str, fingerprint: str,
                        entity_id: str | None = None, result: str | None = None,
                        exit_code: int | None = None) -> None:
        """Remember an idempotency key with its request and (once known) its result."""
        self.conn.execute(
            "INSERT INTO idempotency (key, command, fingerprint, entity_id, result, exit_code, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, command, fingerprint, entity_id, result, exit_code, self.at),
        )

    def insert_payment(self, payment: Payment) -> None:
        """Store a new payment."""
        self.conn.execute(
            f"INSERT INTO payments ({_PAYMENT_COLUMNS}) VALUES ({', '.join('?' * 17)})",
            tuple(getattr(payment, f.strip()) for f in _PAYMENT_COLUMNS.split(",")),
        )

    def insert_refund(self, refund: Refund) -> None:
        """Store a new refund."""
        self.conn.execute(
            f"INSERT INTO refunds ({_REFUND_COLUMNS}) VALUES ({', '.join('?' * 15)})",
            tuple(getattr(refund, f.strip()) for f in _REFUND_COLUMNS.split(",")),
        )

    def update(self, table: str, row_id: str, changes: dict[str, Any]) -> None:
        """Change some columns of a payment or refund row."""
        allowed = _UPDATABLE[table]
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)} of {table}")
        assignments = ", ".join(f"{column} = ?" for column in changes)
        self.conn.execute(
            f"UPDATE {table} SET {assignments}, updated_at = ? WHERE id = ?",
            (*changes.values(), self.at, row_id),
        )

    def claim(self, table: str, row_id: str, expected_owner: str | None, owner: str) -> bool:
        """Take ownership of a payment or refund if its owner is still `expected_owner`."""
        if table not in _UPDATABLE:
            raise ValueError(table)
        cursor = self.conn.execute(
            f"UPDATE {table} SET owner = ? WHERE id = ? AND owner IS ?",
            (owner, row_id, expected_owner),
        )
        return cursor.rowcount == 1

    def put_breaker(self, state: BreakerState, name: str = "gateway") -> None:
        """Store the shared circuit breaker's state."""
        self.conn.execute(
            "INSERT INTO breaker (name, state, failures, opened_at, probe_started) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET state = excluded.state, "
            "failures = excluded.failures, opened_at = excluded.opened_at, "
            "probe_started = excluded.probe_started",
            (name, state.state, state.failures, state.opened_at, state.probe_started),
        )
