"""The ledger's schema and its migrations: every table, column, index and trigger the
invariants rely on is there after a fresh create and after migrating an older ledger
(read back through sqlite-utils' introspection); and on both engines, a ledger of every
earlier version, once migrated, has exactly the schema of a new one made from the one
description of the tables."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from helpers import run
from old_ledgers import postgres_ledger, sqlite_ledger
from pg_server import Server
from sqlite_utils import Database

from paycli.errors import LedgerCorrupt
from paycli.store import Store, schema
from paycli.store.identity import APPLICATION_ID, SCHEMA_VERSION

TABLES = {"accounts", "transfers", "entries", "events", "idempotency", "payments", "refunds",
          "breaker", "limits", "webhook_endpoints", "webhook_deliveries", "gateway_webhooks",
          "payment_hours", "charge_hours"}
TRIGGERS = {"events_no_update", "events_no_delete", "events_no_replace"}


def introspect(path: Path) -> Database:
    """sqlite-utils over a plain connection to the ledger file."""
    return Database(sqlite3.connect(path), recursive_triggers=False, execute_plugins=False)


@pytest.fixture
def version_one(db_path: Path) -> Path:
    """A ledger as schema version 1 left it (before the REPLACE guard), with one event."""
    sqlite_ledger(db_path, 1)
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("INSERT INTO events (seq, type, entity_id, payload, at, prev_hash, hash) "
                 "VALUES (1, 't', 'e', '{}', 'now', '0', 'h')")
    conn.close()
    return db_path


class TestFreshLedger:
    def test_every_table_is_created_strict(self, store: Store, db_path: Path) -> None:
        """The fourteen tables exist, each STRICT (a wrong type is refused, not stored)."""
        db = introspect(db_path)
        assert set(db.table_names()) == TABLES
        assert all(db[name].strict for name in TABLES)

    def test_money_columns_are_integers(self, store: Store, db_path: Path) -> None:
        """Amounts and balances are INTEGER minor units, never REAL."""
        db = introspect(db_path)
        assert {db["accounts"].columns_dict[c] for c in ("balance", "held")} == {int}
        assert db["payments"].columns_dict["amount"] is int
        assert db["refunds"].columns_dict["amount"] is int
        assert db["transfers"].columns_dict["amount"] is int
        assert {db["limits"].columns_dict[c] for c in ("max_amount", "daily_amount")} == {int}

    def test_the_event_log_is_guarded_by_triggers(self, store: Store, db_path: Path) -> None:
        """UPDATE, DELETE and REPLACE on events are refused by triggers."""
        db = introspect(db_path)
        assert {trigger.name for trigger in db["events"].triggers} == TRIGGERS

    def test_the_listing_indexes_exist(self, store: Store, db_path: Path) -> None:
        """The filtered listings and the timeline have their indexes."""
        db = introspect(db_path)
        payments = {tuple(index.columns) for index in db["payments"].indexes}
        assert {("created_at",), ("user_id", "created_at"), ("status", "created_at")} <= payments
        assert ("entity_id", "seq") in {tuple(i.columns) for i in db["events"].indexes}

    def test_version_and_application_are_recorded(self, store: Store, db_path: Path) -> None:
        """`user_version` is the schema version and `application_id` marks a paycli ledger."""
        db = introspect(db_path)
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


class TestMigration:
    def test_a_version_one_ledger_is_migrated_in_place(self, version_one: Path) -> None:
        """Opening a v1 ledger adds the REPLACE guard and keeps its events."""
        assert "events_no_replace" not in {t.name for t in introspect(version_one)["events"]
                                           .triggers}
        with Store(str(version_one)):
            pass
        db = introspect(version_one)
        assert {trigger.name for trigger in db["events"].triggers} == TRIGGERS
        assert db["events"].count == 1
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION

    def test_a_version_three_ledger_gains_the_limits_table(self, version_one: Path) -> None:
        """Migrating an older ledger adds `limits`, empty: no limit until one is set."""
        with Store(str(version_one)) as store:
            assert store.read.limits() == []
        assert introspect(version_one)["limits"].strict

    def test_the_migrated_guard_refuses_a_replace(self, version_one: Path) -> None:
        """After the migration, `INSERT OR REPLACE` of an event is refused."""
        with Store(str(version_one)):
            pass
        conn = sqlite3.connect(version_one)
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("INSERT OR REPLACE INTO events (seq, type, entity_id, payload, at, "
                         "prev_hash, hash) VALUES (1, 'x', 'e', '{}', 'now', '0', 'h')")
        conn.close()


def _spaced(sql: str | None) -> str | None:
    """DDL text with its layout taken out (the columns' alignment, and where `ALTER TABLE
    ADD COLUMN` put its line break), every word and symbol kept."""
    if sql is None:
        return None
    return re.sub(r"\s*([(),])\s*", r"\1", re.sub(r"\s+", " ", sql)).strip()


def sqlite_schema(path: Path) -> dict[str, Any]:
    """Everything SQLite keeps of a ledger's schema: each table's, index's and trigger's
    DDL as stored in `sqlite_master`, and the two pragmas."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
        pragmas = [conn.execute(f"PRAGMA {name}").fetchone()[0]
                   for name in ("user_version", "application_id")]
    finally:
        conn.close()
    return {"objects": sorted((kind, name, table, _spaced(sql)) for kind, name, table, sql
                              in rows), "pragmas": pragmas}


PG_CATALOG = {
    "columns": "SELECT table_name, ordinal_position, column_name, data_type, is_nullable, "
               "column_default, collation_name, is_identity, identity_generation "
               "FROM information_schema.columns WHERE table_schema = current_schema()",
    "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
                   "FROM pg_constraint WHERE connamespace = current_schema()::regnamespace",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes "
               "WHERE schemaname = current_schema()",
    "triggers": "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) "
                "FROM pg_trigger WHERE NOT tgisinternal",
    "functions": "SELECT proname, prosrc FROM pg_proc "
                 "WHERE pronamespace = current_schema()::regnamespace",
    "sequences": "SELECT sequencename, data_type, start_value, increment_by FROM pg_sequences "
                 "WHERE schemaname = current_schema()",
    "marker": "SELECT application_id, schema_version, singleton FROM paycli_ledger",
}


def postgres_schema(url: str) -> dict[str, Any]:
    """Everything PostgreSQL's catalog says of a ledger's schema, in its own normal form:
    columns, constraints (by name: their names follow from where they were declared),
    indexes, triggers, functions, identity sequences, and the marker row."""
    with psycopg.connect(url, autocommit=True) as conn:
        return {part: sorted(tuple(row) for row in conn.execute(query.encode()).fetchall())
                for part, query in PG_CATALOG.items()}


@pytest.fixture
def databases(pg: Server) -> Iterator[tuple[str, str]]:
    """Two empty PostgreSQL databases: one for a new ledger, one for an old one."""
    made = (pg.create(), pg.create())
    yield made
    for url in made:
        pg.drop(url)


class TestEveryVersionEndsAsANewLedger:
    @pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
    def test_sqlite(self, tmp_path: Path, version: int) -> None:
        """A SQLite ledger of each earlier version, opened, has the new ledger's schema."""
        new, old = tmp_path / "new.db", tmp_path / "old.db"
        Store(str(new)).close()
        sqlite_ledger(old, version)
        assert sqlite_schema(old) != sqlite_schema(new)
        Store(str(old)).close()
        assert sqlite_schema(old) == sqlite_schema(new)

    @pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
    def test_postgresql(self, databases: tuple[str, str], version: int) -> None:
        """A PostgreSQL ledger of each earlier version, opened, has the new one's schema."""
        new, old = databases
        Store(new).close()
        postgres_ledger(old, version)
        assert postgres_schema(old) != postgres_schema(new)
        Store(old).close()
        assert postgres_schema(old) == postgres_schema(new)

    def test_a_missing_step_is_seen(self, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
        """The comparison has teeth: a ledger that skipped the last step that changes a
        SQLite ledger (schema 12 changed PostgreSQL's only) differs."""
        new, old = tmp_path / "new.db", tmp_path / "old.db"
        Store(str(new)).close()
        last = max(version for version, step in schema.MIGRATIONS.items() if step.strip())
        sqlite_ledger(old, last - 1)
        monkeypatch.setitem(schema.MIGRATIONS, last, "SELECT 1;")
        Store(str(old)).close()
        assert sqlite_schema(old)["pragmas"] == sqlite_schema(new)["pragmas"]
        assert sqlite_schema(old) != sqlite_schema(new)


TWIN_ROWS = [("pay_" + "a" * 24, "2026-01-01T00:00:00+00:00"),
             ("pay_" + "b" * 24, "2026-01-01T00:00:01+00:00")]
TWIN = ("INSERT INTO payments (id, user_id, currency, amount, order_id, gateway_key, status, "
        "created_at, updated_at) VALUES ({mark}, 'alice', 'USD', 100, 'o-1', {mark}, "
        "'COMPLETED', {mark}, {mark})")


class TestTwoLiveAttemptsOfOneOrder:
    """Before schema 6 two live payments of one order could exist (two hand-given keys);
    the migration then refuses in words, changing nothing, instead of failing on the
    unique index."""

    def test_sqlite(self, tmp_path: Path) -> None:
        old = tmp_path / "old.db"
        sqlite_ledger(old, 5)
        with sqlite3.connect(old) as conn:
            for payment_id, at in TWIN_ROWS:
                conn.execute(TWIN.format(mark="?"), (payment_id, payment_id, at, at))
        with pytest.raises(LedgerCorrupt) as refused:
            Store(str(old))
        assert "order o-1 has 2 payments that are not FAILED" in refused.value.message
        assert all(payment_id in refused.value.message for payment_id, _ in TWIN_ROWS)
        with sqlite3.connect(old) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == 5  # nothing changed
        done = run(old, "wallet", "balance", "--user", "alice")
        assert done.returncode == 2 and "payments resolve" in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1

    def test_postgresql(self, databases: tuple[str, str]) -> None:
        _, old = databases
        postgres_ledger(old, 5)
        with psycopg.connect(old) as conn:
            for payment_id, at in TWIN_ROWS:
                conn.execute(TWIN.format(mark="%s"), (payment_id, payment_id, at, at))
        with pytest.raises(LedgerCorrupt) as refused:
            Store(old)
        assert "order o-1 has 2 payments that are not FAILED" in refused.value.message
        with psycopg.connect(old) as conn:
            assert conn.execute("SELECT schema_version FROM paycli_ledger").fetchone()[0] == 5
