"""The raw limits `paycli bench` measures paycli against, on the same machine, in one run.

Deliberately free of paycli code (this is the one place outside the store with SQL):

- storage: plain `sqlite3` with the ledger's pragmas (WAL, `synchronous=FULL`), doing the
  same number of durable commits per payment as the saga, each a small insert or update,
  from the same number of threads, writers queueing on an in-process lock before SQLite's
  as paycli's do; on PostgreSQL (`storage_postgres`) plain psycopg, one connection per
  thread, the same commits with the server's own durability settings;
- batched storage (`storage_batched`, for `--mode batch`): the same rows per commit as
  paycli's groups, the same commits per group;
- a throwaway database on the operator's PostgreSQL server for the bench's ledger
  (`scratch_database`), dropped when the bench ends;
- network: plain `httpx` POSTs to the same gateway's `/payment/process`, same concurrency.

Every one runs under `same_conditions` (the interpreter's switch interval), as paycli does.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

SWITCH_INTERVAL_S = 0.0002


def _parallel(total: int, workers: int, job: Callable[[int], None]) -> float:
    """Run `job(i)` for i in range(total) on `workers` threads; returns elapsed seconds."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(job, range(total)))
    return time.perf_counter() - started


def storage(path: Path, payments: int, commits_per_payment: int, workers: int) -> float:
    """Payments per second that raw SQLite sustains at that many durable commits each."""
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE IF NOT EXISTS t (id TEXT PRIMARY KEY, n INTEGER, note TEXT)")
    setup.close()
    local = threading.local()
    writer = threading.Lock()  # writers queue in the process first, as paycli's do

    def connection() -> sqlite3.Connection:
        if not hasattr(local, "conn"):
            conn = sqlite3.connect(path, isolation_level=None, timeout=30,
                                   check_same_thread=False)
            conn.execute("PRAGMA synchronous=FULL")
            local.conn = conn
        return local.conn  # type: ignore[no-any-return]

    def payment(_: int) -> None:
        conn, key = connection(), uuid.uuid4().hex
        for step in range(commits_per_payment):
            with writer:
                conn.execute("BEGIN IMMEDIATE")
                if step == 0:
                    conn.execute("INSERT INTO t VALUES (?, 0, 'created')", (key,))
                else:
                    conn.execute("UPDATE t SET n = ?, note = 'step' WHERE id = ?",
                                 (step, key))
                conn.execute("COMMIT")

    elapsed = _parallel(payments, workers, payment)
    return payments / elapsed


def storage_batched(path: Path, payments: int, group: int, commits_per_group: int) -> float:
    """Rows per second raw SQLite sustains when rows go `group` to a transaction: one
    commit inserting a group's rows, then `commits_per_group - 1` commits updating them."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS b (id TEXT PRIMARY KEY, n INTEGER, note TEXT)")
    started = time.perf_counter()
    try:
        for first in range(0, payments, group):
            keys = [(uuid.uuid4().hex,) for _ in range(min(group, payments - first))]
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO b VALUES (?, 0, 'created')", keys)
            conn.execute("COMMIT")
            for step in range(1, commits_per_group):
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(f"UPDATE b SET n = {step}, note = 'step' WHERE id = ?", keys)
                conn.execute("COMMIT")
    finally:
        conn.close()
    return payments / (time.perf_counter() - started)


def storage_postgres_batched(url: str, payments: int, group: int, commits_per_group: int
                             ) -> float:
    """`storage_batched` with raw psycopg on the bench's PostgreSQL database."""
    import psycopg  # late: only a PostgreSQL bench needs it

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS b (id TEXT PRIMARY KEY, n INTEGER, note TEXT)")
        started = time.perf_counter()
        for first in range(0, payments, group):
            keys = [(uuid.uuid4().hex,) for _ in range(min(group, payments - first))]
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany("INSERT INTO b VALUES (%s, 0, 'created')", keys)
            for step in range(1, commits_per_group):
                with conn.transaction(), conn.cursor() as cursor:
                    cursor.executemany(f"UPDATE b SET n = {step}, note = 'step' WHERE id = %s",
                                       keys)
        return payments / (time.perf_counter() - started)


@contextlib.contextmanager
def same_conditions() -> Iterator[None]:
    """The interpreter settings paycli's bench runs under, for paycli and its baselines
    alike: threads waiting for the GIL after I/O (a commit's fsync, a gateway answer) are
    let in after 0.2 ms rather than up to 5 ms behind a thread running Python."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def storage_postgres(url: str, payments: int, commits_per_payment: int, workers: int
                     ) -> float:
    """Payments per second that raw psycopg sustains at that many commits each."""
    import psycopg  # late: only a PostgreSQL bench needs it

    with psycopg.connect(url, autocommit=True) as setup:
        setup.execute("CREATE TABLE IF NOT EXISTS t (id TEXT PRIMARY KEY, n INTEGER, note TEXT)")
    local = threading.local()
    opened: list[psycopg.Connection[tuple[object, ...]]] = []

    def connection() -> psycopg.Connection[tuple[object, ...]]:
        if not hasattr(local, "conn"):
            local.conn = psycopg.connect(url, autocommit=True)
            opened.append(local.conn)
        return local.conn  # type: ignore[no-any-return]

    def payment(_: int) -> None:
        conn, key = connection(), uuid.uuid4().hex
        for step in range(commits_per_payment):
            conn.execute("BEGIN")
            if step == 0:
                conn.execute("INSERT INTO t VALUES (%s, 0, 'created')", (key,))
            else:
                conn.execute("UPDATE t SET n = %s, note = 'step' WHERE id = %s", (step, key))
            conn.execute("COMMIT")

    try:
        elapsed = _parallel(payments, workers, payment)
    finally:
        for conn in opened:
            conn.close()
    return payments / elapsed


@contextlib.contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new database on the server of `server_url` for one bench run; yields its URL and
    drops it afterwards (the URL's user must be allowed to create databases)."""
    import psycopg  # late: only a PostgreSQL bench needs it

    name = f"paycli_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        # A URL again (not psycopg's key=value form), so that paycli opens it as a
        # PostgreSQL ledger: the same server and options, another database.
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def network(base_url: str, api_key: str, requests: int, workers: int) -> float:
    """Charges per second that raw httpx gets from the gateway at that concurrency."""
    local = threading.local()
    clients: list[httpx.Client] = []

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=base_url, headers={"X-API-Key": api_key})
            clients.append(local.client)
        return local.client  # type: ignore[no-any-return]

    def charge(i: int) -> None:
        key = f"baseline-{uuid.uuid4().hex}"
        body = {"paymentId": key, "amount": 1.00, "currency": "USD", "userId": "baseline",
                "correlationId": key, "metadata": {}}
        response = client().post("/payment/process", json=body, headers={"Idempotency-Key": key})
        response.raise_for_status()

    try:
        elapsed = _parallel(requests, workers, charge)
    finally:
        for opened in clients:
            opened.close()
    return requests / elapsed
