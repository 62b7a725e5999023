"""The raw limits `paycli bench` measures paycli against, on the same machine, in one run.

Deliberately free of paycli code (this is the one place outside the store with SQL):

- storage: plain `sqlite3` with the ledger's pragmas (WAL, `synchronous=FULL`), doing the
  same number of durable commits per payment as the saga, each a small insert or update,
  from the same number of threads;
- network: plain `httpx` POSTs to the same gateway's `/payment/process`, same concurrency.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx


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
            conn.execute("BEGIN IMMEDIATE")
            if step == 0:
                conn.execute("INSERT INTO t VALUES (?, 0, 'created')", (key,))
            else:
                conn.execute("UPDATE t SET n = ?, note = 'step' WHERE id = ?", (step, key))
            conn.execute("COMMIT")

    elapsed = _parallel(payments, workers, payment)
    return payments / elapsed


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
