"""What `replay-events` rebuilds and how it compares it with the stored ledger, made from
the one description of the tables (`tables`): each table with a `Replay` is rebuilt, in a
scratch table of its key, `compared` and `changed` columns; its `compared` columns are
compared with the stored ones, row by row, in SQL.

The events carry no account ids: the replay names an account by its owner, its kind and
user, with '' as the user of an external account. So accounts are keyed by owner, a
transfer's two accounts are held in the scratch as owners (`debit_kind`, `debit_user`,
...) and read as `kind:user` on both sides (`_READ_AS`); every other column is rebuilt and
read as it is stored.

Invariants:
- The scratch tables are STRICT and have no CHECK: a value of the wrong type is refused
  (the event does not apply), any other value is rebuilt and compared, never refused.
- A `Comparison`'s two SELECTs have the same columns in the same order: its keys, then its
  fields; `difference_sql` finds the rows that differ or exist on one side only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paycli.store.describe import Column, Table
from paycli.store.schema import SQLITE
from paycli.store.tables import TABLES

REPLAYED: tuple[Table, ...] = tuple(table for table in TABLES if table.replay)


@dataclass(frozen=True)
class Comparison:
    """How one kind of entity is compared: its key columns and compared fields, and the
    same-shaped SELECTs over the stored ledger and over the replay."""

    entity: str
    keys: tuple[str, ...]
    fields: tuple[str, ...]
    stored: str
    replayed: str


@dataclass(frozen=True)
class Difference:
    """One entity whose stored and replayed rows differ; None where a side has no row."""

    entity: str
    key: tuple[Any, ...]
    stored: dict[str, Any] | None
    replayed: dict[str, Any] | None


_OWNER = "(SELECT a.kind || ifnull(':' || a.user_id, '') FROM stored.accounts a WHERE a.id = {})"
_REPLAYED_OWNER = "{0}_kind || iif({0}_user = '', '', ':' || {0}_user)"

# (table, column): the field it is compared as, how the stored and the replayed side read it.
_READ_AS = {
    ("accounts", "user_id"): ("user_id", "ifnull(user_id, '')", "user_id"),
    ("transfers", "debit_account"): ("debit", _OWNER.format("debit_account"),
                                     _REPLAYED_OWNER.format("debit")),
    ("transfers", "credit_account"): ("credit", _OWNER.format("credit_account"),
                                      _REPLAYED_OWNER.format("credit")),
}
# (table, column): the scratch columns that hold it.
_SCRATCH_AS = {
    ("accounts", "user_id"): ("user_id TEXT NOT NULL",),
    ("transfers", "debit_account"): ("debit_kind TEXT NOT NULL", "debit_user TEXT NOT NULL"),
    ("transfers", "credit_account"): ("credit_kind TEXT NOT NULL",
                                      "credit_user TEXT NOT NULL"),
}


def _keys(table: Table) -> tuple[str, ...]:
    assert table.replay is not None
    return table.replay.keys


def _rebuilt(table: Table) -> list[Column]:
    """The table's columns the replay rebuilds: its keys first, then the others in order."""
    keys = _keys(table)
    named = {column.name: column for column in table.columns}
    return [named[key] for key in keys] + [
        column for column in table.columns
        if (column.compared or column.changed) and column.name not in keys]


def _scratch_columns(table: Table, column: Column) -> tuple[str, ...]:
    """The scratch columns holding one rebuilt column: itself, unless it names an account."""
    stand_in = _SCRATCH_AS.get((table.name, column.name))
    if stand_in:
        return stand_in
    not_null = column.not_null or column.name in _keys(table)
    return (f"{column.name} {SQLITE.types[column.type]}" + " NOT NULL" * not_null,)


def scratch_table(table: Table) -> str:
    """The replay's own table for a described one: what it rebuilds, keyed as compared."""
    lines = [line for column in _rebuilt(table) for line in _scratch_columns(table, column)]
    lines.append(f"PRIMARY KEY ({', '.join(_keys(table))})")
    return f"CREATE TABLE {table.name} (\n    " + ",\n    ".join(lines) + "\n) STRICT;\n"


SCRATCH_SCHEMA = "".join(scratch_table(table) for table in REPLAYED)
"""The replay's own tables, in the scratch database's `main`."""

STORED: dict[str, tuple[str, ...]] = {
    table.name: tuple(dict.fromkeys(
        (table.key, *_keys(table), *(c.name for c in table.columns if c.compared))))
    for table in REPLAYED
}
"""The stored columns the comparisons read: what is copied of a server ledger."""

STORED_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    table.name: tuple(dict.fromkeys(((table.key,), _keys(table)))) for table in REPLAYED
}
"""The unique keys the comparisons look stored rows up by: each table's own key, and the
key its entity is compared by."""

CHANGEABLE: dict[str, frozenset[str]] = {
    table.name: frozenset(column.name for column in table.columns if column.changed)
    for table in REPLAYED
}
"""The columns an event's `changes` may set, per table (the rest is fixed at creation)."""


def comparison_of(table: Table) -> Comparison:
    """How the replay compares a described table: its keys and `compared` columns, each
    read as stored on one side and as rebuilt on the other."""
    assert table.replay is not None
    names = (*_keys(table), *(c.name for c in table.columns
                              if c.compared and c.name not in _keys(table)))
    reads = [_READ_AS.get((table.name, name), (name, name, name)) for name in names]
    fields = tuple(field for field, _, _ in reads)
    return Comparison(
        table.replay.entity, fields[:len(_keys(table))], fields[len(_keys(table)):],
        f"SELECT {_select(fields, [read for _, read, _ in reads])} FROM stored.{table.name}",
        f"SELECT {_select(fields, [read for _, _, read in reads])} FROM main.{table.name}",
    )


def _select(fields: tuple[str, ...], reads: list[str]) -> str:
    return ", ".join(read if read == field else f"{read} AS {field}"
                     for field, read in zip(fields, reads, strict=True))


COMPARISONS: tuple[Comparison, ...] = tuple(comparison_of(table) for table in REPLAYED)


def difference_sql(comparison: Comparison) -> str:
    """Rows present on one side only, or present on both with some field different.

    Each result row is (in stored, in replay, stored columns..., replayed columns...).
    The sides are `NOT MATERIALIZED` so that the joins use the tables' own indexes.
    """
    columns = (*comparison.keys, *comparison.fields)
    both = ", ".join([*(f"s.{c}" for c in columns), *(f"r.{c}" for c in columns)])
    only_s = ", ".join([*(f"s.{c}" for c in columns), *("NULL" for _ in columns)])
    only_r = ", ".join([*("NULL" for _ in columns), *(f"r.{c}" for c in columns)])
    joined = " AND ".join(f"s.{k} = r.{k}" for k in comparison.keys)
    differs = " OR ".join(f"s.{f} IS NOT r.{f}" for f in comparison.fields)
    return (
        f"WITH s AS NOT MATERIALIZED ({comparison.stored}), "
        f"r AS NOT MATERIALIZED ({comparison.replayed}) "
        f"SELECT 1, 1, {both} FROM s JOIN r ON {joined} WHERE {differs} "
        f"UNION ALL SELECT 1, 0, {only_s} FROM s WHERE NOT EXISTS "
        f"(SELECT 1 FROM r WHERE {joined}) "
        f"UNION ALL SELECT 0, 1, {only_r} FROM r WHERE NOT EXISTS "
        f"(SELECT 1 FROM s WHERE {joined})"
    )
