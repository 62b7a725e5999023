"""The one description of the ledger's tables (`paycli.store.tables`) is what every engine
and the replay use: a new ledger has exactly the described columns on both engines, and
a column added to the description reaches both engines' DDL, the replay's scratch tables
and comparisons, and `db copy`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest
from pg_server import Server

from paycli.store import Store
from paycli.store.comparisons import COMPARISONS, STORED, comparison_of, scratch_table
from paycli.store.copy import TABLES as COPIED
from paycli.store.describe import Column, Index, Table, create_index, create_table
from paycli.store.pg_schema import POSTGRES
from paycli.store.schema import SQLITE
from paycli.store.tables import PAYMENTS, TABLES

DESCRIBED = {table.name: table.column_names for table in TABLES}


def with_note(compared: bool = False) -> Table:
    """The payments table as described, plus a `note` column, compared by the replay or
    not."""
    return PAYMENTS._replace(columns=(*PAYMENTS.columns, Column("note", compared=compared)))


class TestNewLedgers:
    def test_sqlite_has_exactly_the_described_columns(self, tmp_path: Path) -> None:
        """Every described table, and no other, with its columns in the described order."""
        Store(str(tmp_path / "l.db")).close()
        conn = sqlite3.connect(tmp_path / "l.db")
        try:
            names = [row[0] for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")]
            found = {name: tuple(row[1] for row in conn.execute(f"PRAGMA table_info({name})"))
                     for name in names}
        finally:
            conn.close()
        assert found == DESCRIBED

    def test_postgresql_has_exactly_the_described_columns(self, pg: Server) -> None:
        """The same tables and columns on PostgreSQL, beside its marker table."""
        url = pg.create()
        try:
            Store(url).close()
            with psycopg.connect(url) as conn:
                rows = conn.execute(
                    "SELECT table_name, column_name FROM information_schema.columns WHERE "
                    "table_schema = current_schema() ORDER BY table_name, ordinal_position"
                ).fetchall()
        finally:
            pg.drop(url)
        found: dict[str, tuple[str, ...]] = {}
        for table, column in rows:
            found[table] = (*found.get(table, ()), column)
        assert found.pop("paycli_ledger") == ("application_id", "schema_version", "singleton")
        assert found == DESCRIBED


class TestOneEdit:
    def test_a_column_reaches_both_engines(self) -> None:
        """A described money column is INTEGER on SQLite and BIGINT on PostgreSQL."""
        table = PAYMENTS._replace(columns=(
            *PAYMENTS.columns, Column("tip", "bigint", not_null=True, default="0")))
        assert "\n    tip INTEGER NOT NULL DEFAULT 0,\n" in create_table(table, SQLITE)
        assert "\n    tip BIGINT NOT NULL DEFAULT 0,\n" in create_table(table, POSTGRES)

    def test_a_partial_index_is_spelled_for_both_engines(self) -> None:
        """An index with `where` keeps only the rows it holds for (one statement for both)."""
        index = Index("payments_order", ("order_id",), unique=True, where="order_id IS NOT NULL")
        assert create_index(PAYMENTS, index) == ("CREATE UNIQUE INDEX payments_order ON payments "
                                                 "(order_id) WHERE order_id IS NOT NULL;\n")
        conn = sqlite3.connect(":memory:")
        conn.executescript(create_table(PAYMENTS, SQLITE) + create_index(PAYMENTS, index))
        insert = ("INSERT INTO payments (id, user_id, currency, amount, order_id, gateway_key, "
                  "status, created_at, updated_at) VALUES (?, 'u', 'USD', 1, ?, 'g', 'PENDING', "
                  "'t', 't')")
        for row in (("p1", None), ("p2", None), ("p3", "o1")):
            conn.execute(insert, row)
        with pytest.raises(sqlite3.IntegrityError, match="order_id"):
            conn.execute(insert, ("p4", "o1"))

    def test_a_compared_column_is_rebuilt_and_compared(self) -> None:
        """Marked `compared`, a column is in the replay's scratch table and both SELECTs."""
        table = with_note(compared=True)
        assert "note TEXT,\n" in scratch_table(table)
        comparison = comparison_of(table)
        assert comparison.fields[-1] == "note"
        assert "note FROM stored.payments" in comparison.stored
        assert "note FROM main.payments" in comparison.replayed

    def test_an_unmarked_column_is_left_to_the_ledger(self) -> None:
        """Without a mark the replay neither rebuilds nor compares it."""
        table = with_note()
        assert "note" not in scratch_table(table)
        assert "note" not in comparison_of(table).fields

    def test_db_copy_and_replay_follow_the_description(self) -> None:
        """`db copy` copies every described column of every table but the derived ones
        (the target's triggers make those); the replay compares what is marked."""
        derived = {table.name for table in TABLES if table.derived}
        assert derived == {"payment_hours", "charge_hours"}
        assert {name: columns for name, columns, _ in COPIED} == {
            name: columns for name, columns in DESCRIBED.items() if name not in derived}
        compared = {c.name for c in PAYMENTS.columns if c.compared}
        payment = next(c for c in COMPARISONS if c.entity == "payment")
        assert set(payment.fields) == compared and compared <= set(STORED["payments"])
