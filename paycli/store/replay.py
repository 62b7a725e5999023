"""The replay's database: `ReplayStore`, the scratch store `replay-events` rebuilds the
ledger in, and the SQL that rebuilds it and runs the comparisons.

A scratch SQLite file (so memory stays flat whatever the ledger's size) is rebuilt from
the event log, the stored ledger attached read-only as `stored`; comparing the two is a
handful of SQL joins. Its tables, what is compared and how are made by `comparisons` from
the one description of the ledger's tables. A PostgreSQL ledger's compared tables are
copied from one read snapshot into a scratch `stored` of the same shape, its events
streamed from it: the same SQL on both backends.

Invariants:
- The stored ledger is attached with `mode=ro` (a PostgreSQL one only read, in a
  `READ ONLY` transaction): replaying can never change it.
- Streaming the events, rebuilding and comparing all run in one read transaction, so the
  events and the tables they are compared with are one snapshot, even while other paycli
  processes keep writing.
- The rebuilt state is keyed by what the events carry: transfers, payments and refunds by
  id. Amounts are integer minor units; the tables are STRICT, so a payload carrying a
  wrong type is refused rather than stored.
- Accounts are not written event by event: double entry makes every balance the sum of
  the posted transfers into the account less those out of it, and its holds the sum of
  its pending outgoing transfers. So `derive_accounts` fills `accounts` from the replayed
  transfers once they are all applied, keyed by (kind, user, currency) with `''` as the
  user of an external account. An account exists once a transfer touches it, exactly as
  the ledger opens it.
- An event that cannot be applied (its row missing, already there, or already resolved)
  raises `NotApplicable` and changes nothing.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from paycli.errors import UsageError
from paycli.records import Event
from paycli.store import summaries
from paycli.store.base import Store
from paycli.store.comparisons import (
    CHANGEABLE,
    SCRATCH_SCHEMA,
    STORED,
    STORED_KEYS,
    Comparison,
    Difference,
    difference_sql,
)
from paycli.store.reads import Reader

_DERIVE_ACCOUNTS = """
INSERT INTO accounts (kind, user_id, currency, balance, held)
SELECT kind, user_id, currency, sum(balance), sum(held) FROM (
    SELECT credit_kind AS kind, credit_user AS user_id, currency,
           iif(state = 'posted', amount, 0) AS balance, 0 AS held FROM transfers
    UNION ALL
    SELECT debit_kind, debit_user, currency, iif(state = 'posted', -amount, 0),
           iif(state = 'pending', amount, 0) FROM transfers
) GROUP BY kind, user_id, currency
"""


class NotApplicable(Exception):
    """An event that the replayed state cannot take (the message says why)."""


def _read_only_uri(path: str) -> str:
    if path == ":memory:":
        raise UsageError("replay-events needs a ledger file, not an in-memory database")
    return Path(path).resolve().as_uri() + "?mode=ro"


_SCRATCH = "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"  # thrown away after


class ReplayStore:
    """A scratch database of replayed state beside the stored ledger (read-only): a file
    in a private temporary folder, neither journaled nor synced, removed on `close`."""

    def __init__(self, ledger: Store) -> None:
        stored = _read_only_uri(ledger.path) if ledger.backend == "sqlite" else None
        self._folder = tempfile.TemporaryDirectory(prefix="paycli-replay-")
        scratch = Path(self._folder.name)
        self.conn = sqlite3.connect(scratch / "replayed.db", isolation_level=None,
                                    check_same_thread=False)
        self.conn.executescript(_SCRATCH + SCRATCH_SCHEMA)
        self.ledger = ledger
        self.source: Reader | None = None  # a server ledger's snapshot, while in snapshot()
        self.conn.execute("ATTACH DATABASE ? AS stored", (stored or str(scratch / "s.db"),))
        if stored is None:
            self.conn.executescript(_SCRATCH.replace("PRAGMA ", "PRAGMA stored."))
            for table, columns in STORED.items():
                self.conn.execute(f"CREATE TABLE stored.{table} ({', '.join(columns)})")

    def close(self) -> None:
        """Drop the replayed state and detach the ledger."""
        self.conn.close()
        self._folder.cleanup()

    def __enter__(self) -> ReplayStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """One transaction: the stored ledger is read as of its first read inside."""
        self.conn.execute("BEGIN")
        try:
            if self.ledger.backend == "sqlite":
                yield
            else:
                with self.ledger.snapshot() as source:
                    self._copy_stored(source)
                    self.source = source
                    yield
        finally:
            self.source = None
            self.conn.execute("ROLLBACK")  # the replayed state is thrown away anyway

    def _copy_stored(self, source: Reader) -> None:
        """The compared tables of a server ledger, copied from its snapshot."""
        for table, columns in STORED.items():
            marks = ", ".join("?" * len(columns))
            self.conn.executemany(f"INSERT INTO stored.{table} VALUES ({marks})",
                                  source.stream(table, columns, columns[0]))
        for table, keys in STORED_KEYS.items():  # indexed as the ledger's own tables are
            for key in keys:
                self.conn.execute(f"CREATE UNIQUE INDEX stored.{table}_{'_'.join(key)} "
                                  f"ON {table} ({', '.join(key)})")

    # Reading the stored log.

    def event_count(self) -> int:
        """How many events the stored log holds."""
        if self.source is not None:
            return self.source.event_count()
        return int(self.conn.execute("SELECT count(*) FROM stored.events").fetchone()[0])

    def events(self, batch: int = 5000) -> Iterator[Event]:
        """Every stored event, oldest first, fetched `batch` at a time."""
        if self.source is not None:
            yield from self.source.events(batch=batch)
            return
        cursor = self.conn.execute(
            "SELECT seq, type, entity_id, payload, at, correlation_id, prev_hash, hash, actor "
            "FROM stored.events ORDER BY seq"
        )
        while rows := cursor.fetchmany(batch):
            for row in rows:
                yield Event(*row)

    # Rebuilding.

    def add_transfer(self, transfer_id: str, kind: str, state: str, amount: int,
                     currency: str, debit: tuple[str, str], credit: tuple[str, str]) -> None:
        """Record a transfer; `debit` and `credit` are (account kind, user or '')."""
        self._run(
            "INSERT INTO transfers (id, kind, state, amount, currency, debit_kind, debit_user, "
            "credit_kind, credit_user) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (transfer_id, kind, state, amount, currency, *debit, *credit),
        )

    def resolve_transfer(self, transfer_id: str, state: str) -> None:
        """Move a pending transfer to `state` (`posted` or `voided`)."""
        cursor = self.conn.execute(
            "UPDATE transfers SET state = ? WHERE id = ? AND state = 'pending'",
            (state, transfer_id),
        )
        if cursor.rowcount != 1:
            raise NotApplicable(f"no pending transfer {transfer_id}")

    def add_payment(self, payment_id: str, user: str, currency: str, amount: int,
                    gateway: str = "default") -> None:
        """A new PENDING payment, at its gateway."""
        self._run(
            "INSERT INTO payments (id, user_id, currency, amount, status, refunded, "
            "refund_reserved, gateway) VALUES (?, ?, ?, ?, 'PENDING', 0, 0, ?)",
            (payment_id, user, currency, amount, gateway),
        )

    def add_refund(self, refund_id: str, payment_id: str, currency: str, amount: int) -> None:
        """A new PENDING refund; it starts with its payment's gateway reference."""
        cursor = self._run(
            "INSERT INTO refunds (id, payment_id, currency, amount, status, gateway_ref) "
            "SELECT ?, id, ?, ?, 'PENDING', gateway_ref FROM payments WHERE id = ?",
            (refund_id, currency, amount, payment_id),
        )
        if cursor.rowcount != 1:
            raise NotApplicable(f"refund {refund_id} of unknown payment {payment_id}")

    def set_limits(self, scope: str, currency: str, max_amount: int | None,
                   daily_amount: int | None, daily_count: int | None) -> None:
        """A scope's limits of one currency, as its newest `limits.set` event states."""
        self._run(
            "INSERT INTO limits (scope, currency, max_amount, daily_amount, daily_count) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, currency) DO "
            "UPDATE SET max_amount = excluded.max_amount, daily_amount = "
            "excluded.daily_amount, daily_count = excluded.daily_count",
            (scope, currency, max_amount, daily_amount, daily_count),
        )

    def change(self, table: str, row_id: str, changes: Mapping[str, Any]) -> None:
        """Apply an event's column changes to a payment or refund."""
        cursor = self._run(_update_sql(table, tuple(changes)), (*changes.values(), row_id))
        if cursor.rowcount != 1:
            raise NotApplicable(f"no {table[:-1]} {row_id}")

    def charged(self, payment_id: str, took_ms: float, at: str) -> None:
        """A payment's charge time, from a settle event: the first one stands, as the
        ledger's own settle writes it (`store.writes.KEPT`)."""
        self._run("UPDATE payments SET charge_ms = coalesce(charge_ms, ?), "
                  "charged_at = coalesce(charged_at, ?) WHERE id = ?",
                  (took_ms, at, payment_id))

    def _run(self, sql: str, args: tuple[Any, ...]) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, args)
        except sqlite3.IntegrityError as exc:
            raise NotApplicable(str(exc)) from None
        except (sqlite3.InterfaceError, sqlite3.ProgrammingError, OverflowError) as exc:
            raise NotApplicable(f"unusable value ({exc})") from None

    # Comparing.

    def derive_accounts(self) -> None:
        """Every account's balance and holds, summed from the replayed transfers."""
        self.conn.execute("DELETE FROM accounts")
        self.conn.execute(_DERIVE_ACCOUNTS)

    def summary_differences(self) -> Iterator[Difference]:
        """The hourly summary rows that differ from a grouping of the stored payments
        (`summaries.checks`), read in the same snapshot: a few rows a day, diffed here."""
        if self.source is not None:
            conn, checks = self.source.conn, summaries.checks("", "postgresql")
        else:
            conn, checks = self.conn, summaries.checks("stored.", "sqlite")
        for check in checks:
            stored, derived = (_keyed(conn.execute(sql).fetchall(), len(check.keys))
                               for sql in (check.stored, check.derived))
            columns = (*check.keys, *check.fields)
            for key in sorted(stored.keys() | derived.keys()):
                if stored.get(key) != derived.get(key):
                    yield Difference(check.entity, key, *(
                        dict(zip(columns, (*key, *side[key]), strict=True))
                        if key in side else None for side in (stored, derived)))

    def differences(self, comparison: Comparison) -> Iterator[Difference]:
        """The entities of one kind whose stored and replayed rows differ or are missing."""
        columns = (*comparison.keys, *comparison.fields)
        for row in self.conn.execute(difference_sql(comparison)):
            in_stored, in_replay = row[0], row[1]
            stored, replayed = row[2:2 + len(columns)], row[2 + len(columns):]
            yield Difference(
                comparison.entity,
                tuple(stored if in_stored else replayed)[:len(comparison.keys)],
                dict(zip(columns, stored, strict=True)) if in_stored else None,
                dict(zip(columns, replayed, strict=True)) if in_replay else None,
            )


def _keyed(rows: list[Any], keys: int) -> dict[tuple[Any, ...], tuple[int, ...]]:
    """Rows as {key columns: counted fields}, the counts as ints (PostgreSQL sums are
    numeric)."""
    return {tuple(row[:keys]): tuple(int(value) for value in row[keys:]) for row in rows}


@functools.cache
def _update_sql(table: str, columns: tuple[str, ...]) -> str:
    """The UPDATE for one set of changed columns (few sets exist, so each is built once)."""
    unknown = set(columns) - CHANGEABLE[table]
    if unknown or not columns:
        raise NotApplicable(f"cannot change {sorted(unknown) or 'nothing'} of {table}")
    assignments = ", ".join(f"{column} = ?" for column in columns)
    return f"UPDATE {table} SET {assignments} WHERE id = ?"
