"""Reading a gateway's settlement report: the CSV `reconcile` compares the ledger with.

    external_id,payment_id,type,status,amount,currency,created_at

Each line is checked by one model (`SettlementLine`): `type` is `charge` (status approved,
pending, declined, or refunded: the seed's gateway marks a refunded charge so) or `refund`
(status refunded or refund_failed); `amount` is an exact decimal string in major units,
read by the one money parser into minor units (never through float; `ledger.fields`, the
rule every input file's amounts follow); `currency` an ISO 4217 code (no default: a
gateway's report says it); `created_at` an ISO-8601 time.

Invariants: the report is read line by line (a generator over any iterable of text lines,
a file or an HTTP body), so its size never matters; a line that cannot be read stops the
whole run with `ReportMalformed` naming its line (as an editor counts, the header is line
1), so nothing is ever settled from half a report; text from the report is checked for
length and control characters before it can reach a terminal or the ledger.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError, ValidationInfo

from paycli.errors import ReportMalformed
from paycli.ledger.fields import Amount, CurrencyCode, problem, shown
from paycli.records import ReportLine

HEADER = ("external_id", "payment_id", "type", "status", "amount", "currency", "created_at")
STATUSES = {
    "charge": ("approved", "pending", "declined", "refunded"),
    "refund": ("refunded", "refund_failed"),
}
MAX_ID = 128


def decoded(lines: Iterable[bytes], source: str) -> Iterator[str]:
    """A file's lines as UTF-8 text, or `ReportMalformed` naming the first that is not."""
    for number, raw in enumerate(lines, 1):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ReportMalformed(f"{source} line {number}: not UTF-8 text") from None


def read_report(lines: Iterable[str], source: str) -> Iterator[ReportLine]:
    """The report's lines, checked, one at a time; `source` names it in errors."""
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise ReportMalformed(f"{source} is empty: expected the header "
                              f"{','.join(HEADER)}") from None
    except csv.Error as exc:
        raise ReportMalformed(f"{source} line 1: {exc}") from None
    if tuple(name.strip() for name in _unmarked(header)) != HEADER:
        raise ReportMalformed(f"{source} line 1: expected the header {','.join(HEADER)}")
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ReportMalformed(f"{source} line {reader.line_num}: {exc}") from None
        if row:  # a blank line (the last one, say) carries nothing
            yield checked(row, reader.line_num, source)


def _unmarked(header: list[str]) -> list[str]:
    """The header without a UTF-8 byte order mark (spreadsheets write one)."""
    return [header[0].lstrip("\ufeff"), *header[1:]] if header else header


def checked(row: list[str], line: int, source: str) -> ReportLine:
    """One report line as a `ReportLine`, or `ReportMalformed` saying what is wrong."""
    if len(row) != len(HEADER):
        raise ReportMalformed(f"{source} line {line}: expected {len(HEADER)} fields, found "
                              f"{len(row)}")
    try:
        read = SettlementLine.model_validate(dict(zip(HEADER, (f.strip() for f in row),
                                                      strict=True)))
    except ValidationError as exc:
        raise ReportMalformed(f"{source} line {line}: {_clean(problem(exc, named=False))}"
                              ) from None
    return ReportLine(line, read.external_id, read.payment_id, read.type, read.status,
                      read.amount.minor, read.amount.currency, read.created_at)


def _identifier(value: Any, info: ValidationInfo) -> str:
    if not value:
        raise ValueError(f"{info.field_name} is empty")
    if len(value) > MAX_ID or not value.isprintable():
        raise ValueError(f"{info.field_name} {_shown(value)} is not an identifier (at most "
                         f"{MAX_ID} printable characters)")
    return str(value)


def _kind(value: Any) -> str:
    if value not in STATUSES:
        raise ValueError(f"type {_shown(value)} is not charge or refund")
    return str(value)


def _status(value: Any, info: ValidationInfo) -> str:
    kind = info.data.get("type")
    if kind is not None and value not in STATUSES[kind]:
        raise ValueError(f"status {_shown(value)} is not one of a {kind}'s: "
                         f"{', '.join(STATUSES[kind])}")
    return str(value)


def _timestamp(value: Any) -> str:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"created_at {_shown(value)} is not an ISO-8601 time") from None
    return str(value)


class SettlementLine(BaseModel):
    """A report line's fields, checked in this order (the first problem is the line's; a
    status is checked against the type before it)."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    external_id: Annotated[str, PlainValidator(_identifier)]
    payment_id: Annotated[str, PlainValidator(_identifier)]
    type: Annotated[str, PlainValidator(_kind)]
    status: Annotated[str, PlainValidator(_status)]
    currency: CurrencyCode
    amount: Amount
    created_at: Annotated[str, PlainValidator(_timestamp)]


def _shown(value: str) -> str:
    """A value from the report, quoted, cut short and with no control characters."""
    return shown(_clean(value))


def _clean(text: str) -> str:
    """`text` with no control characters: it may reach a terminal or the ledger."""
    return "".join(char if char.isprintable() else "?" for char in text)
