"""`backup`'s store half: an online copy of a SQLite ledger with SQLite's backup API.

The copy is taken in one step (`Connection.backup` with every page at once) under a read
transaction of the source, so it is one consistent state of the ledger even while other
processes keep writing; it is written to a private temporary file (0600) beside the
target, switched to a rollback journal so it is a single self-contained file, and only
renamed into place by `publish` once the caller has verified it.

Invariants: the source is only read; nothing but the finished, verified copy ever appears
under the target's name, and a failed backup leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

from paycli.errors import UsageError
from paycli.store.base import Store

PG_DUMP = ("backup copies a SQLite ledger; a PostgreSQL ledger is backed up by PostgreSQL "
           "itself: pg_dump --format=custom --file=ledger.dump \"$PAYCLI_DB\" (restore with "
           "pg_restore)")


@contextlib.contextmanager
def private_copy(store: Store, target: Path) -> Iterator[Path]:
    """A consistent copy of `store`'s ledger in a 0600 temporary file beside `target`;
    removed if the block fails, left for `publish` if it succeeds."""
    if store.backend != "sqlite":
        raise UsageError(PG_DUMP)
    if target.is_dir():
        raise UsageError(f"backup {target}: is a directory")
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                    suffix=".part")
    except OSError as exc:
        raise UsageError(f"backup {target}: cannot write there ({exc.strerror})") from None
    os.close(fd)
    temporary = Path(name)
    try:
        _copy(store, temporary)
        yield temporary
    except BaseException:
        _remove(temporary)
        raise


def _copy(store: Store, temporary: Path) -> None:
    source: sqlite3.Connection = store.conn  # type: ignore[attr-defined]
    copy = sqlite3.connect(temporary)
    try:
        source.backup(copy)  # every page in one step: one snapshot of the source
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        copy.close()


def publish(temporary: Path, target: Path) -> None:
    """Make the verified copy durable and give it the target's name."""
    with temporary.open("rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _remove(temporary: Path) -> None:
    for path in (temporary, *(temporary.with_name(temporary.name + s) for s in ("-wal", "-shm",
                                                                                "-journal"))):
        with contextlib.suppress(OSError):
            path.unlink()
