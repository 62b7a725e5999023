"""The ledger's schema and its migrations, read back through sqlite-utils' introspection:
every table, column, index and trigger the invariants rely on is there after a fresh
create and after migrating a version-1 ledger."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from paycli.store import Store
from paycli.store.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

TABLES = {"accounts", "transfers", "entries", "events", "idempotency", "payments", "refunds",
          "breaker", "limits"}
TRIGGERS = {"events_no_update", "events_no_delete", "events_no_replace"}


def introspect(path: Path) -> Database:
    """sqlite-utils over a plain connection to the ledger file."""
    return Database(sqlite3.connect(path), recursive_triggers=False, execute_plugins=False)


@pytest.fixture
def version_one(db_path: Path) -> Path:
    """A ledger as schema version 1 left it (before the REPLACE guard), with one event."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.executescript(MIGRATIONS[0])
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    conn.execute("PRAGMA user_version=1")
    conn.execute("INSERT INTO events (seq, type, entity_id, payload, at, prev_hash, hash) "
                 "VALUES (1, 't', 'e', '{}', 'now', '0', 'h')")
    conn.close()
    return db_path


class TestFreshLedger:
    def test_every_table_is_created_strict(self, store: Store, db_path: Path) -> None:
        """The nine tables exist, each STRICT (a wrong type is refused, not stored)."""
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
