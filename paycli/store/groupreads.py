"""The reads a group of payments starts with: rows by lists of keys (a group's
idempotency keys, orders, wallets, payments, holds), each list one IN list of at most
`IN_CHUNK` values, and the reads an opening or a settling needs sent together, in one
exchange where the engine can (PostgreSQL's pipeline; `sql.together`).

`GroupReads` is the part of `reads.Reader` that reads many rows at once; the one-row and
listing reads stay there. Its SQL is the dialect both engines share (`sql`); on PostgreSQL
an IN list goes as one array (`pg_connection`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from paycli.records import Account, Payment, Transfer
from paycli.store.sql import Connection, together

PAYMENT_COLUMNS = (
    "id, user_id, currency, amount, order_id, idempotency_key, gateway_key, status, "
    "gateway_ref, hold_id, refunded, refund_reserved, error_type, error_message, owner, "
    "created_at, updated_at, gateway"
)
TRANSFER_COLUMNS = ("id, kind, debit_account, credit_account, amount, currency, state, "
                    "reference, created_at, resolved_at")
ACCOUNT_COLUMNS = "id, kind, user_id, currency, balance, held"
IN_CHUNK = 500  # values in one IN list at most
IDEMPOTENCY_COLUMNS = ("key", "command", "fingerprint", "entity_id", "result", "exit_code")
ANY_LIMIT = "SELECT 1 FROM limits LIMIT 1"


class GroupReads:
    """Reads of many rows at once, on `conn` (a `Reader`'s)."""

    conn: Connection

    def _in(self, sql: str, values: list[Any], chunk: int = IN_CHUNK
            ) -> Iterator[tuple[Any, ...]]:
        """Rows of `sql` (whose `{in}` stands for an IN list) for every value of `values`,
        asked `chunk` values at a time."""
        for first in range(0, len(values), chunk):
            part = values[first:first + chunk]
            yield from self.conn.execute(sql.format(in_=", ".join("?" * len(part))),
                                         tuple(part))

    def _together(self, reads: list[tuple[str, list[Any]]]) -> list[list[tuple[Any, ...]]]:
        """The rows of several reads, each an `_in` read of its values (or, without
        `{in_}`, a plain one), sent in one exchange where the engine can (`together`).
        A read of more values than one IN list holds makes them go one by one."""
        if any(len(values) > IN_CHUNK for _, values in reads):
            return [list(self._in(sql, values)) if "{in_}" in sql else
                    self.conn.execute(sql).fetchall() for sql, values in reads]
        with together(self.conn):
            cursors = [None if "{in_}" in sql and not values else self.conn.execute(
                sql.format(in_=", ".join("?" * len(values))), tuple(values))
                for sql, values in reads]
        return [[] if cursor is None else cursor.fetchall() for cursor in cursors]

    def idempotency_of(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """`idempotency` of many keys at once: the stored rows of those that are used."""
        return _keys(self._in(_IDEMPOTENCY_OF, keys))

    def opening(self, keys: list[str], users: list[str]
                ) -> tuple[dict[str, dict[str, Any]], list[Account], bool]:
        """What opening payments reads first, sent together: `idempotency_of(keys)`,
        `accounts_of(users)` and `has_limits()`."""
        used, accounts, limits = self._together([
            (_IDEMPOTENCY_OF, keys), (_ACCOUNTS_OF, users), (ANY_LIMIT, [])])
        return _keys(used), [Account(*row) for row in accounts], bool(limits)

    def settling(self, payment_ids: list[str]
                 ) -> tuple[dict[str, Payment], dict[str, Transfer], list[Account]]:
        """Payments about to be settled, by id; then, sent together, the holds of those
        not yet final and their users' accounts (`accounts_of`: the wallets and the
        clearing accounts the holds move). Two exchanges, each by primary or owner key,
        whatever the ledger's size."""
        payments = self.payments_by_id(payment_ids)
        holds, accounts = self._together([
            (f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id IN ({{in_}})",
             [payment.hold_id for payment in payments.values()
              if payment.hold_id and not payment.is_final]),
            (_ACCOUNTS_OF, list(dict.fromkeys(payment.user_id
                                              for payment in payments.values())))])
        return (payments, {row[0]: Transfer(*row) for row in holds},
                [Account(*row) for row in accounts])

    def accounts_of(self, users: list[str]) -> list[Account]:
        """The wallets of those users in every currency, and the ledger's own accounts
        (funding and clearing, in every currency): all that a movement of their money can
        touch, in one query (per 500 users; the ledger's own accounts come with each)."""
        return [Account(*row) for row in self._in(_ACCOUNTS_OF, users)]

    def accounts_by_id(self, ids: list[int]) -> dict[int, Account]:
        """Those accounts, by id."""
        return {row[0]: Account(*row) for row in self._in(
            f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id IN ({{in_}})", ids)}

    def transfers_by_id(self, ids: list[str]) -> dict[str, Transfer]:
        """Those transfers, by id."""
        return {row[0]: Transfer(*row) for row in self._in(
            f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id IN ({{in_}})", ids)}

    def payments_by_id(self, ids: list[str]) -> dict[str, Payment]:
        """Those payments, by id."""
        return {row[0]: Payment(*row) for row in self._in(
            f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE id IN ({{in_}})", ids)}

    def attempts_of(self, order_ids: list[str]) -> dict[str, list[Payment]]:
        """The payments (attempts) of those orders, each order's oldest first."""
        found: dict[str, list[Payment]] = {order_id: [] for order_id in order_ids}
        for row in self._in(f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE order_id IN "
                            "({in_}) ORDER BY created_at, id", list(found)):
            found[row[4]].append(Payment(*row))
        return found


_IDEMPOTENCY_OF = (f"SELECT {', '.join(IDEMPOTENCY_COLUMNS)} FROM idempotency "
                   "WHERE key IN ({in_})")
_ACCOUNTS_OF = (f"SELECT {ACCOUNT_COLUMNS} FROM accounts "
                "WHERE kind = 'wallet' AND coalesce(user_id, '') IN ({in_}) UNION ALL "
                f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE kind IN ('clearing', 'funding')")


def _keys(rows: Iterable[tuple[Any, ...]]) -> dict[str, dict[str, Any]]:
    """Stored idempotency rows by key, each as a dict of its columns."""
    return {row[0]: dict(zip(IDEMPOTENCY_COLUMNS, row, strict=True)) for row in rows}
