"""The hourly summary rows `stats` reads (`payment_hours`, `charge_hours`): kept in step
with every write of a payment by triggers, back-filled by migration 11, and a window that
starts inside an hour (its whole hours from the summaries, its first hour from the rows)
gives exactly the figures of a plain grouping of the payments, on both engines."""

from __future__ import annotations

import math
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from history import History
from old_ledgers import postgres_ledger, sqlite_ledger

from paycli.devtools import statsbench
from paycli.ledger import wallet
from paycli.ledger.batchfile import BatchRow
from paycli.ledger.replay import replay_events
from paycli.ledger.stats import Window, stats
from paycli.money import Money
from paycli.records import Payment
from paycli.saga.core import Decision, Verdict
from paycli.saga.group import open_payments
from paycli.saga.settle import settle_payments_in
from paycli.store import Store

HOURS = ("SELECT hour, status, currency, gateway, reason, payments, amount FROM payment_hours "
         "WHERE payments <> 0 ORDER BY 1, 2, 3, 4, 5")
GROUPED = ("SELECT substr(created_at, 1, 13), status, currency, gateway, CASE WHEN status = "
           "'FAILED' THEN coalesce(error_type, 'unknown') ELSE '' END, count(*), sum(amount) "
           "FROM payments GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5")
CHARGES = "SELECT hour, ms, charges FROM charge_hours WHERE charges <> 0 ORDER BY 1, 2"
CHARGE_TIMES = ("SELECT substr(charged_at, 1, 13), charge_ms FROM payments "
                "WHERE charge_ms IS NOT NULL AND charged_at IS NOT NULL")


def _rows(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(int(v) if not isinstance(v, str) else v for v in row)
            for row in conn.execute(sql).fetchall()]


def assert_in_step(store: Store) -> None:
    """The summaries hold exactly a grouping of the payments as they are now."""
    with store.snapshot() as read:
        conn = read.conn
        assert _rows(conn, HOURS) == _rows(conn, GROUPED)
        histogram: dict[tuple[str, int], int] = {}
        for hour, took in conn.execute(CHARGE_TIMES).fetchall():
            key = (str(hour), math.floor(took))
            histogram[key] = histogram.get(key, 0) + 1
        assert _rows(conn, CHARGES) == [(*key, n) for key, n in sorted(histogram.items())]


def _recomputed(store: Store, since: str) -> dict[str, Any]:
    """The window's figures by plain SQL over the payments, no summary read."""
    with store.snapshot() as read:
        conn = read.conn
        statuses = dict(conn.execute("SELECT status, count(*) FROM payments "
                                     "WHERE created_at >= ? GROUP BY 1", (since,)).fetchall())
        declines = dict(conn.execute(
            "SELECT coalesce(error_type, 'unknown'), count(*) FROM payments "
            "WHERE created_at >= ? AND status = 'FAILED' GROUP BY 1", (since,)).fetchall())
        by_gateway = dict(conn.execute("SELECT gateway, count(*) FROM payments "
                                       "WHERE created_at >= ? GROUP BY 1", (since,)).fetchall())
        times = sorted(float(t) for t, in conn.execute(
            "SELECT charge_ms FROM payments WHERE charge_ms IS NOT NULL AND charged_at >= ?",
            (since,)).fetchall())
    ranks = {p: times[max(math.ceil(p * len(times) / 100), 1) - 1] if times else None
             for p in (50, 95, 99)}
    return {"statuses": {k: int(v) for k, v in statuses.items()},
            "declines": {k: int(v) for k, v in declines.items()},
            "by_gateway": {k: int(v) for k, v in by_gateway.items()},
            "latency": (ranks[50], ranks[95], ranks[99], len(times))}


class TestWindowsAcrossHours:
    @pytest.mark.parametrize("seconds", [86400, 5 * 3600 + 1234, 3600, 37 * 60, 1])
    def test_figures_equal_a_plain_grouping(self, db_path: Path, seconds: int) -> None:
        """1,500 payments over six hours; windows starting mid-hour, on an hour's edge
        or in the last second agree with plain SQL over the payments, figure by figure."""
        now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
        statsbench.fill(str(db_path), 1500, now, seconds=6 * 3600)
        with Store(str(db_path)) as store:
            assert_in_step(store)
            window = Window.last(seconds, now)
            found = stats(store, window)
            grouped = stats(store, window, "gateway")
            expected = _recomputed(store, window.start)
        statuses = expected["statuses"]
        assert found.payments == sum(statuses.values())
        assert found.completed == statuses.get("COMPLETED", 0)
        assert found.failed == statuses.get("FAILED", 0)
        assert found.declines == expected["declines"]
        assert {g.key: g.payments for g in grouped.groups} == expected["by_gateway"]
        latency = found.gateway_latency_ms
        assert (latency.p50, latency.p95, latency.p99, latency.count) == expected["latency"]


