"""The words the ledger's tables are described in (`tables`), and how each engine spells
a described table: `Column`, `Check`, `Index`, `Replay`, `Table`; `create_table` and
`create_index` in an engine's `Dialect`.

Invariants: nothing here names a table of the ledger (those are `tables`); a table is
spelled the same way for both engines but for the dialect's type names, collation and
identity columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, NamedTuple

Type = Literal["text", "int", "bigint", "real"]
Engine = Literal["sqlite", "postgresql"]

APPEND_ONLY = "the event log is append-only"  # what the append-only triggers raise


class Column(NamedTuple):
    """One column; `compared` and `changed` say what `replay-events` makes of it."""

    name: str
    type: Type = "text"
    not_null: bool = False
    primary_key: bool = False
    identity: bool = False    # numbered by the database when an insert leaves it out
    ordered: bool = False     # sorted on: compared byte by byte on every engine
    default: str | None = None
    check: str | None = None
    references: str | None = None  # "table (column)"
    compared: bool = False    # rebuilt from the events and compared with the stored row
    changed: bool = False     # an event's `changes` may set it


class Check(NamedTuple):
    """A CHECK of the table's, after its columns; on both engines unless `engine` names one."""

    sql: str
    engine: Engine | None = None


class Index(NamedTuple):
    """An index; its columns may be expressions both engines accept, and `where` makes it
    partial (only the rows it holds for are indexed, or kept unique)."""

    name: str
    columns: tuple[str, ...]
    unique: bool = False
    where: str | None = None


class Replay(NamedTuple):
    """What `replay-events` calls an entity of this table, and the columns naming one."""

    entity: str
    keys: tuple[str, ...] = ("id",)


class Table(NamedTuple):
    """One table of the ledger."""

    name: str
    columns: tuple[Column, ...]
    checks: tuple[Check, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()
    indexes: tuple[Index, ...] = ()
    append_only: bool = False  # no UPDATE, DELETE, REPLACE or TRUNCATE: see each engine
    replay: Replay | None = None
    derived: bool = False  # rows kept by triggers from another table's: never copied

    @property
    def key(self) -> str:
        """The primary key's column."""
        return next(column.name for column in self.columns if column.primary_key)

    @property
    def column_names(self) -> tuple[str, ...]:
        """Every column, in the table's order."""
        return tuple(column.name for column in self.columns)


class Dialect(NamedTuple):
    """How one engine spells the description's types, an identity key and an ordered
    text, and what ends its CREATE TABLE."""

    engine: Engine
    types: dict[str, str]
    identity: str
    ordered: str
    table_suffix: str


def one_of(column: str, values: Iterable[str]) -> str:
    """The CHECK that keeps `column` to one of `values`."""
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


def create_table(table: Table, dialect: Dialect) -> str:
    """The CREATE TABLE statement of `table` in `dialect`."""
    lines = [_column_sql(column, dialect) for column in table.columns]
    lines += [f"CHECK ({check.sql})" for check in table.checks
              if check.engine in (None, dialect.engine)]
    lines += [f"UNIQUE ({', '.join(columns)})" for columns in table.unique]
    body = ",\n    ".join(lines)
    return f"CREATE TABLE {table.name} (\n    {body}\n){dialect.table_suffix};\n"


def create_index(table: Table, index: Index) -> str:
    """The CREATE INDEX statement of one of `table`'s indexes (the same on both engines)."""
    unique = "UNIQUE " if index.unique else ""
    where = f" WHERE {index.where}" if index.where else ""
    return (f"CREATE {unique}INDEX {index.name} ON {table.name} "
            f"({', '.join(index.columns)}){where};\n")


def _column_sql(column: Column, dialect: Dialect) -> str:
    parts = [column.name, dialect.types[column.type]]
    if column.ordered and dialect.ordered:
        parts.append(dialect.ordered)
    if column.identity:
        parts.append(dialect.identity)
    elif column.primary_key:
        parts.append("PRIMARY KEY")
    if column.not_null:
        parts.append("NOT NULL")
    if column.default is not None:
        parts.append(f"DEFAULT {column.default}")
    if column.check:
        parts.append(f"CHECK ({column.check})")
    if column.references:
        parts.append(f"REFERENCES {column.references}")
    return " ".join(parts)
