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
from paycli.store.groupreads import PAYMENT_COLUMNS
from paycli.store.hashing import GENESIS_HASH, EventHasher, canonical_json, utc_now
from paycli.store.reads import (
    REFUND_COLUMNS,
    STREAMABLE,
    UPDATABLE,
    Reader,
)
from paycli.store.sql import Connection

# Columns written once: a later update passing a value leaves the first one standing.
KEPT = frozenset({"charge_ms", "charged_at"})


class Tx(Reader):
    """The writes of one transaction. Every state change goes with its event."""

    def __init__(self, conn: Connection, correlation_id: str | None,
                 actor: str | None = None, head: tuple[int, str] | None = None) -> None:
        super().__init__(conn)
        self.correlation_id = correlation_id
        self.actor = actor
        self.at = utc_now()
        # The chain head (`HEAD`), read at the first event unless the store read it with
        # the transaction's first statements (PostgreSQL, where a read is a round trip).
        self._head = head
        self._hasher = EventHasher(self.at, correlation_id, actor)
        self._events: list[tuple[Any, ...]] = []  # appended, not yet written: see `flush`

    def append_event(self, type_: str, entity_id: str, payload: dict[str, Any]) -> int:
        """Append an event to the hash chain; returns its sequence number."""
        return self.append_event_text(type_, entity_id, canonical_json(payload))

    def append_event_text(self, type_: str, entity_id: str, payload: str) -> int:
        """`append_event` of a payload already in canonical JSON.

        The event is chained (its sequence number and hash fixed) at once and written with
        the transaction's other events by `flush`, in one statement, before the commit."""
        if self._head is None:
            self._head = head_of(self.conn.execute(HEAD).fetchone())
        prev_seq, prev_hash = self._head
        seq = prev_seq + 1
        digest = self._hasher.hash(prev_hash, seq, type_, entity_id, payload)
        self._events.append((seq, type_, entity_id, payload, self.at, self.correlation_id,
                             prev_hash, digest, self.actor))
        self._head = (seq, digest)
        return seq

    def flush(self) -> None:
        """Write the events appended so far (the store calls it before committing)."""
        if self._events:
            self.conn.executemany(
                "INSERT INTO events (seq, type, entity_id, payload, at, correlation_id, "
                "prev_hash, hash, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", self._events)
            self._events = []

    def _now(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Rows with this transaction's time added last."""
        at = self.at
        return [(*row, at) for row in rows]

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

    def set_accounts(self, rows: list[tuple[int, int, int]]) -> None:
        """Store accounts' new balances and holds: (balance, held, account id) each."""
        self.conn.executemany(_SET_ACCOUNT, [(balance, held, self.at, account_id)
                                             for balance, held, account_id in rows])

    def insert_transfers(self, rows: list[tuple[Any, ...]]) -> None:
        """Record transfers between two accounts: (id, kind, debit account, credit account,
        amount, currency, state, reference, resolved at) each, created now."""
        self.conn.executemany(_INSERT_TRANSFER, self._now(rows))

    def resolve_transfers(self, rows: list[tuple[str, str]]) -> None:
        """Move pending transfers to `posted` or `voided`: (state, transfer id) each."""
        self.conn.executemany(_RESOLVE_TRANSFER, [(state, self.at, transfer_id)
                                                  for state, transfer_id in rows])

    def add_entries(self, rows: list[tuple[Any, ...]]) -> None:
        """Add statement lines, each showing its account as it stood after its movement:
        (account id, transfer id, type, amount, balance after, held after, reference) each,
        in the order they happened."""
        self.conn.executemany(_ADD_ENTRY, self._now(rows))

    def put_idempotencies(self, rows: list[tuple[Any, ...]]) -> None:
        """Remember idempotency keys with their requests and (once known) results: (key,
        command, fingerprint, entity id, result, exit code) each."""
        self.conn.executemany(_PUT_IDEMPOTENCY, self._now(rows))

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

    def insert_payments(self, payments: list[Payment]) -> None:
        """Store new payments."""
        self.conn.executemany(_INSERT_PAYMENT, payments)

    def insert_refund(self, refund: Refund) -> None:
        """Store a new refund."""
        self.conn.execute(
            f"INSERT INTO refunds ({REFUND_COLUMNS}) VALUES ({', '.join('?' * 15)})",
            tuple(getattr(refund, f.strip()) for f in REFUND_COLUMNS.split(",")),
        )

    def update(self, table: str, row_id: str, changes: dict[str, Any]) -> None:
        """Change some columns of a payment or refund row."""
        self.update_many(table, tuple(changes), [(*changes.values(), row_id)])

    def update_many(self, table: str, columns: tuple[str, ...],
                    rows: list[tuple[Any, ...]]) -> None:
        """Change the same columns of many payment or refund rows: each row the new
        values in `columns`' order, then the row's id."""
        unknown = set(columns) - UPDATABLE[table]
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)} of {table}")
        assignments = ", ".join(f"{column} = coalesce({column}, ?)" if column in KEPT
                                else f"{column} = ?" for column in columns)
        at = self.at
        self.conn.executemany(f"UPDATE {table} SET {assignments}, updated_at = ? WHERE id = ?",
                              [(*row[:-1], at, row[-1]) for row in rows])

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


HEAD = "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"


def head_of(row: Any) -> tuple[int, str]:
    """The chain head from `HEAD`'s row: the last event's sequence number and hash, or the
    genesis of an empty log."""
    return (int(row[0]), str(row[1])) if row else (0, GENESIS_HASH)


# The statements a transaction runs for its rows, one or many (`executemany`).
_SET_ACCOUNT = "UPDATE accounts SET balance = ?, held = ?, updated_at = ? WHERE id = ?"
_INSERT_TRANSFER = (
    "INSERT INTO transfers (id, kind, debit_account, credit_account, amount, currency, state, "
    "reference, resolved_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_RESOLVE_TRANSFER = ("UPDATE transfers SET state = ?, resolved_at = ? WHERE id = ? "
                     "AND state = 'pending'")
_ADD_ENTRY = ("INSERT INTO entries (account_id, transfer_id, type, amount, balance, held, "
              "reference, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
_PUT_IDEMPOTENCY = ("INSERT INTO idempotency (key, command, fingerprint, entity_id, result, "
                    "exit_code, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
# A Payment is a tuple of its columns, in this order.
_INSERT_PAYMENT = f"INSERT INTO payments ({PAYMENT_COLUMNS}) VALUES ({', '.join('?' * 18)})"
