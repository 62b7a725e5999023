"""What the shared queries need of a database connection, whichever the engine.

`Reader`, `Tx` and `BreakerStore` are written once, in the SQL that SQLite and PostgreSQL
both accept (`coalesce`, `IS NOT DISTINCT FROM`, `ON CONFLICT`, `RETURNING`), with `?`
placeholders. A sqlite3 connection is one as it is; the PostgreSQL backend hands them a
psycopg connection behind `pg_connection.PgConnection`, which turns `?` into `%s`.

Invariant: a query given to a `Connection` never holds a literal `?` or `%` of its own
(values go in as parameters), so the placeholder translation is exact.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol


class Cursor(Protocol):
    """The part of a DB-API cursor the store uses."""

    @property
    def rowcount(self) -> int: ...

    @property
    def description(self) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchmany(self, size: int = ...) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """A connection that runs one statement with `?` placeholders."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Any, /) -> Any: ...


def together(conn: Connection) -> contextlib.AbstractContextManager[Any]:
    """A block whose statements go to the server in one exchange where the engine has
    one (PostgreSQL's pipeline: their rows are there once the block ends, so read them
    after it); on SQLite, which answers within the process, a block like any other."""
    pipeline = getattr(conn, "pipeline", None)
    return contextlib.nullcontext() if pipeline is None else pipeline()
