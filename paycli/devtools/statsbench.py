"""`bench --stats-payments N`: `stats` over a ledger of N payments and one `top` refresh,
on the bench's engine, against their targets (< 1 s and < 50 ms).

A million payments through the saga would take the bench an hour, so the ledger is
filled directly: each payment's row as a settle leaves it (status, reason, charge time)
and its settle event, written in bulk (SQLite `executemany` in one transaction,
PostgreSQL `COPY`), spread evenly over the last 24 hours so the whole ledger is in
`stats`' default window (its worst case). The rows have the shapes the saga writes;
the events are not hash-chained (nothing here verifies them), and no money moves: only
what `stats` and `top` read is there. On SQLite the ledger's triggers keep the hourly
summaries as each row lands; on PostgreSQL they are made again from the payments after
the `COPY`, and the tables vacuumed as autovacuum would have (see `_copy_into`).

Invariants: the filled ledger is a scratch one of the bench's own (a temporary file or
database), never the ledger the payments ran in.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from paycli.devtools import baselines
from paycli.devtools.report import BenchReport, StatsBench, Target
from paycli.ledger import stats
from paycli.ledger.board import Board
from paycli.store import Store, pg_connection, summaries
from paycli.store.tables import PAYMENTS

STATS_GOAL_MS = 1000.0
TOP_GOAL_MS = 50.0
CHUNK = 20_000
# A day's mix: most approved, some declined, a few left for recover.
OUTCOMES = (("COMPLETED", 90), ("FAILED", 8), ("PROCESSING", 2))
DECLINES = ("card_declined", "insufficient_funds", "gateway_unavailable")
CURRENCIES = ("USD", "EUR", "JPY")
GATEWAYS = ("default", "second")
EVENTS = {"COMPLETED": "payment.completed", "FAILED": "payment.failed",
          "PROCESSING": "payment.unresolved"}
PAYMENT_COLUMNS = tuple(column.name for column in PAYMENTS.columns)
EVENT_COLUMNS = ("seq", "type", "entity_id", "payload", "at", "prev_hash", "hash")


ENGINES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def with_stats(report: BenchReport, workdir: Path, server: str | None, count: int,
               tick: Callable[[int], None] | None = None) -> BenchReport:
    """`report` with the figures of a `count`-payment stats ledger and their two targets
    (unchanged when `count` is 0)."""
    if count <= 0:
        return report
    found = measure(workdir, server, count, tick)
    return report.model_copy(update={"stats_bench": found,
                                     "targets": [*report.targets, *targets(found)]})


def measure(workdir: Path, server: str | None, count: int,
            tick: Callable[[int], None] | None = None) -> StatsBench:
    """Fill a scratch ledger with `count` payments; time `stats` and a `top` refresh."""
    with _scratch(workdir, server) as db:
        started = time.perf_counter()
        fill(db, count, datetime.now(UTC), tick=tick)
        filled_s = time.perf_counter() - started
        with Store(db) as store:
            stats_ms = _time_stats(store)
            first_ms, refresh_ms = _time_top(store, db)
    return StatsBench(engine="sqlite" if server is None else "postgresql", payments=count,
                      fill_s=round(filled_s, 1), stats_ms=round(stats_ms, 1),
                      top_first_ms=round(first_ms, 1), top_refresh_ms=round(refresh_ms, 2))


def targets(found: StatsBench) -> list[Target]:
    """`stats` under a second and a `top` refresh under 50 ms, at this ledger size, on
    its engine."""
    over = f"over {found.payments:,} payments, {ENGINES[found.engine]}"
    return [
        Target(name=f"stats, 24 h window {over}",
               measured=f"{found.stats_ms:.1f} ms", baseline=None, ratio=None,
               goal=f"< {STATS_GOAL_MS:.0f} ms", met=found.stats_ms < STATS_GOAL_MS),
        Target(name=f"top refresh {over}",
               measured=f"{found.top_refresh_ms:.2f} ms", baseline=None, ratio=None,
               goal=f"< {TOP_GOAL_MS:.0f} ms", met=found.top_refresh_ms < TOP_GOAL_MS),
    ]


@contextmanager
def _scratch(workdir: Path, server: str | None) -> Iterator[str]:
    if server is None:
        yield str(workdir / "stats-ledger.db")
    else:
        with baselines.scratch_database(server) as url:
            yield url


def _time_stats(store: Store) -> float:
    """One `stats` of the last 24 hours (the slower of two: the first warms the cache)."""
    took = []
    for _ in range(2):
        started = time.perf_counter()
        stats.stats(store, stats.Window.last(86400))
        took.append((time.perf_counter() - started) * 1000)
    return max(took)


def _time_top(store: Store, db: str) -> tuple[float, float]:
    """`top`'s first look (its last five minutes of events) and then a refresh after a
    second's worth of new payments, in ms."""
    board = Board()
    started = time.perf_counter()
    board.refresh(store)
    first = (time.perf_counter() - started) * 1000
    fill(db, 12, datetime.now(UTC), seconds=1.0, first=_last_seq(store) + 1)
    started = time.perf_counter()
    board.refresh(store)
    return first, (time.perf_counter() - started) * 1000


def _last_seq(store: Store) -> int:
    with store.snapshot() as read:
        return int(read.conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])


