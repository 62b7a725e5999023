"""`paycli stats`: every figure equals the one recomputed independently from `export` and
the event log, on both engines; `--by` groups; each `--check` rule passing and failing
(exit 8 naming it); bad windows and rules refused (exit 2)."""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from doubles import ScriptedGateway, saga_env
from history import History, credit, pay
from old_ledgers import postgres_ledger, sqlite_ledger

from paycli.ledger.replay import replay_events
from paycli.ledger.stats import Window, stats
from paycli.saga.core import Decision, Verdict
from paycli.saga.settle import settle_payment
from paycli.store import Store

CAPTURED = {"COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED"}
SETTLE_EVENTS = ("payment.completed", "payment.failed", "payment.unresolved")
CHARGE_COLUMNS = ("SELECT id, charge_ms, charged_at, (SELECT at FROM events e WHERE "
                  "e.entity_id = payments.id AND e.type = 'payment.created') FROM payments "
                  "ORDER BY id")


def _json(cli: Any, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("stats", "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def _exported(cli: Any) -> list[dict[str, Any]]:
    result = cli("export", "--format", "jsonl")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def _nearest_rank(values: list[float], p: int) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(p * len(ordered) / 100) - 1]


def _charge_times(store: Store) -> list[float]:
    """Each payment's charge time, read straight from the log: the ProcessPayment step of
    its first settle event that carries one."""
    times: dict[str, float] = {}
    for event in store.read.events():
        if event.type in SETTLE_EVENTS and event.entity_id not in times:
            steps = json.loads(event.payload).get("steps", [])
            found = [s["duration_ms"] for s in steps if s["name"] == "ProcessPayment"]
            if found:
                times[event.entity_id] = found[0]
    return list(times.values())


def test_figures_equal_those_recomputed_from_export(cli: Any, store: Store,
                                                    history: History) -> None:
    """payments, outcomes, approval, volumes, declines, refunds and percentiles agree."""
    code, stats = _json(cli)
    assert code == 0
    rows = _exported(cli)
    payments = [row for row in rows if row["record"] == "payment"]
    refunds = [row for row in rows if row["record"] == "refund"]
    captured = [row for row in payments if row["status"] in CAPTURED]
    failed = [row for row in payments if row["status"] == "FAILED"]
    assert stats["payments"] == len(payments) == 6
    assert (stats["completed"], stats["failed"]) == (len(captured), len(failed))
    assert stats["approval_rate"] == round(len(captured) / (len(captured) + len(failed)), 6)
    volume: dict[str, Decimal] = {}
    for row in captured:
        volume[row["currency"]] = volume.get(row["currency"], Decimal(0)) + Decimal(row["amount"])
    assert {code: Decimal(amount) for code, amount in stats["volume"].items()} == volume
    assert stats["volume"] == {"JPY": "1200", "USD": "350.75"}  # exact strings
    assert stats["declines"] == dict(Counter(row["error_type"] for row in failed))
    assert stats["refunds"]["refunds"] == len(refunds)
    assert stats["refunds"]["completed"] == sum(r["status"] == "COMPLETED" for r in refunds)
    times = _charge_times(store)
    latency = stats["gateway_latency_ms"]
    assert latency["count"] == len(times) > 0
    assert [latency["p50"], latency["p95"], latency["p99"]] == [
        _nearest_rank(times, p) for p in (50, 95, 99)]


def test_grouped_by_currency_and_status_add_up(cli: Any, history: History) -> None:
    """Each grouping splits the same payments: their counts add up to the whole."""
    _, whole = _json(cli)
    for by in ("currency", "status", "hour", "gateway"):
        code, stats = _json(cli, "--by", by)
        assert code == 0 and stats["by"] == by
        assert sum(group["payments"] for group in stats["groups"]) == whole["payments"]
    _, by_gateway = _json(cli, "--by", "gateway")
    assert [group["key"] for group in by_gateway["groups"]] == ["default"]
    _, by_currency = _json(cli, "--by", "currency")
    assert {g["key"]: g["volume"] for g in by_currency["groups"]} == {
        "JPY": {"JPY": "1200"}, "USD": {"USD": "350.75"}}


def test_a_window_before_the_payments_holds_none(cli: Any, history: History) -> None:
    """`--since 1s` after a pause sees none of the history's payments."""
    time.sleep(1.1)
    code, stats = _json(cli, "--since", "1s")
    assert code == 0
    assert (stats["payments"], stats["approval_rate"], stats["volume"]) == (0, None, {})
    assert stats["gateway_latency_ms"]["p99"] is None


@pytest.mark.parametrize(("rule", "ok"), [
    ("approval_rate>=0.5", True), ("approval_rate>=0.9", False),
    ("failed_rate<=0.5", True), ("failed_rate<=0.01", False),
    ("p99_ms<=60000", True), ("p99_ms<=0.001", False),
])
def test_each_check_rule_passes_and_fails(cli: Any, history: History, rule: str,
                                          ok: bool) -> None:
    """A rule that holds exits 0; one that fails exits 8 and names itself."""
    result = cli("stats", "--check", rule)
    assert result.exit_code == (0 if ok else 8), result.output
    code, stats = _json(cli, "--check", rule)
    assert code == result.exit_code
    assert stats["checks"][0]["rule"] == rule and stats["checks"][0]["ok"] is ok
    if not ok:
        assert f"check failed: {rule}" in result.stderr
        assert stats["error"]["type"] == "check_failed"


def test_processing_older_than_counts_stuck_payments(cli: Any, store: Store,
                                                     history: History) -> None:
    """A payment left PROCESSING is fine for a while, then fails the rule."""
    env = saga_env(store, ScriptedGateway(settle_after=None))
    env.gateway.set_mode("pending")  # type: ignore[attr-defined]
    pay(env, "alice", "5")
    assert cli("stats", "--check", "processing_older_than=10m==0").exit_code == 0
    time.sleep(1.1)
    result = cli("stats", "--check", "processing_older_than=1s==0")
    assert result.exit_code == 8
    assert "processing_older_than=1s==0 (is 1)" in result.stderr


@pytest.mark.parametrize("args", [("--since", "2x"), ("--since", "0h"), ("--by", "user"),
                                  ("--check", "approval_rate"), ("--check", "speed>=1"),
                                  ("--check", "processing_older_than==0")])
def test_bad_options_are_usage_errors(cli: Any, db_path: Path, args: tuple[str, ...]) -> None:
    """A bad window, grouping or rule: one line, exit 2."""
    result = cli("stats", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: invalid") and "Traceback" not in result.output


def test_hour_chart_and_table_are_drawn(cli: Any, history: History) -> None:
    """`--by hour` draws one bar per hour; the table names every figure."""
    result = cli("stats", "--by", "hour")
    assert result.exit_code == 0
    assert "Payments by hour" in result.stdout and "█" in result.stdout
    for label in ("approval rate", "volume USD", "gateway p99 ms", "declined: declined"):
        assert label in result.stdout


def test_the_groups_keep_their_keys_whole_on_a_narrow_terminal(cli: Any,
                                                                history: History) -> None:
    """At 60 columns the group key and every count stay whole (`processing` leaves, said
    so); piped, each table is tab-separated lines; the window names its zone once."""
    narrow = cli("stats", "--by", "gateway", env={"COLUMNS": "60", "TZ": "UTC"})
    assert narrow.exit_code == 0, narrow.output
    lines = narrow.stdout.splitlines()
    assert lines[0].count("UTC") == 2  # From <time> UTC to <time> UTC
    row = next(line for line in lines if line.startswith("default "))
    assert row.split()[:4] == ["default", "6", "4", "2"] and "…" not in narrow.stdout
    assert "1 column left out: processing" in narrow.stdout
    assert all(len(line) <= 60 for line in lines)
    piped = cli("stats", "--by", "gateway", env={"COLUMNS": None})
    assert "approval rate\t" in piped.stdout
    assert "gateway\tpayments\tcompleted\tfailed\tprocessing\tapproval\tvolume" in piped.stdout


def _charge_columns(conn: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(CHARGE_COLUMNS).fetchall()]


class TestChargeTimesOnThePayments:
    """Each payment keeps its charge time as columns (schema 10), written by the settle,
    rebuilt by replay and back-filled from the log by the migration."""

    def test_the_settle_writes_the_first_charge_time(self, store: Store) -> None:
        """A payment left PROCESSING keeps its charge time when a later settle (a poll,
        timed 0) completes it; stats counts it once."""
        credit(store, "alice", "100")
        gateway = ScriptedGateway(settle_after=None)
        env = saga_env(store, gateway)
        gateway.set_mode("pending")
        payment_id = str(pay(env, "alice", "5").result.payment_id)
        first = store.read.conn.execute(
            "SELECT charge_ms, charged_at FROM payments WHERE id = ?", (payment_id,)).fetchone()
        assert first[0] is not None and first[0] >= 0 and first[1] is not None
        polled = [{"name": "ProcessPayment", "status": "SUCCESS", "attempts": 1,
                   "duration_ms": 0.0}]
        settle_payment(env, payment_id, Verdict(Decision.SUCCEEDED, "ch_1"), polled)
        after = store.read.conn.execute(
            "SELECT charge_ms, charged_at, status FROM payments WHERE id = ?",
            (payment_id,)).fetchone()
        assert tuple(after) == (first[0], first[1], "COMPLETED")
        latency = stats(store, Window.last(3600)).gateway_latency_ms
        assert (latency.count, latency.p99) == (1, first[0])
        assert replay_events(store).consistent

    def test_a_version_nine_ledger_is_back_filled_from_its_events(
            self, store: Store, history: History, tmp_path: Path,
            request: pytest.FixtureRequest) -> None:
        """The same payments and events in a schema-9 ledger, opened, gain the very charge
        columns the settle path wrote; the copy then replays consistently."""
        written = _charge_columns(store.read.conn)
        assert sum(row[1] is not None for row in written) >= 5
        old = _version_nine_copy(store, tmp_path, request)
        with Store(old) as migrated:
            assert _charge_columns(migrated.read.conn) == written
            assert replay_events(migrated).consistent


V9_PAYMENTS = ("id, user_id, currency, amount, order_id, idempotency_key, gateway_key, "
               "status, gateway_ref, hold_id, refunded, refund_reserved, error_type, "
               "error_message, owner, created_at, updated_at, gateway")
V9_EVENTS = "seq, type, entity_id, payload, at, correlation_id, prev_hash, hash, actor"
V9_PARENTS = {"accounts": "id, kind, user_id, currency, balance, held, updated_at",
              "transfers": None, "entries": None}
V9_CHILDREN = ("refunds", "idempotency")


def _version_nine_copy(store: Store, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A schema-9 ledger holding `store`'s payments, refunds, transfers and events."""
    tables = {**{table: columns or ", ".join(_columns(store, table))
                 for table, columns in V9_PARENTS.items()}, "payments": V9_PAYMENTS,
              **{table: ", ".join(_columns(store, table)) for table in V9_CHILDREN},
              "events": V9_EVENTS}
    if store.backend == "sqlite":
        old = tmp_path / "v9.db"
        sqlite_ledger(old, 9)
        with sqlite3.connect(old) as conn:
            _fill(store, tables, conn, "?")
        return str(old)
    server = request.getfixturevalue("pg")
    url = str(server.create())
    request.addfinalizer(lambda: server.drop(url))
    postgres_ledger(url, 9)
    with psycopg.connect(url) as conn:
        _fill(store, tables, conn, "%s")
    return url


def _columns(store: Store, table: str) -> list[str]:
    cursor = store.read.conn.execute(f"SELECT * FROM {table} LIMIT 1")
    return [d[0] for d in cursor.description]


def _fill(store: Store, tables: dict[str, str], conn: Any, mark: str) -> None:
    for table, columns in tables.items():
        rows = store.read.conn.execute(f"SELECT {columns} FROM {table}").fetchall()
        marks = ", ".join(mark for _ in columns.split(","))
        conn.cursor().executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})",
                         [tuple(row) for row in rows])
