"""Reading a gateway's settlement report: the CSV `reconcile` compares the ledger with.

    external_id,payment_id,type,status,amount,currency,created_at

`type` is `charge` (status approved, pending, declined, or refunded: the seed's gateway
marks a refunded charge so) or `refund` (status refunded or refund_failed); `amount` is an
exact decimal string in major units, read by the one money parser into minor units (never
through float); `currency` an ISO 4217 code; `created_at` an ISO-8601 time.

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

from paycli.errors import ReportMalformed
from paycli.money import MoneyError, parse_amount
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
    try:
        return _parse(row, line)
    except ValueError as exc:
        raise ReportMalformed(f"{source} line {line}: {exc}") from None


def _parse(row: list[str], line: int) -> ReportLine:
    if len(row) != len(HEADER):
        raise ValueError(f"expected {len(HEADER)} fields, found {len(row)}")
    external_id, payment_id, kind, status, amount, code, created_at = (
        field.strip() for field in row)
    _identifier("external_id", external_id)
    _identifier("payment_id", payment_id)
    if kind not in STATUSES:
        raise ValueError(f"type {_shown(kind)} is not charge or refund")
    if status not in STATUSES[kind]:
        raise ValueError(f"status {_shown(status)} is not one of a {kind}'s: "
                         f"{', '.join(STATUSES[kind])}")
    try:
        money = parse_amount(amount, code)
    except MoneyError as exc:
        raise ValueError(str(exc)) from None
    _timestamp(created_at)
    return ReportLine(line, external_id, payment_id, kind, status, money.minor,
                      money.currency, created_at)


def _identifier(name: str, value: str) -> None:
    if not value:
        raise ValueError(f"{name} is empty")
    if len(value) > MAX_ID or not value.isprintable():
        raise ValueError(f"{name} {_shown(value)} is not an identifier (at most {MAX_ID} "
                         "printable characters)")


def _timestamp(value: str) -> None:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"created_at {_shown(value)} is not an ISO-8601 time") from None


def _shown(value: str) -> str:
    """A value from the report, quoted, cut short and with no control characters."""
    clean = "".join(char if char.isprintable() else "?" for char in value)
    return repr(clean if len(clean) <= 40 else clean[:37] + "...")
