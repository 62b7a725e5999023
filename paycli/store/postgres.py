"""The PostgreSQL ledger: `PostgresStore`, the same ledger as `SqliteStore` for teams whose
operators on several hosts must share one set of wallets, payments and circuit breaker.

It hands out the same `Reader` and `Tx` (their SQL is shared, see `sql`) over
`PgConnection`, a psycopg 3 connection in autocommit mode that runs the store's `?`
statements; transactions are begun and ended explicitly, as on SQLite. psycopg comes with
the `postgres` extra (`pip install 'paycli[postgres]'`): without it, opening a PostgreSQL
ledger is a usage error naming the extra (`driver`), before anything is written.

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
- The password of a URL never leaves this module: messages name the ledger by `name`
  (password `***`) and scrub the password out of anything the server or libpq said.
"""

from __future__ import annotations

import contextlib
import functools
import random
import re
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from paycli.errors import LedgerCorrupt, UsageError
from paycli.store.base import Store
from paycli.store.identity import APPLICATION_ID, SCHEMA_VERSION
from paycli.store.pg_schema import LEDGER_LOCK, MARK, MARKER_TABLE, upgrade
from paycli.store.reads import Reader
from paycli.store.schema import refuse_live_twins
from paycli.store.sql import Cursor
from paycli.store.writes import Tx

if TYPE_CHECKING:
    import psycopg

CONNECT_TIMEOUT_S = 10
RETRY_DEADLINE_S = 60.0


DRIVER_MISSING = "PostgreSQL ledgers need the postgres extra: pip install 'paycli[postgres]'"


def driver() -> Any:
    """psycopg, imported on first use: ~0.3 s that SQLite users never pay. It comes with
    the `postgres` extra only: without it, a usage error naming the extra."""
    try:
        import psycopg  # late: see above
    except ImportError:  # not installed, or installed without a libpq to load
        raise UsageError(DRIVER_MISSING) from None
    return psycopg


def _retried() -> tuple[type[Exception], ...]:
    """What PostgreSQL asks a client to retry: serialisation failures, deadlocks, lock
    time-outs."""
    errors = driver().errors
    return (errors.SerializationFailure, errors.DeadlockDetected, errors.LockNotAvailable)


@functools.lru_cache(maxsize=512)
def _dialect(sql: str) -> str:
    """The store's `?` statement in psycopg's `%s` form (see `sql`'s invariant)."""
    return sql.replace("%", "%%").replace("?", "%s")


_PLAIN_INSERT = re.compile(r"INSERT INTO (\w+) \(([\w, ]+)\) VALUES \((?:\?, )*\?\)")


@functools.lru_cache(maxsize=64)
def _copy_of(sql: str) -> str | None:
    """`INSERT INTO t (cols) VALUES (?, ...)`, nothing after it, as the `COPY t (cols)
    FROM STDIN` that writes the same rows; None for any other statement (an UPDATE, an
    ON CONFLICT or RETURNING clause, which COPY has not)."""
    found = _PLAIN_INSERT.fullmatch(sql)
    return None if found is None else f"COPY {found.group(1)} ({found.group(2)}) FROM STDIN"


class PgConnection:
    """A psycopg connection that runs the store's `?` statements."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        """Run one statement; `parameters` fill its `?` placeholders in order."""
        if parameters:
            return self.raw.execute(_dialect(sql), tuple(parameters))
        return self.raw.execute(sql.encode())  # bytes: no placeholder parsing at all

    def executemany(self, sql: str, parameters: Any, /) -> None:
        """Run one statement for each set of parameters: a plain INSERT's rows copied in
        one stream (`COPY`: the same rows, in the order given, each through the table's
        constraints and triggers, in a fraction of the round trips); any other statement
        pipelined by psycopg."""
        rows = parameters if isinstance(parameters, list) else list(parameters)
        copy = _copy_of(sql) if len(rows) > 1 else None
        with self.raw.cursor() as cursor:
            if copy is None:
                cursor.executemany(_dialect(sql), rows)
                return
            with cursor.copy(copy) as stream:
                for row in rows:
                    stream.write_row(row)

    def close(self) -> None:
        """Close the connection to the server."""
        self.raw.close()


def password_of(url: str) -> str | None:
    """The password a URL carries, if any (so that messages can scrub it)."""
    pg = driver()
    try:
        secret = pg.conninfo.conninfo_to_dict(url).get("password")
    except pg.ProgrammingError:
        return None
    return str(secret) if secret else None


def connect(url: str, name: str) -> PgConnection:
    """A connection to the PostgreSQL ledger at `url`; a usage error if it cannot be had."""
    pg = driver()
    try:
        raw = pg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                         application_name="paycli")
    except pg.Error as exc:
        reason = scrubbed(str(exc).strip().splitlines()[-1] if str(exc).strip() else
                          type(exc).__name__, url)
        raise UsageError(f"--db {name}: cannot connect to PostgreSQL ({reason})") from None
    return PgConnection(raw)


def scrubbed(text: str, url: str) -> str:
    """`text` with the URL's password, wherever it appears, replaced by `***`."""
    secret = password_of(url)
    return text.replace(secret, "***") if secret else text


class PostgresStore(Store):
    """A paycli ledger in a PostgreSQL database (see the module docstring)."""

    backend = "postgresql"

    def __init__(self, url: str, actor: str | None = None) -> None:
        super().__init__(url, actor)
        self.conn = connect(url, self.name)
        self._reader = Reader(self.conn)
        self._lock = threading.RLock()  # threads sharing this Store take turns
        try:
            self._migrate()
        except BaseException:
            self.conn.close()
            raise

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

    def _begin(self, statement: str, lock: bool) -> None:
        """Begin a transaction (and take the ledger lock), retrying what PostgreSQL asks
        to be retried."""
        give_up = time.monotonic() + RETRY_DEADLINE_S
        while True:
            self.conn.execute(statement)
            try:
                if lock:
                    self.conn.execute("SELECT pg_advisory_xact_lock(?)", (LEDGER_LOCK,))
                return
            except _retried():
                self.conn.execute("ROLLBACK")
                if time.monotonic() > give_up:
                    raise
                time.sleep(random.uniform(0.001, 0.02))

    @contextlib.contextmanager
    def transaction(self, correlation_id: str | None = None) -> Iterator[Tx]:
        """One write transaction holding the ledger lock: committed on exit, rolled back
        on error."""
        with self._lock:
            self._begin("BEGIN", lock=True)
            try:  # COMMIT inside: a Ctrl-C just before it must not leave the lock held
                tx = Tx(self.conn, correlation_id, self.actor)
                yield tx
                tx.flush()
                self.conn.execute("COMMIT")
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
