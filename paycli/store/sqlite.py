"""The SQLite ledger: `Store` opens a file (creating or migrating it) and runs its read
snapshots and write transactions. With `reads`, `writes`, `breaker` and `replay`, the store
package is the only place of paycli that speaks SQL.

Invariants kept here:
- Every write runs in `BEGIN IMMEDIATE` through `Store.transaction()`. A busy database is
  waited for, never reported to the operator as "database is locked".
- Every state change appends its event in the same transaction (`Tx.append_event`); each
  event stores `sha256(prev_hash + canonical_json(event))`, so the log is a hash chain.
- Threads of one process queue on one in-process lock per ledger file before SQLite's.

`postgres` is the other engine behind the same `Store`, `Reader` and `Tx` (see `base`).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

from paycli.errors import LedgerCorrupt
from paycli.store.base import Store
from paycli.store.connection import connect, retry_busy, write_lock
from paycli.store.identity import APPLICATION_ID, SCHEMA_VERSION
from paycli.store.reads import Reader
from paycli.store.writes import Tx


class SqliteStore(Store):
    """A paycli ledger file: opens it (creating or migrating it), reads it, writes to it."""

    backend = "sqlite"

    def __init__(self, path: str, actor: str | None = None) -> None:
        super().__init__(path, actor)
        self.conn, self.read_only = connect(path)
        self._reader = Reader(self.conn)
        self._write_lock = write_lock(path)
        try:
            self._migrate()
        except BaseException:
            self.conn.close()
            raise

    def close(self) -> None:
        """Close the connection; the ledger stays as the last commit left it."""
        self.conn.close()

    def _version(self) -> tuple[int, int]:
        app = self.conn.execute("PRAGMA application_id").fetchone()[0]
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        return int(app), int(version)

    def _migrate(self) -> None:
        app, version = self._version()
        if app == APPLICATION_ID and version == SCHEMA_VERSION:
            return
        if self.read_only:
            raise LedgerCorrupt(
                f"--db {self.path}: read-only for this user, and not a paycli ledger of schema "
                f"{SCHEMA_VERSION} (it is {version}): its owner must open it once to migrate it")
        with self.transaction():
            app, version = self._version()
            if app == 0 and version == 0:
                tables = self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                if tables:
                    raise LedgerCorrupt(f"--db {self.path}: a SQLite file, but not a paycli ledger")
            elif app != APPLICATION_ID:
                raise LedgerCorrupt(f"--db {self.path}: a SQLite file, but not a paycli ledger")
            elif version > SCHEMA_VERSION:
                raise LedgerCorrupt(
                    f"--db {self.path}: schema version {version} is newer than this paycli "
                    f"({SCHEMA_VERSION}); upgrade paycli"
                )
            # late: the DDL is built only to create or migrate a ledger (`identity`)
            from paycli.store.schema import refuse_live_twins, upgrade

            refuse_live_twins(self.conn, version, self.path)
            for script in upgrade(version):
                run_script(self.conn, script)
            self.conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            self.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextlib.contextmanager
    def transaction(self, correlation_id: str | None = None) -> Iterator[Tx]:
        """One `BEGIN IMMEDIATE` write transaction: committed on exit, rolled back on error.

        Threads of one process queue on a lock first, so they hand the write lock over
        at once instead of waking in SQLite's busy handler (which sleeps up to 100 ms);
        other processes are still waited for by the busy handler.
        """
        self.refuse_if_read_only()
        with self._write_lock:
            # BEGIN and COMMIT inside the `try`: a Ctrl-C (KeyboardInterrupt) can land
            # between any two bytecodes, and one landing just after BEGIN or just before
            # COMMIT must not leave the write lock held for this process's other threads.
            try:
                retry_busy(lambda: self.conn.execute("BEGIN IMMEDIATE"))
                tx = Tx(self.conn, correlation_id, self.actor)
                yield tx
                tx.flush()
                retry_busy(lambda: self.conn.execute("COMMIT"))
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Reader]:
        """A read transaction: every read inside sees one consistent state."""
        retry_busy(lambda: self.conn.execute("BEGIN DEFERRED"))
        try:
            yield Reader(self.conn)
        finally:
            self.conn.execute("COMMIT")

    @property
    def read(self) -> Reader:
        """Reads outside a transaction: each statement sees the latest commit."""
        return self._reader


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run DDL statements one by one inside the caller's transaction."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""
