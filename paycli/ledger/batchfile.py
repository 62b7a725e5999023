"""Reading a billing run's file, row by row: CSV with the header `user,amount,currency,
order_id` (any order of those four; `currency` may be empty for USD), or JSON Lines with
those keys (`.jsonl` / `.ndjson`, or a file whose first character is `{`).

Each row becomes a `BatchRow` (checked by the same rules as `pay --order-id`) or a
`RowProblem` saying what is wrong with it, with its line number as an editor counts (a
CSV's header is line 1; a JSON Lines file's first row is). A bad row never stops the
others. `raw` keeps the row as it was written, so the rows that did not complete can be
written back out in the input's format, ready to run again.

Invariants: the file is read lazily, one line at a time, so its size never matters; an
amount is parsed exactly (never through float: a JSON number is read as its text).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paycli.errors import UsageError
from paycli.money import Money, MoneyError, parse_amount
from paycli.records import KEY, USER_ID

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


def file_format(path: Path, first: str) -> str:
    """`jsonl` or `csv`: by the file's suffix, else by its first character."""
    if path.suffix.lower() in JSON_LINES:
        return "jsonl"
    if path.suffix.lower() == ".csv":
        return "csv"
    return "jsonl" if first.lstrip().startswith("{") else "csv"


def read_rows(lines: Iterable[str], fmt: str, max_major: int) -> Iterator[Row]:
    """Every row of the file's `lines`, checked, in order."""
    return _jsonl_rows(lines, max_major) if fmt == "jsonl" else _csv_rows(lines, max_major)


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
                                parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:
            yield RowProblem(line, None, f"not JSON ({str(exc)[:100]})", text)
            continue
        if not isinstance(values, dict):
            yield RowProblem(line, None, "not a JSON object", text)
            continue
        if unknown := sorted(set(values) - set(COLUMNS)):
            yield RowProblem(line, _text(values.get("order_id")), f"unknown key "
                             f"{unknown[0][:40]!r}", text)
            continue
        yield checked(line, values, text, max_major)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def checked(line: int, values: dict[str, Any], raw: Any, max_major: int) -> Row:
    """One row's values as a `BatchRow`, or the `RowProblem` it has."""
    order_id = _text(values.get("order_id"))
    try:
        return _parsed(line, values, raw, max_major)
    except (UsageError, MoneyError) as exc:
        message = exc.message if isinstance(exc, UsageError) else str(exc)
        return RowProblem(line, order_id if order_id and KEY.fullmatch(order_id) else None,
                          message, raw)


def _parsed(line: int, values: dict[str, Any], raw: Any, max_major: int) -> BatchRow:
    user, amount = values.get("user"), values.get("amount")
    code, order_id = values.get("currency") or "USD", values.get("order_id")
    if not isinstance(user, str) or not USER_ID.fullmatch(user):
        raise UsageError(f"invalid user id {_shown(user)}: use 1-64 characters of letters, "
                         "digits, _ . : -")
    if not isinstance(order_id, str) or not KEY.fullmatch(order_id):
        raise UsageError(f"invalid order id {_shown(order_id)}: required, 1-255 printable "
                         "ASCII characters")
    if not isinstance(amount, str) or not isinstance(code, str):
        raise UsageError("amount and currency must be text")
    return BatchRow(line, user, parse_amount(amount, code, max_major), order_id, raw)


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


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
