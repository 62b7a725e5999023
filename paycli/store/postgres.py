"""The PostgreSQL ledger: `PostgresStore`, the same ledger as `SqliteStore` for teams whose
operators on several hosts must share one set of wallets, payments and circuit breaker.

It hands out the same `Reader` and `Tx` (their SQL is shared, see `sql`) over
`pg_connection.PgConnection`, which runs the store's `?` statements in as few round trips
as they allow; transactions are begun and ended explicitly, as on SQLite. psycopg comes
with the `postgres` extra (`pip install 'paycli[postgres]'`): without it, opening a
PostgreSQL ledger is a usage error naming the extra, before anything is written.

How the invariants hold across hosts:
- One writer at a time. Every write transaction (`transaction()`) first takes the ledger's
  transaction-scoped advisory lock, `pg_advisory_xact_lock(LEDGER_LOCK)`, and holds it to
  its commit: the PostgreSQL form of SQLite's `BEGIN IMMEDIATE`. So the event log has one
  total order, and the hash chain head a transaction reads at its first event stays the
  head until it commits: the chain cannot fork, whatever the number of hosts. For the same
  reason a wallet's read-modify-write (a hold, a post) cannot race another host's, and
  the CHECK `balance - held >= 0` is the server's own last word on overdrafts. The lock is
  released only after the commit is visible, so the next writer reads it (READ
  COMMITTED: each statement sees every commit made before it).
- Reads in `snapshot()` run in one `REPEATABLE READ READ ONLY` transaction: one
  consistent state, never blocking or blocked by writers.
- A serialisation failure, a deadlock or a lock time-out where a transaction begins (the
  only place one can happen: the lock is the first thing a writer takes) is retried with
  a short random back-off, never surfaced.
- The schema (`pg_schema`) holds the CHECK constraints and the append-only triggers; its
  marker row (`paycli_ledger`) tells a paycli ledger from any other database, which is
  refused before anything is written.
- The password of a URL never leaves this module and `pg_connection`: messages name the
  ledger by `name` (password `***`) and scrub the password out of anything the server or
  libpq said.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Iterator

from paycli.errors import LedgerCorrupt
from paycli.store.base import Store
from paycli.store.identity import APPLICATION_ID, SCHEMA_VERSION
from paycli.store.pg_connection import connect, driver
from paycli.store.pg_schema import LEDGER_LOCK, MARK, MARKER_TABLE, upgrade
from paycli.store.reads import Reader
from paycli.store.schema import refuse_live_twins
from paycli.store.writes import HEAD, Tx, head_of

RETRY_DEADLINE_S = 60.0


def _retried() -> tuple[type[Exception], ...]:
    """What PostgreSQL asks a client to retry: serialisation failures, deadlocks, lock
    time-outs."""
    errors = driver().errors
    return (errors.SerializationFailure, errors.DeadlockDetected, errors.LockNotAvailable)


class PostgresStore(Store):
    """A paycli ledger in a PostgreSQL database (see the module docstring)."""

    backend = "postgresql"

    def __init__(self, url: str, actor: str | None = None) -> None:
        super().__init__(url, actor)
        self.conn = connect(url, self.name)
        self._reader = Reader(self.conn)
        self._lock = threading.RLock()  # threads sharing this Store take turns
        self._ready = False  # whether the ledger's tables are there (see `_begin`)
        try:
            self._migrate()
        except BaseException:
            self.conn.close()
            raise
        self._ready = True

    def close(self) -> None:
        """Close the connection; the ledger stays as the last commit left it."""
        self.conn.close()

    @property
    def read(self) -> Reader:
        """Reads outside a transaction: each statement sees the latest commit."""
        return self._reader

    def _tables(self) -> set[str]:
        rows = self.conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema()").fetchall()
        return {row[0] for row in rows}

    def _version(self) -> tuple[int, int] | None:
        """(application id, schema version) of the marker row; None without a marker."""
        if MARKER_TABLE not in self._tables():
            return None
        row = self.conn.execute(
            f"SELECT application_id, schema_version FROM {MARKER_TABLE}").fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def _migrate(self) -> None:
        if self._version() == (APPLICATION_ID, SCHEMA_VERSION):
            return
        with self.transaction():
            found = self._version()  # again, now that no other writer can be creating it
            if found is None:
                if self._tables():
                    raise LedgerCorrupt(f"--db {self.name}: a PostgreSQL database, but not a "
                                        "paycli ledger (it has tables and no paycli marker)")
                version = 0
            elif found[0] != APPLICATION_ID:
                raise LedgerCorrupt(f"--db {self.name}: a PostgreSQL database, but not a "
                                    "paycli ledger")
            else:
                version = found[1]
            if version > SCHEMA_VERSION:
                raise LedgerCorrupt(
                    f"--db {self.name}: schema version {version} is newer than this paycli "
                    f"({SCHEMA_VERSION}); upgrade paycli")
            refuse_live_twins(self.conn, version, self.name)
            for script in upgrade(version):
                self.conn.execute(script)
            self.conn.execute(MARK)

    def _begin(self, statement: str, lock: bool) -> tuple[int, str] | None:
        """Begin a transaction (and take the ledger lock), retrying what PostgreSQL asks
        to be retried. A writer's BEGIN, lock and read of the chain head go in one round
        trip, the head read once the lock is held; it is returned (None while the ledger
        is being made, before it has an event log)."""
        give_up = time.monotonic() + RETRY_DEADLINE_S
        while True:
            if not lock:
                self.conn.execute(statement)
                return None
            try:
                with self.conn.pipeline():
                    self.conn.execute(statement)
                    self.conn.execute("SELECT pg_advisory_xact_lock(?)", (LEDGER_LOCK,))
                    head = self.conn.execute(HEAD) if self._ready else None
                return None if head is None else head_of(head.fetchone())
            except _retried():
                self.conn.execute("ROLLBACK")
                if time.monotonic() > give_up:
                    raise
                time.sleep(random.uniform(0.001, 0.02))

    @contextlib.contextmanager
    def transaction(self, correlation_id: str | None = None) -> Iterator[Tx]:
        """One write transaction holding the ledger lock: committed on exit, rolled back
        on error. Its writes wait to go with its next read or its COMMIT (`PgConnection`)."""
        with self._lock:
            head = self._begin("BEGIN", lock=True)
            try:  # COMMIT inside: a Ctrl-C just before it must not leave the lock held
                tx = Tx(self.conn, correlation_id, self.actor, head)
                self.conn.holding = True
                yield tx
                tx.flush()
                self.conn.execute("COMMIT")
                self.conn.holding = False
            except BaseException:
                self._rollback()
                raise

    def after_bulk_insert(self, tx: Tx) -> None:
        """After rows were inserted with their ids: the identity sequences continue past
        the largest id, so the next account or entry gets a new one."""
        for table, column in (("accounts", "id"), ("entries", "seq")):
            tx.conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                            f"max({column})) FROM {table} HAVING count(*) > 0")

    def _rollback(self) -> None:
        self.conn.discard()
        # A connection the server dropped cannot roll back; the server already did.
        with contextlib.suppress(driver().OperationalError):
            self.conn.execute("ROLLBACK")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Reader]:
        """A read transaction: every read inside sees one consistent state."""
        with self._lock:
            self._begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", lock=False)
            try:
                yield Reader(self.conn)
            finally:
                self._rollback()