class TestTriggers:
    def test_every_saga_write_keeps_them_in_step(self, store: Store, history: History
                                                 ) -> None:
        """Payments of every outcome and refunds, written by the sagas (and, on
        PostgreSQL, copied row by row): the summaries equal a grouping of the payments."""
        assert history.payments
        assert_in_step(store)

    def test_a_hand_written_change_is_counted_too(self, store: Store, history: History
                                                  ) -> None:
        """The triggers are the ledger's: an UPDATE or DELETE typed by hand moves the
        summaries as a paycli write does."""
        with store.transaction("test") as tx:
            tx.conn.execute("UPDATE payments SET status = 'FAILED', error_type = 'by_hand', "
                            "charge_ms = 7.5, charged_at = '2020-01-01T00:00:00+00:00' "
                            "WHERE id = ?", (history.payments["completed"],))
            tx.conn.execute("DELETE FROM refunds")
            tx.conn.execute("DELETE FROM payments WHERE id <> ?",
                            (history.payments["completed"],))
        assert_in_step(store)


    def test_a_group_written_in_one_statement_keeps_them_in_step(self, store: Store
                                                                  ) -> None:
        """A billing run's group: 40 payments inserted by one statement, settled by one
        with every outcome (completed, declined for two reasons, unknown), then one UPDATE
        of them all that changes nothing a summary is made of. The summaries equal the
        grouping after each (PostgreSQL keeps them once per statement, SQLite per row)."""
        wallet.credit(store, "alice", Money(10_000, "USD"))
        rows = [BatchRow(n, "alice", Money(100 + n, "USD"), f"order-{n}", None)
                for n in range(40)]
        with store.transaction("test") as tx:
            opened = [p for p in open_payments(tx, rows, "test", "bat_test")
                      if isinstance(p, Payment)]
        assert len(opened) == 40
        assert_in_step(store)
        outcomes = (Verdict(Decision.SUCCEEDED, "ref"),
                    Verdict(Decision.REFUSED, None, "declined"),
                    Verdict(Decision.REFUSED, None, "insufficient_funds_at_bank"),
                    Verdict(Decision.UNKNOWN))
        with store.transaction("test") as tx:
            settle_payments_in(tx, [(p.id, outcomes[n % 4], [
                {"name": "ProcessPayment", "status": "success", "attempts": 1,
                 "duration_ms": 3.5 + n}]) for n, p in enumerate(opened)])
        assert_in_step(store)
        with store.transaction("test") as tx:
            tx.conn.execute("UPDATE payments SET owner = NULL, updated_at = updated_at")
        assert_in_step(store)


class TestReplay:
    def test_replay_checks_the_summaries(self, store: Store, history: History) -> None:
        """`replay-events` finds the summaries in step with the payments; a summary row
        changed or removed by hand is a mismatch of its own entity."""
        assert replay_events(store).consistent
        with store.transaction("test") as tx:
            tx.conn.execute("UPDATE payment_hours SET payments = payments + 1, "
                            "amount = amount + 5 WHERE status = 'COMPLETED'")
            tx.conn.execute("DELETE FROM charge_hours")
        found = replay_events(store)
        assert not found.consistent
        entities = {(m.entity, m.field) for m in found.mismatches}
        assert {("payment_hour", "payments"), ("payment_hour", "amount"),
                ("charge_hour", "row")} <= entities
        assert {m.entity for m in found.mismatches} == {"payment_hour", "charge_hour"}


class TestMigration:
    def test_a_version_ten_ledger_is_back_filled(self, db_path: Path, tmp_path: Path,
                                                 request: pytest.FixtureRequest) -> None:
        """Payments written into a schema-10 ledger gain their summary rows when it is
        opened (migration 11), and later writes keep them in step."""
        url = _version_ten(db_path, tmp_path, request)
        now = datetime.now(UTC) - timedelta(minutes=1)
        _insert_v10_payments(url, now)
        with Store(url) as store:
            assert_in_step(store)
            assert stats(store, Window.last(3 * 3600)).payments == 3
        statsbench.fill(url, 50, datetime.now(UTC), seconds=600, first=100)
        with Store(url) as store:
            assert_in_step(store)


def _version_ten(db_path: Path, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if str(db_path).startswith("postgresql"):
        server = request.getfixturevalue("pg")
        url = str(server.create())
        request.addfinalizer(lambda: server.drop(url))
        postgres_ledger(url, 10)
        return url
    path = tmp_path / "v10.db"
    sqlite_ledger(path, 10)
    return str(path)


V10_PAYMENT = ("INSERT INTO payments (id, user_id, currency, amount, gateway_key, status, "
               "error_type, created_at, updated_at, charge_ms, charged_at) "
               "VALUES ({})")


def _insert_v10_payments(url: str, now: datetime) -> None:
    """Three payments in two hours, straight into the schema-10 tables."""
    rows = [(f"pay_v10_{n}", "alice", "USD", 100 * (n + 1), f"key{n}", status, reason,
             (now - timedelta(hours=hours)).isoformat(), now.isoformat(), took,
             None if took is None else (now - timedelta(hours=hours)).isoformat())
            for n, (status, reason, hours, took) in enumerate((
                ("COMPLETED", None, 0, 12.25), ("FAILED", "declined", 2, 40.0),
                ("PROCESSING", None, 2, None)))]
    if url.startswith("postgresql"):
        with psycopg.connect(url) as pg_conn:
            pg_conn.cursor().executemany(V10_PAYMENT.format(", ".join(["%s"] * 11)), rows)
        return
    conn = sqlite3.connect(url)
    with conn:
        conn.executemany(V10_PAYMENT.format(", ".join("?" * 11)), rows)
    conn.close()
