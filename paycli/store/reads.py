"""The read queries of the ledger: `Reader`, on a connection or inside a transaction.

Hand-written SQL in the dialect SQLite and PostgreSQL share (see `sql`): prepared point
reads on the hot path (one account, one payment), and the filtered listings built from
fixed column names, their values always passed as parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from paycli.records import (
    Account,
    BreakerState,
    BreakerStatus,
    Entry,
    Event,
    Limits,
    Payment,
    Refund,
    Transfer,
)
from paycli.store.groupreads import (
    ANY_LIMIT,
    IDEMPOTENCY_COLUMNS,
    PAYMENT_COLUMNS,
    GroupReads,
)
from paycli.store.sql import Connection

REFUND_COLUMNS = (
    "id, payment_id, currency, amount, reason, idempotency_key, gateway_key, status, "
    "gateway_ref, transfer_id, error_type, error_message, owner, created_at, updated_at"
)
UPDATABLE = {
    "payments": frozenset({"status", "gateway_ref", "hold_id", "refunded", "refund_reserved",
                           "error_type", "error_message", "owner", "gateway", "charge_ms",
                           "charged_at"}),
    "refunds": frozenset({"status", "gateway_ref", "transfer_id", "error_type",
                          "error_message", "owner"}),
}
UNFINISHED = "status IN ('PENDING', 'PROCESSING')"
STREAMABLE = frozenset({"accounts", "transfers", "entries", "events", "idempotency",
                        "payments", "refunds", "breaker", "limits", "webhook_endpoints",
                        "webhook_deliveries", "gateway_webhooks"})
LIMIT_COLUMNS = "scope, currency, max_amount, daily_amount, daily_count, updated_at"


class Reader(GroupReads):
    """The read queries of the ledger."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _where(self, table: str, columns: str, filters: list[tuple[str, str, Any]],
               order: str, limit: int | None = None, extra: str | None = None
               ) -> list[dict[str, Any]]:
        """Rows of `table` matching every (column, operator, value) whose value is set."""
        clauses = [f"{column} {op} ?" for column, op, value in filters if value is not None]
        args: list[Any] = [value for _, _, value in filters if value is not None]
        if extra:
            clauses.append(extra)
        sql = f"SELECT {columns} FROM {table}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += f" ORDER BY {order}"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        cursor = self.conn.execute(sql, tuple(args))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def account(self, kind: str, user_id: str | None, currency: str) -> Account | None:
        """The account of that owner and currency, or None if never opened."""
        row = self.conn.execute(
            "SELECT id, kind, user_id, currency, balance, held FROM accounts "
            "WHERE kind = ? AND coalesce(user_id, '') = ? AND currency = ?",
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

    def entry_of(self, account_id: int, transfer_id: str) -> Entry | None:
        """An account's statement line of a transfer, or None."""
        row = self.conn.execute(
            "SELECT seq, at, type, amount, balance, held, transfer_id, reference FROM entries "
            "WHERE account_id = ? AND transfer_id = ?",
            (account_id, transfer_id),
        ).fetchone()
        return Entry(*row) if row else None

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
            f"SELECT {', '.join(IDEMPOTENCY_COLUMNS)} FROM idempotency WHERE key = ?", (key,),
        ).fetchone()
        return None if row is None else dict(zip(IDEMPOTENCY_COLUMNS, row, strict=True))

    def has_limits(self) -> bool:
        """Whether any limit is set at all (when none is, no payment needs checking)."""
        return self.conn.execute(ANY_LIMIT).fetchone() is not None

    def payment(self, payment_id: str) -> Payment | None:
        """A payment, or None."""
        row = self.conn.execute(
            f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = ?", (payment_id,)
        ).fetchone()
        return Payment(*row) if row else None

    def payments(self, *, user_id: str | None = None, status: str | None = None,
                 currency: str | None = None, since: str | None = None,
                 until: str | None = None, limit: int | None = None,
                 gateway: str | None = None) -> list[Payment]:
        """Payments matching every filter given, newest first."""
        rows = self._where("payments", PAYMENT_COLUMNS, [
            ("user_id", "=", user_id), ("status", "=", status), ("currency", "=", currency),
            ("created_at", ">=", since), ("created_at", "<", until), ("gateway", "=", gateway)],
            "created_at DESC, id DESC", limit)
        return [Payment(**row) for row in rows]

    def unfinished_payments(self) -> list[Payment]:
        """Payments whose saga has not ended, oldest first."""
        rows = self._where("payments", PAYMENT_COLUMNS, [], "created_at", extra=UNFINISHED)
        return [Payment(**row) for row in rows]

    def refund(self, refund_id: str) -> Refund | None:
        """A refund, or None."""
        row = self.conn.execute(
            f"SELECT {REFUND_COLUMNS} FROM refunds WHERE id = ?", (refund_id,)
        ).fetchone()
        return Refund(*row) if row else None

    def refunds(self, payment_id: str) -> list[Refund]:
        """The refunds of a payment, oldest first."""
        rows = self.conn.execute(
            f"SELECT {REFUND_COLUMNS} FROM refunds WHERE payment_id = ? ORDER BY created_at",
            (payment_id,),
        )
        return [Refund(*row) for row in rows]

    def ids_starting(self, table: str, prefix: str, limit: int = 50) -> list[str]:
        """Payment or refund ids that start with `prefix`, newest first (for completion)."""
        if table not in UPDATABLE:
            raise ValueError(table)
        rows = self.conn.execute(
            f"SELECT id FROM {table} WHERE substr(id, 1, ?) = ? ORDER BY created_at DESC "
            "LIMIT ?", (len(prefix), prefix, limit))
        return [row[0] for row in rows]

    def refund_rows(self, *, status: str | None = None, payment_id: str | None = None,
                    limit: int | None = None) -> list[Refund]:
        """Refunds matching every filter given, newest first."""
        rows = self._where("refunds", REFUND_COLUMNS, [
            ("status", "=", status), ("payment_id", "=", payment_id)],
            "created_at DESC, id DESC", limit)
        return [Refund(**row) for row in rows]

    def unfinished_refunds(self) -> list[Refund]:
        """Refunds whose saga has not ended, oldest first."""
        rows = self._where("refunds", REFUND_COLUMNS, [], "created_at", extra=UNFINISHED)
        return [Refund(**row) for row in rows]

    def events_of(self, entity_id: str) -> list[Event]:
        """The events about one entity, oldest first."""
        rows = self.conn.execute(
            "SELECT seq, type, entity_id, payload, at, correlation_id, prev_hash, hash, actor "
            "FROM events WHERE entity_id = ? ORDER BY seq",
            (entity_id,),
        )
        return [Event(*row) for row in rows]

    def events(self, after_seq: int = 0, batch: int = 5000) -> Iterator[Event]:
        """Every event from `after_seq` on, oldest first, streamed in batches."""
        while True:
            rows = self.conn.execute(
                "SELECT seq, type, entity_id, payload, at, correlation_id, prev_hash, hash, actor "
                "FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, batch),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield Event(*row)
            after_seq = rows[-1][0]

    def limits(self, scope: str | None = None) -> list[Limits]:
        """The limits set, for one scope (`''` the default) or all, by scope and currency."""
        where, args = ("WHERE scope = ?", (scope,)) if scope is not None else ("", ())
        rows = self.conn.execute(
            f"SELECT {LIMIT_COLUMNS} FROM limits {where} ORDER BY scope, currency", args)
        return [Limits(*row) for row in rows]

    def limits_of(self, user: str, currency: str) -> tuple[Limits | None, Limits | None]:
        """A wallet's own limits and the default ones, of one currency (None if unset)."""
        rows = self.conn.execute(
            f"SELECT {LIMIT_COLUMNS} FROM limits WHERE scope IN (?, '') AND currency = ?",
            (user, currency)).fetchall()
        found = {row[0]: Limits(*row) for row in rows}
        return found.get(user), found.get("")

    def day_usage(self, user: str, currency: str, since: str, leaving_out: str | None
                  ) -> tuple[int, int]:
        """How many payments a wallet made since `since` (UTC ISO time), and their sum:
        those holding or having taken money (a hold and not FAILED), but `leaving_out`."""
        row = self.conn.execute(
            "SELECT count(*), coalesce(sum(amount), 0) FROM payments WHERE user_id = ? "
            "AND currency = ? AND created_at >= ? AND status <> 'FAILED' "
            "AND hold_id IS NOT NULL AND id <> ?",
            (user, currency, since, leaving_out or ""),
        ).fetchone()
        return int(row[0]), int(row[1])

    def payments_with_refunds(self, batch: int = 2000
                              ) -> Iterator[tuple[Payment, list[Refund]]]:
        """Every payment in id order with its refunds (oldest first), streamed in batches
        (keyset pages, never a long cursor), for a merge against a report sorted the same
        way: ids compare by their bytes."""
        after = ""
        while True:
            rows = self.conn.execute(
                f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE id > ? ORDER BY id LIMIT ?",
                (after, batch),
            ).fetchall()
            if not rows:
                return
            page = [Payment(*row) for row in rows]
            refunds: dict[str, list[Refund]] = {}
            for row in self.conn.execute(
                f"SELECT {REFUND_COLUMNS} FROM refunds WHERE payment_id BETWEEN ? AND ? "
                "ORDER BY payment_id, created_at, id",
                (page[0].id, page[-1].id),
            ):
                refunds.setdefault(row[1], []).append(Refund(*row))
            yield from ((payment, refunds.get(payment.id, [])) for payment in page)
            after = page[-1].id

    def stream(self, table: str, columns: tuple[str, ...], key: str, batch: int = 5000
               ) -> Iterator[tuple[Any, ...]]:
        """Every row of `table` (those `columns`) in `key` order, fetched `batch` at a time
        by key (so a large table is never held whole, on either engine)."""
        if table not in STREAMABLE:
            raise ValueError(table)
        select = f"SELECT {', '.join(columns)} FROM {table}"
        at = columns.index(key)
        rows = self.conn.execute(f"{select} ORDER BY {key} LIMIT ?", (batch,)).fetchall()
        while rows:
            yield from (tuple(row) for row in rows)
            rows = self.conn.execute(f"{select} WHERE {key} > ? ORDER BY {key} LIMIT ?",
                                     (rows[-1][at], batch)).fetchall()

    def event_count(self) -> int:
        """How many events the log holds."""
        return int(self.conn.execute("SELECT count(*) FROM events").fetchone()[0])

    def is_empty(self) -> bool:
        """Whether nothing was ever written: no event, account, payment or idempotency key."""
        return not any(self.conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone()
                       for table in ("events", "accounts", "payments", "idempotency"))

    def breaker(self, name: str = "gateway") -> BreakerState:
        """The shared circuit breaker's state (closed with no failures if never used)."""
        row = self.conn.execute(
            "SELECT state, failures, opened_at, probe_started FROM breaker WHERE name = ?",
            (name,),
        ).fetchone()
        return BreakerState(*row) if row else BreakerState(BreakerStatus.CLOSED, 0, None, None)

    def rows(self, sql_name: str, batch: int = 2000) -> Iterator[tuple[list[str], tuple[Any, ...]]]:
        """Stream one of the export queries as (column names, row) pairs."""
        cursor = self.conn.execute(EXPORT_QUERIES[sql_name])
        names = [d[0] for d in cursor.description]
        while chunk := cursor.fetchmany(batch):
            for row in chunk:
                yield names, row

    def row_count(self, sql_name: str) -> int:
        """How many rows one of the export queries streams."""
        sql = f"SELECT count(*) FROM ({EXPORT_QUERIES[sql_name]}) AS listed"
        return int(self.conn.execute(sql).fetchone()[0])


# The actor of a record is who made its last change: the actor of its newest event.
_LAST_ACTOR = ("(SELECT e.actor FROM events e WHERE e.entity_id = {table}.id "
               "ORDER BY e.seq DESC LIMIT 1) AS actor")
EXPORT_QUERIES = {
    "payments": (f"SELECT {PAYMENT_COLUMNS}, {_LAST_ACTOR.format(table='payments')} "
                 "FROM payments ORDER BY created_at, id"),
    "refunds": (
        "SELECT " + ", ".join(f"r.{name.strip()}" for name in REFUND_COLUMNS.split(","))
        + ", p.user_id, " + _LAST_ACTOR.format(table="r")
        + " FROM refunds r JOIN payments p ON p.id = r.payment_id "
        "ORDER BY r.created_at, r.id"
    ),
    "transfers": (
        "SELECT t.id, t.kind, t.state, t.amount, t.currency, d.kind AS debit_kind, "
        "d.user_id AS debit_user, c.kind AS credit_kind, c.user_id AS credit_user, "
        "t.reference, t.created_at, t.resolved_at, " + _LAST_ACTOR.format(table="t")
        + " FROM transfers t "
        "JOIN accounts d ON d.id = t.debit_account JOIN accounts c ON c.id = t.credit_account "
        "ORDER BY t.created_at, t.id"
    ),
}

