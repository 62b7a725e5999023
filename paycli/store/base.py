"""`Store`, the ledger whatever its engine: the one place that picks the backend.

`Store(target)` opens a SQLite ledger file for a path and a PostgreSQL ledger for a
`postgresql://` (or `postgres://`) URL; any other `scheme://` is a usage error. Both
backends offer the same surface (`read`, `snapshot()`, `transaction()`, `close()`), hand
out the same `Reader` and `Tx` (whose SQL both dialects share) and keep the same
invariants, each enforced by its engine: CHECK constraints, an append-only event log, one
writer at a time, and every state change with its hash-chained event in one transaction.

Invariants: the choice of backend is made here and nowhere else; `name` is the ledger as
messages may show it (a URL's password replaced by `***`), and nothing here puts the
password anywhere else.
"""

from __future__ import annotations

import contextlib
import getpass
import importlib
import os
from typing import Any, ClassVar

from paycli.config import db_scheme, redact_url
from paycli.errors import UsageError
from paycli.store.reads import Reader
from paycli.store.writes import Tx


def default_actor() -> str:
    """Who is acting when nobody said: the operating system's user name."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (a bare container)
        return f"uid:{os.getuid()}"


# Each engine's module, loaded the first time a ledger of that engine is opened: a SQLite
# user never loads the PostgreSQL code (nor, through it, its driver).
ENGINES = {"sqlite": "paycli.store.sqlite", "postgresql": "paycli.store.postgres"}


class Store:
    """A paycli ledger: opens it (creating or migrating it), reads it, writes to it.

    `Store(target)` returns the backend's subclass: `SqliteStore` for a file path,
    `PostgresStore` for a `postgresql://` URL. Each backend registers itself by
    subclassing and naming its `backend`; its module (`ENGINES`) is imported when a ledger
    of that engine is first opened (psycopg itself only on first use). A subclass naming
    none (a wrapper of another `Store`) is no backend.
    """

    backend = "abstract"
    _backends: ClassVar[dict[str, type[Store]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "backend" in cls.__dict__:
            Store._backends[cls.backend] = cls

    def __new__(cls, target: str, actor: str | None = None) -> Any:
        if cls is Store:
            engine = db_scheme(target) or "sqlite"
            if engine not in Store._backends:
                importlib.import_module(ENGINES[engine])
            cls = Store._backends[engine]
        return super().__new__(cls)

    def __init__(self, target: str, actor: str | None = None) -> None:
        self.path = target
        self.name = redact_url(target)
        self.actor = actor or default_actor()
        self.read_only = False

    def refuse_if_read_only(self) -> None:
        """The usage error a write would meet on a ledger this user may only read, raised
        before any work starts (`pay` checks it before drawing its first step)."""
        if self.read_only:
            raise UsageError(f"--db {self.name}: this user may read the ledger but not "
                             "write it; only read-only commands work here")

    def close(self) -> None:
        """Close the connection; the ledger stays as the last commit left it."""
        raise NotImplementedError

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def read(self) -> Reader:
        """Reads outside a transaction: each statement sees the latest commit."""
        raise NotImplementedError

    def transaction(self, correlation_id: str | None = None
                    ) -> contextlib.AbstractContextManager[Tx]:
        """One write transaction: committed on exit, rolled back on error."""
        raise NotImplementedError

    def snapshot(self) -> contextlib.AbstractContextManager[Reader]:
        """A read transaction: every read inside sees one consistent state."""
        raise NotImplementedError

    def after_bulk_insert(self, tx: Tx) -> None:
        """What the engine needs after rows were inserted with their own ids (nothing on
        SQLite, whose next rowid is always past the largest)."""

    def is_empty(self) -> bool:
        """Whether the ledger holds nothing yet (no event, account, payment or key)."""
        with self.snapshot() as read:
            return read.is_empty()

