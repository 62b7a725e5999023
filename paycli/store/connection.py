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
from urllib.parse import quote

from paycli.errors import LedgerCorrupt, UsageError
from paycli.store.identity import APPLICATION_ID

BUSY_TIMEOUT_S = 30.0


def prepare_path(path: str) -> bool:
    """Make sure the ledger file exists (creating it and its folder privately); returns
    whether this user may write it (a ledger it may only read is opened read-only)."""
    if path == ":memory:":
        return True
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
    elif not os.access(target, os.R_OK):
        raise UsageError(f"--db {path}: not readable by this user")
    return os.access(target, os.W_OK)


def connect(path: str) -> tuple[sqlite3.Connection, bool]:
    """A connection to the ledger at `path`, and whether it is read-only."""
    if not prepare_path(path):
        return connect_read_only(path), True
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
        refuse_foreign(conn, path)
        retry_busy(lambda: conn.execute("PRAGMA journal_mode=WAL").fetchone())
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.DatabaseError as exc:
        raise LedgerCorrupt(f"--db {path}: not a paycli ledger ({exc})") from None
    return conn, False


def connect_read_only(path: str) -> sqlite3.Connection:
    """A read-only connection, for a ledger this user may read but not write.

    A WAL ledger is read through its `-shm` index, which a reader must be able to open or
    create; where it cannot (a folder it may not write, no index yet), the file is read as
    immutable: what was committed to it, without what sits in a `-wal` nobody checkpointed.
    """
    uri = "file:" + quote(os.path.abspath(path))
    for options in ("?mode=ro", "?mode=ro&immutable=1"):
        try:
            conn = sqlite3.connect(uri + options, uri=True, timeout=BUSY_TIMEOUT_S,
                                   isolation_level=None, check_same_thread=False)
            refuse_foreign(conn, path)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError:
            continue
        except sqlite3.DatabaseError as exc:
            raise LedgerCorrupt(f"--db {path}: not a paycli ledger ({exc})") from None
    raise UsageError(f"--db {path}: cannot be read by this user")


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


