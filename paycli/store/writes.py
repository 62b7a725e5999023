"""The writes of one transaction: `Tx`, every state change with its event.

Hand-written SQL on purpose, in the dialect SQLite and PostgreSQL share (see `sql`): these
statements run inside the backend's one-writer-at-a-time transaction (SQLite's `BEGIN
IMMEDIATE`, PostgreSQL's ledger lock) on tables guarded by CHECK constraints and triggers,
and the hot path wants each one prepared once. Because writers are serialised, the chain
head read at the first `append_event` stays the head until the commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from paycli.records import Account, Payment, Refund
from paycli.store.hashing import GENESIS_HASH, canonical_json, event_hash, utc_now
from paycli.store.reads import (
    PAYMENT_COLUMNS,
    REFUND_COLUMNS,
    STREAMABLE,
    UPDATABLE,
    Reader,
)
from paycli.store.sql import Connection


class Tx(Reader):
    """The writes of one transaction. Every state change goes with its event."""

    def __init__(self, conn: Connection, correlation_id: str | None,
                 actor: str | None = None) -> None:
        super().__init__(conn)
        self.correlation_id = correlation_id
        self.actor = actor
        self.at = utc_now()
        self._head: tuple[int, str] | None = None

    def append_event(self, type_: str, entity_id: str, payload: dict[str, Any]) -> int:
        """Append an event to the hash chain; returns its sequence number."""
        if self._head is None:
            row = self.conn.execute(
                "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            self._head = (row[0], row[1]) if row else (0, GENESIS_HASH)
        prev_seq, prev_hash = self._head
        seq, text = prev_seq + 1, canonical_json(payload)
        digest = event_hash(prev_hash, seq, type_, entity_id, text, self.at, self.correlation_id,
                            self.actor)
        self.conn.execute(
            "INSERT INTO events (seq, type, entity_id, payload, at, correlation_id, prev_hash, "
            "hash, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, type_, entity_id, text, self.at, self.correlation_id, prev_hash, digest,
             self.actor),
        )
        self._head = (seq, digest)
        return seq

    def open_account(self, kind: str, user_id: str | None, currency: str) -> Account:
        """The account of that owner and currency, opened with a zero balance if new."""
        found = self.account(kind, user_id, currency)
        if found:
            return found
        row = self.conn.execute(
            "INSERT INTO accounts (kind, user_id, currency, updated_at) VALUES (?, ?, ?, ?) "
            "RETURNING id",
            (kind, user_id, currency, self.at),
        ).fetchone()
        return Account(int(row[0]), kind, user_id, currency, 0, 0)

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

    def set_limits(self, scope: str, currency: str, max_amount: int | None,
                   daily_amount: int | None, daily_count: int | None) -> None:
        """Set a scope's limits of one currency (None: no limit)."""
        self.conn.execute(
            "INSERT INTO limits (id, scope, currency, max_amount, daily_amount, daily_count, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
            "max_amount = excluded.max_amount, daily_amount = excluded.daily_amount, "
            "daily_count = excluded.daily_count, updated_at = excluded.updated_at",
            (f"{scope or '*'}/{currency}", scope, currency, max_amount, daily_amount,
             daily_count, self.at),
        )

    def insert_payment(self, payment: Payment) -> None:
        """Store a new payment."""
        self.conn.execute(
            f"INSERT INTO payments ({PAYMENT_COLUMNS}) VALUES ({', '.join('?' * 17)})",
            tuple(getattr(payment, f.strip()) for f in PAYMENT_COLUMNS.split(",")),
        )

    def insert_refund(self, refund: Refund) -> None:
        """Store a new refund."""
        self.conn.execute(
            f"INSERT INTO refunds ({REFUND_COLUMNS}) VALUES ({', '.join('?' * 15)})",
            tuple(getattr(refund, f.strip()) for f in REFUND_COLUMNS.split(",")),
        )

    def update(self, table: str, row_id: str, changes: dict[str, Any]) -> None:
        """Change some columns of a payment or refund row."""
        allowed = UPDATABLE[table]
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
        if table not in UPDATABLE:
            raise ValueError(table)
        cursor = self.conn.execute(
            f"UPDATE {table} SET owner = ? WHERE id = ? AND owner IS NOT DISTINCT FROM ?",
            (owner, row_id, expected_owner),
        )
        return cursor.rowcount == 1

    def insert_rows(self, table: str, columns: tuple[str, ...],
                    rows: Iterable[tuple[Any, ...]], batch: int = 2000) -> int:
        """Insert rows as they are, ids included (`db copy`); returns how many."""
        if table not in STREAMABLE:
            raise ValueError(table)
        sql = (f"INSERT INTO {table} ({', '.join(columns)}) "
               f"VALUES ({', '.join('?' * len(columns))})")
        count, chunk = 0, []
        for row in rows:
            chunk.append(row)
            if len(chunk) == batch:
                self.conn.executemany(sql, chunk)
                count, chunk = count + len(chunk), []
        if chunk:
            self.conn.executemany(sql, chunk)
        return count + len(chunk)