def fill(db: str, count: int, now: datetime, seconds: float = 86400.0, first: int = 1,
         tick: Callable[[int], None] | None = None) -> None:
    """Write `count` settled payments and their settle events into the ledger `db`,
    created evenly over the `seconds` before `now`; event numbers start at `first`;
    `tick` is told of each chunk written."""
    Store(db).close()  # the ledger's schema, made as paycli makes it
    rows = _ticked(_numbered(_rows(count, now, seconds, first), first), tick)
    if db.startswith(("postgresql://", "postgres://")):
        _copy_into(db, rows)
    else:
        _insert_into(db, rows)


def _rows(count: int, now: datetime, seconds: float, first: int
          ) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    """(payment row, event row) of each payment, oldest first."""
    draw = random.Random(first)
    statuses = [status for status, weight in OUTCOMES for _ in range(weight)]
    start = now - timedelta(seconds=seconds)
    for number in range(count):
        created = start + timedelta(seconds=seconds * number / count)
        took = round(draw.lognormvariate(3.5, 0.6), 3)  # about 33 ms, a long right tail
        settled = (created + timedelta(milliseconds=took)).isoformat()
        status = draw.choice(statuses)
        yield _payment(f"pay_b{first:08d}{number:015d}", draw, created.isoformat(), status,
                       took, settled)


def _payment(payment_id: str, draw: random.Random, created: str, status: str, took: float,
             settled: str) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    reason = draw.choice(DECLINES) if status == "FAILED" else None
    ref = None if status == "FAILED" else f"ch_{payment_id[4:]}"
    values = {"id": payment_id, "user_id": f"user_{draw.randrange(5000)}",
              "currency": draw.choice(CURRENCIES), "amount": draw.randrange(100, 100_000),
              "gateway_key": payment_id, "status": status, "gateway_ref": ref,
              "refunded": 0, "refund_reserved": 0, "error_type": reason,
              "error_message": reason, "created_at": created, "updated_at": settled,
              "gateway": draw.choice(GATEWAYS), "charge_ms": took, "charged_at": settled}
    payload = {"id": payment_id, "changes": {
        "status": status, "gateway_ref": ref, "error_type": reason, "error_message": reason},
        "steps": [{"name": "ProcessPayment", "status": "SUCCESS", "attempts": 1,
                   "duration_ms": took}]}
    event = (EVENTS[status], payment_id, json.dumps(payload, separators=(",", ":")), settled)
    return tuple(values.get(column) for column in PAYMENT_COLUMNS), event


def _numbered(rows: Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]], first: int
              ) -> Iterator[list[tuple[tuple[Any, ...], tuple[Any, ...]]]]:
    """The rows in chunks, each event given its number and a placeholder chain link."""
    chunk: list[tuple[tuple[Any, ...], tuple[Any, ...]]] = []
    for seq, (payment, event) in enumerate(rows, start=first):
        chunk.append((payment, (seq, *event, "bench", "bench")))
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


_Chunks = Iterator[list[tuple[tuple[Any, ...], tuple[Any, ...]]]]


def _ticked(chunks: _Chunks, tick: Callable[[int], None] | None) -> _Chunks:
    for chunk in chunks:
        yield chunk
        if tick is not None:
            tick(len(chunk))


def _insert_into(path: str, chunks: _Chunks) -> None:
    """SQLite: every chunk in one transaction, not synced until the end."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN IMMEDIATE")
        for chunk in chunks:
            conn.executemany(_insert("payments", PAYMENT_COLUMNS), [p for p, _ in chunk])
            conn.executemany(_insert("events", EVENT_COLUMNS), [e for _, e in chunk])
        conn.execute("COMMIT")
    finally:
        conn.close()


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return (f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})")


def _copy_into(url: str, chunks: _Chunks) -> None:
    """PostgreSQL: `COPY` both tables, in one transaction, the summary trigger off (a
    million updates of a few summary rows in one transaction leave each a chain of a
    million row versions); the summaries are then made again from all the payments, as
    migration 11 makes them."""
    with pg_connection.driver().connect(url) as conn, conn.cursor() as cursor:
        cursor.execute(b"ALTER TABLE payments DISABLE TRIGGER USER")
        for chunk in chunks:
            for table, columns, rows in (("payments", PAYMENT_COLUMNS, [p for p, _ in chunk]),
                                         ("events", EVENT_COLUMNS, [e for _, e in chunk])):
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN".encode()
                                 ) as copy:
                    for row in rows:
                        copy.write_row(row)
        cursor.execute(b"ALTER TABLE payments ENABLE TRIGGER USER")
        cursor.execute(b"DELETE FROM payment_hours")
        cursor.execute(b"DELETE FROM charge_hours")
        cursor.execute(summaries.backfill("postgresql").encode())
    # As autovacuum leaves a ledger that grew over a day (PostgreSQL 13 on vacuums tables
    # that are only inserted into): rows marked visible, so that index-only reads stay
    # in the index, and statistics for the planner. Fresh from COPY, the first reads
    # would instead visit every row's page to set its hint bits.
    with pg_connection.driver().connect(url, autocommit=True) as conn:
        conn.execute(b"VACUUM (ANALYZE) payments, events, payment_hours, charge_hours")
