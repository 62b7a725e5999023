"""The connection to a PostgreSQL ledger: `PgConnection` runs the store's `?` statements
on psycopg 3 (in autocommit mode: the store begins and ends its transactions explicitly),
and spends as few round trips as the statements allow.

- Writes wait. Inside a transaction, the writes that answer nothing (`executemany`) are
  held and go to the server in one pipeline with the next statement that needs an answer
  (a read, the COMMIT), in the order given; an error in one is raised there, inside the
  transaction, which then rolls back.
- Lists go as one value. A read's `IN (?, ?, ...)` list is sent as one array
  (`_any_of`): the same plan, without the conversion of hundreds of parameters.
- Rows go together. A plain INSERT of many rows is one `COPY` stream; an UPDATE of many
  distinct rows is one statement over arrays of their values (`_merged_update_of`), so the
  table's statement triggers run once, not once a row.

psycopg comes with the `postgres` extra (`pip install 'paycli[postgres]'`) and is imported
on first use (`driver`); without it, opening a PostgreSQL ledger is a usage error naming
the extra, before anything is written. The password of a URL never leaves this module and
`postgres`: messages name the ledger with the password scrubbed (`scrubbed`).
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from paycli.errors import UsageError
from paycli.store.pg_schema import POSTGRES
from paycli.store.sql import Cursor
from paycli.store.tables import TABLES

if TYPE_CHECKING:
    import psycopg

CONNECT_TIMEOUT_S = 10
COPY_FROM_ROWS = 16  # a plain INSERT of this many rows or more goes by COPY


DRIVER_MISSING = "PostgreSQL ledgers need the postgres extra: pip install 'paycli[postgres]'"


def driver() -> Any:
    """psycopg, imported on first use: ~0.3 s that SQLite users never pay. It comes with
    the `postgres` extra only: without it, a usage error naming the extra."""
    try:
        import psycopg  # late: see above
    except ImportError:  # not installed, or installed without a libpq to load
        raise UsageError(DRIVER_MISSING) from None
    return psycopg


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


_IN_LIST = re.compile(r"([^?]*(?<! NOT)) IN \((?:\?, )*\?\)([^?]*)")
_ARRAY_OF = {str: "TEXT", int: "BIGINT"}


def _any_of(sql: str, parameters: tuple[Any, ...]) -> str | None:
    """`... x IN (?, ?, ...) ...`, whose only placeholders are that list's and whose
    values are all text or all integers, as `... x = ANY(CAST(%b AS type[])) ...`: the
    same rows (PostgreSQL reads an IN list as that very `= ANY` of an array, so the
    plan is the same), for one parameter instead of hundreds, which psycopg would
    otherwise parse and convert one by one for every group's read; the array goes in
    binary, which psycopg builds in a fraction of a text array's time. None for any
    other statement."""
    kinds = {_kind(value) for value in parameters}  # a str enum counts as text
    if len(parameters) < 2 or len(kinds) != 1 or " IN (?" not in sql:
        return None
    found = _IN_LIST.fullmatch(sql)
    element = _ARRAY_OF.get(kinds.pop())
    if found is None or element is None:
        return None
    head, tail = (_dialect(part) for part in found.groups())
    return f"{head} = ANY(CAST(%b AS {element}[])){tail}"


_UPDATE = re.compile(r"UPDATE (\w+) SET (.+) WHERE (\w+) = \?((?: AND [^?]+)?)")
_ASSIGNMENT = re.compile(r"(\w+) = (\?|coalesce\(\1, \?\)|NULL)")


class _Merged(NamedTuple):
    """An update of many rows as one statement, and the type of each of its arrays."""

    sql: str
    types: tuple[str, ...]

    def arrays(self, rows: list[Any]) -> list[list[Any]] | None:
        """The statement's parameters for `rows`: their values column by column, whole
        numbers given to a floating-point column as floats; None if a column's values
        are of more than one kind, which no array holds (then the rows go one by one)."""
        columns = [list(column) for column in zip(*rows, strict=True)]
        for column, type_ in zip(columns, self.types, strict=True):
            if type_ == "DOUBLE PRECISION":
                column[:] = [float(value) if isinstance(value, int) else value
                             for value in column]
            if len({_kind(value) for value in column if value is not None}) > 1:
                return None
        return columns


def _kind(value: Any) -> type:
    """What psycopg dumps a value as: text for any str (enums of str included)."""
    return str if isinstance(value, str) else type(value)


@functools.lru_cache(maxsize=64)
def _merged_update_of(sql: str) -> _Merged | None:
    """`UPDATE t SET c = ?, ... WHERE k = ?` (each assignment a value, a value kept if one
    is there, `coalesce(c, ?)`, or NULL; maybe more conditions, none with a value) as one
    statement that updates every row at once, its values given column by column as
    arrays (in binary: psycopg converts a text array element by element in Python): one
    statement, so the table's statement triggers run once, not once a row. None for any
    other statement."""
    found = _UPDATE.fullmatch(sql)
    if found is None:
        return None
    table, assignments, key, more = found.groups()
    matched = _ASSIGNMENT.findall(assignments)
    if ", ".join(f"{column} = {value}" for column, value in matched) != assignments:
        return None
    types = _column_types().get(table)
    if types is None:
        return None
    given = [column for column, value in matched if value != "NULL"] + [key]
    arrays = ", ".join(f"CAST(%b AS {types[column]}[])" for column in given)
    names = ", ".join(f"v{number}" for number in range(len(given)))
    values = iter(range(len(given)))
    sets = ", ".join(f"{column} = NULL" if value == "NULL" else
                     f"{column} = v{next(values)}" if value == "?" else
                     f"{column} = coalesce({column}, v{next(values)})"
                     for column, value in matched)
    return _Merged(f"UPDATE {table} SET {sets} FROM unnest({arrays}) AS v ({names}) "
                   f"WHERE {table}.{key} = v{len(given) - 1}{more}",
                   tuple(types[column] for column in given))


@functools.cache
def _column_types() -> dict[str, dict[str, str]]:
    """Each ledger table's columns' PostgreSQL types."""
    return {table.name: {column.name: POSTGRES.types[column.type]
                         for column in table.columns} for table in TABLES}


class PgConnection:
    """A psycopg connection that runs the store's `?` statements.

    Round trips are what a PostgreSQL payment costs, so inside a transaction the writes
    that answer nothing (`executemany`) wait (while `holding`) and go to the server in one
    pipeline with the next statement that needs an answer: a read, or the COMMIT. The
    server runs them in the order given, so a read sees the writes before it. An error in
    a waiting write is raised by that next statement, still inside the transaction, which
    then rolls back (`discard` first: nothing waiting is ever sent after the error).
    Threads sharing the connection take turns (`_turn`), a pipeline with its statements
    being one turn.
    """

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw
        self.holding = False  # whether writes wait for the next answer (in a transaction)
        self._waiting: list[tuple[str, list[Any]]] = []
        self._turn = threading.RLock()

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        """Run one statement; `parameters` fill its `?` placeholders in order."""
        with self._turn:
            if not self._waiting:
                return self._run(sql, parameters)
            with self.pipeline():
                return self._run(sql, parameters)  # answered when the pipeline syncs

    @contextlib.contextmanager
    def pipeline(self) -> Iterator[None]:
        """The writes waiting and the statements run inside go to the server together, in
        one turn; their answers come at the end of the block."""
        with self._turn, self.raw.pipeline():
            self._send_waiting()
            yield

    def _run(self, sql: str, parameters: Any) -> Cursor:
        if parameters:
            values = tuple(parameters)
            listed = _any_of(sql, values)
            if listed is not None:
                return self.raw.execute(listed, (list(values),))
            return self.raw.execute(_dialect(sql), values)
        return self.raw.execute(sql.encode())  # bytes: no placeholder parsing at all

    def executemany(self, sql: str, parameters: Any, /) -> None:
        """Run one statement for each set of parameters: inside a transaction, held to go
        with the next answer (see the class); a large plain INSERT's rows copied in one
        stream (`COPY`: the same rows, in the order given, each through the table's
        constraints and triggers, in a fraction of the round trips)."""
        rows = parameters if isinstance(parameters, list) else list(parameters)
        if not rows:
            return
        copy = _copy_of(sql) if len(rows) >= COPY_FROM_ROWS else None
        with self._turn:
            if copy is None and self.holding:
                self._waiting.append((sql, rows))
                return
            if self._waiting:
                with self.pipeline():
                    pass  # the writes waiting go first, in their order
            with self.raw.cursor() as cursor:
                if copy is None:
                    _many(cursor, sql, rows)
                    return
                with cursor.copy(copy) as stream:
                    for row in rows:
                        stream.write_row(row)

    def _send_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        with self.raw.cursor() as cursor:
            for sql, rows in waiting:
                _many(cursor, sql, rows)

    def discard(self) -> None:
        """Forget the writes still waiting, and hold no more (the transaction ends)."""
        self._waiting = []
        self.holding = False

    def close(self) -> None:
        """Close the connection to the server."""
        self.raw.close()


def _many(cursor: psycopg.Cursor[Any], sql: str, rows: list[Any]) -> None:
    """`sql` run for each of `rows`: an update of several distinct rows in one statement
    (`_merged_update_of`), anything else once a row (pipelined by psycopg). The same row
    twice goes once a row, the last update winning, as on SQLite."""
    merged = _merged_update_of(sql) if len(rows) > 1 else None
    if merged is not None and len({row[-1] for row in rows}) < len(rows):
        merged = None
    arrays = None if merged is None else merged.arrays(rows)
    if merged is not None and arrays is not None:
        cursor.execute(merged.sql, arrays)
    else:
        cursor.executemany(_dialect(sql), rows)


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
