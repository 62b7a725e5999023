"""Reading a billing run's file, row by row: CSV with the header `user,amount,currency,
order_id` (any order of those four; `currency` may be empty for USD), or JSON Lines with
those keys (`.jsonl` / `.ndjson`, or a file whose first character is `{`).

Each row is checked by one model (`BillingLine`, made of the rules of `ledger.fields`,
as `pay --order-id` checks its options) and becomes a `BatchRow`, or a `RowProblem` saying
what is wrong with it, with its line number as an editor counts (a CSV's header is line 1;
a JSON Lines file's first row is). A bad row never stops the others. An order id met again
in the same file is a problem of that row, naming the line it was first met on. `raw`
keeps the row as it was written, so the rows that did not complete can be written back
out in the input's format, ready to run again.

Invariants: the file is read lazily, one line at a time, and the order ids already met are
kept in a scratch file (`store.spool.SeenKeys`), so its size never matters; an amount is
parsed exactly (never through float: a JSON number is read as its text).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from paycli.errors import UsageError
from paycli.ledger.fields import (
    Amount,
    CurrencyOrUsd,
    OrderId,
    UserId,
    no_constant,
    order_id,
    problem,
)
from paycli.money import Money
from paycli.store.spool import SeenKeys

COLUMNS = ("user", "amount", "currency", "order_id")
JSON_LINES = (".jsonl", ".ndjson")


@dataclass(frozen=True)
class BatchRow:
    """A row to pay: who, how much, for which order; where it is in the file."""

    line: int
    user: str
    money: Money
    order_id: str
    raw: Any


@dataclass(frozen=True)
class RowProblem:
    """A row that cannot be paid as written, and why."""

    line: int
    order_id: str | None
    message: str
    raw: Any


Row = BatchRow | RowProblem


class BillingLine(BaseModel):
    """A row's values, checked in this order (the first problem is the row's)."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    user: UserId
    order_id: OrderId
    currency: CurrencyOrUsd = "USD"
    amount: Amount


def file_format(path: Path, first: str) -> str:
    """`jsonl` or `csv`: by the file's suffix, else by its first character."""
    if path.suffix.lower() in JSON_LINES:
        return "jsonl"
    if path.suffix.lower() == ".csv":
        return "csv"
    return "jsonl" if first.lstrip().startswith("{") else "csv"


def read_rows(lines: Iterable[str], fmt: str, max_major: int) -> Iterator[Row]:
    """Every row of the file's `lines`, checked, in order; a repeated order id is a
    `RowProblem` (each order is paid once per file)."""
    rows = _jsonl_rows(lines, max_major) if fmt == "jsonl" else _csv_rows(lines, max_major)
    with SeenKeys() as seen:
        for row in rows:
            yield _first_of_its_order(row, seen)


def _first_of_its_order(row: Row, seen: SeenKeys) -> Row:
    if isinstance(row, RowProblem):
        return row
    first = seen.first_line(row.order_id, row.line)
    if first is None:
        return row
    return RowProblem(row.line, row.order_id, f"order_id {row.order_id!r} appears again in "
                      f"the file (first on line {first})", row.raw)


def _csv_rows(lines: Iterable[str], max_major: int) -> Iterator[Row]:
    reader = csv.reader(lines)
    try:
        header = [name.strip().lstrip("\ufeff") for name in next(reader)]
    except StopIteration:
        raise UsageError(f"the file is empty: expected the header {','.join(COLUMNS)}"
                         ) from None
    except csv.Error as exc:
        raise UsageError(f"line 1: {exc}") from None
    if sorted(header) != sorted(COLUMNS):
        raise UsageError(f"line 1: expected the header {','.join(COLUMNS)}, found "
                         f"{','.join(header)[:100]!r}")
    at = {name: header.index(name) for name in COLUMNS}
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RowProblem(reader.line_num, None, f"not CSV: {exc}", None)
            continue
        if not fields:
            continue  # a blank line
        line = reader.line_num
        if len(fields) != len(COLUMNS):
            yield RowProblem(line, None, f"expected {len(COLUMNS)} fields, found {len(fields)}",
                             fields)
            continue
        values = {name: fields[index] for name, index in at.items()}
        yield checked(line, values, [values[name] for name in COLUMNS], max_major)


def _jsonl_rows(lines: Iterable[str], max_major: int) -> Iterator[Row]:
    for line, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            values = json.loads(text, parse_float=str, parse_int=str,
                                parse_constant=no_constant)
        except (ValueError, RecursionError) as exc:
            yield RowProblem(line, None, f"not JSON ({str(exc)[:100]})", text)
            continue
        if not isinstance(values, dict):
            yield RowProblem(line, None, "not a JSON object", text)
            continue
        yield checked(line, values, text, max_major)


def checked(line: int, values: dict[str, Any], raw: Any, max_major: int) -> Row:
    """One row's values as a `BatchRow`, or the `RowProblem` it has."""
    try:
        row = BillingLine.model_validate(values, context={"max_major": max_major})
    except ValidationError as exc:
        return RowProblem(line, _order_of(values), problem(exc, named=False), raw)
    return BatchRow(line, row.user, row.amount, row.order_id, raw)


def _order_of(values: dict[str, Any]) -> str | None:
    """The row's order id if it is a valid one (a failed row is still listed by it)."""
    try:
        return order_id(values.get("order_id"))
    except ValueError:
        return None


def write_rows(out: Any, fmt: str, rows: Iterable[Any]) -> None:
    """Rows as they were read (`raw`), in the input's format: a CSV with its header, or
    JSON Lines."""
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for raw in rows:
            writer.writerow(raw)
        return
    for raw in rows:
        out.write(raw if raw.endswith("\n") else raw + "\n")
