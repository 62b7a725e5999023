"""Opening a SQLite ledger file: its path, its pragmas, and waiting out a busy database.

Invariants: a new ledger file is created 0600 (its folder 0700 when paycli creates it); a
file that is not a paycli ledger is refused before anything is written to it, not even the
switch to WAL; every connection runs in WAL mode with `synchronous=FULL` and foreign keys
on, with the sqlite3 module's implicit transactions off (`isolation_level=None`).
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from paycli.errors import LedgerCorrupt, UsageError
from paycli.store.schema import APPLICATION_ID

BUSY_TIMEOUT_S = 30.0


def prepare_path(path: str) -> None:
    if path == ":memory:":
        return
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"--db {path}: is a directory, not a ledger file")
    if not target.parent.exists():
        try:
            target.parent.mkdir(mode=0o700, parents=True)
        except OSError as exc:
            raise UsageError(f"--db {path}: cannot create its folder ({exc.strerror})") from None
    if not target.exists():
        try:
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError as exc:
            raise UsageError(f"--db {path}: cannot create it ({exc.strerror})") from None
    elif not os.access(target, os.R_OK | os.W_OK):
        raise UsageError(f"--db {path}: not readable and writable by this user")


def connect(path: str) -> sqlite3.Connection:
    prepare_path(path)
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
        refuse_foreign(conn, path)
        retry_busy(lambda: conn.execute("PRAGMA journal_mode=WAL").fetchone())
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.DatabaseError as exc:
        raise LedgerCorrupt(f"--db {path}: not a paycli ledger ({exc})") from None
    return conn


_WRITE_LOCKS: dict[str, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def write_lock(path: str) -> threading.RLock:
    """The one lock that this process's writers to the ledger at `path` share."""
    key = path if path == ":memory:" else os.path.realpath(path)
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, threading.RLock())


def refuse_foreign(conn: sqlite3.Connection, path: str) -> None:
    """Refuse, before writing anything (even the WAL switch), a file that is not ours."""
    app = conn.execute("PRAGMA application_id").fetchone()[0]
    if app == APPLICATION_ID:
        return
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if app != 0 or tables:
        conn.close()
        raise LedgerCorrupt(f"--db {path}: a SQLite file, but not a paycli ledger")


def retry_busy(action: Any, deadline_s: float = BUSY_TIMEOUT_S * 2) -> Any:
    """Run `action`, waiting out SQLITE_BUSY beyond what the busy handler covers."""
    give_up = time.monotonic() + deadline_s
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            message = str(exc)
            busy = "locked" in message or "busy" in message
            if not busy or time.monotonic() > give_up:
                raise
            time.sleep(random.uniform(0.001, 0.02))


