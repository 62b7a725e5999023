"""`paycli export`: payments, refunds and ledger transfers for accounting, as CSV or JSON lines.

One stream of records with one fixed set of columns. `record` says what a record is; a
column that does not apply to it is empty in CSV and null in JSON lines:

    record       payment, refund or transfer
    id           pay_..., ref_..., or the transfer's txn_... / hold_...
    created_at   ISO 8601 UTC
    updated_at   last change (payment, refund); when it was posted or voided (transfer)
    kind         transfer: credit, payment or refund
    status       payment or refund status; transfer state: pending, posted or voided
    user         the wallet's owner
    currency     ISO 4217 code of every amount on the record
    amount       exact decimal at the currency's precision ("50.00", "1000" for JPY)
    refunded     payment: how much of it has been refunded
    payment_id   refund: the payment it refunds
    order_id     payment: the caller's order id
    reason       refund: the operator's reason
    gateway_ref  payment or refund: the gateway's reference
    transfer_id  payment: its hold (a payment transfer); refund: its credit transfer
    debit        transfer: the account debited (`funding`, `clearing` or `wallet:USER`)
    credit       transfer: the account credited
    reference    transfer: its reference (the payment id of a hold, the refund id of a
                 refund's credit, the idempotency key of a credit)
    error_type   payment or refund: why it failed, if it did
    actor        who made the record's last change (the actor of its newest event)
    gateway      payment: the configured gateway its charge went to (`default` before
                 several gateways existed)

Order: every payment, then every refund, then every transfer, each oldest first (then by
id), all read from one snapshot of the ledger.

Invariants:
- Amounts are exact decimal strings beside their currency; never floats.
- Rows are streamed from the database to the output (constant memory).
- CSV is UTF-8 (no byte-order mark), RFC 4180 (a header row, CRLF line ends). A cell that
  begins with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, so a
  spreadsheet shows it as text and never runs it as a formula (CSV injection).
- `--out FILE` is written to a 0600 temporary file beside it and renamed into place when
  complete: the file never exists half-written or readable by others.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from paycli.errors import UsageError
from paycli.money import format_minor
from paycli.store import Reader, Store

FORMATS = ("csv", "jsonl")
COLUMNS = ("record", "id", "created_at", "updated_at", "kind", "status", "user", "currency",
           "amount", "refunded", "payment_id", "order_id", "reason", "gateway_ref",
           "transfer_id", "debit", "credit", "reference", "error_type", "actor", "gateway")
SECTIONS = ("payments", "refunds", "transfers")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PROGRESS_EVERY = 1000

Progress = Callable[[int, int], None]  # (records written, records in all)


def export(store: Store, fmt: str, out: str | None, stdout: TextIO,
           progress: Progress | None = None) -> dict[str, Any]:
    """Write every record as `fmt` to the file `out` (or to `stdout`); returns a summary."""
    with store.snapshot() as reader:
        total = sum(reader.row_count(section) for section in SECTIONS)
        if out is None:
            written = write(records(reader), fmt, stdout, total, progress)
        else:
            with _private_file(out) as handle:
                written = write(records(reader), fmt, handle, total, progress)
    return {"records": written, "format": fmt, "out": out}


def records(reader: Reader) -> Iterator[dict[str, Any]]:
    """Every payment, refund and transfer as a record of `COLUMNS`, streamed."""
    shapes = {"payments": _payment, "refunds": _refund, "transfers": _transfer}
    for section in SECTIONS:
        shape = shapes[section]
        for names, row in reader.rows(section):
            fields = shape(dict(zip(names, row, strict=True)))
            fields["actor"] = row[-1]  # every export query ends with the actor
            yield {column: fields.get(column) for column in COLUMNS}


def _payment(row: dict[str, Any]) -> dict[str, Any]:
    currency = row["currency"]
    return {"record": "payment", "id": row["id"], "created_at": row["created_at"],
            "updated_at": row["updated_at"], "status": row["status"], "user": row["user_id"],
            "currency": currency, "amount": format_minor(row["amount"], currency),
            "refunded": format_minor(row["refunded"], currency), "order_id": row["order_id"],
            "gateway_ref": row["gateway_ref"], "transfer_id": row["hold_id"],
            "error_type": row["error_type"], "gateway": row["gateway"]}


def _refund(row: dict[str, Any]) -> dict[str, Any]:
    currency = row["currency"]
    return {"record": "refund", "id": row["id"], "created_at": row["created_at"],
            "updated_at": row["updated_at"], "status": row["status"], "user": row["user_id"],
            "currency": currency, "amount": format_minor(row["amount"], currency),
            "payment_id": row["payment_id"], "reason": row["reason"],
            "gateway_ref": row["gateway_ref"], "transfer_id": row["transfer_id"],
            "error_type": row["error_type"]}


def _transfer(row: dict[str, Any]) -> dict[str, Any]:
    currency = row["currency"]
    return {"record": "transfer", "id": row["id"], "created_at": row["created_at"],
            "updated_at": row["resolved_at"], "kind": row["kind"], "status": row["state"],
            "user": row["debit_user"] or row["credit_user"], "currency": currency,
            "amount": format_minor(row["amount"], currency),
            "debit": _account(row["debit_kind"], row["debit_user"]),
            "credit": _account(row["credit_kind"], row["credit_user"]),
            "reference": row["reference"]}


def _account(kind: str, user: str | None) -> str:
    return f"{kind}:{user}" if user else kind


def write(rows: Iterator[dict[str, Any]], fmt: str, out: TextIO, total: int,
          progress: Progress | None = None) -> int:
    """Write `rows` to `out` as `fmt` (csv or jsonl); returns how many were written."""
    emit = _csv_writer(out) if fmt == "csv" else _jsonl_writer(out)
    written = 0
    for row in rows:
        emit(row)
        written += 1
        if progress is not None and written % PROGRESS_EVERY == 0:
            progress(written, total)
    if progress is not None:
        progress(written, total)
    return written


def _csv_writer(out: TextIO) -> Callable[[dict[str, Any]], None]:
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    return lambda row: writer.writerow([safe_cell(row[column]) for column in COLUMNS])


def _jsonl_writer(out: TextIO) -> Callable[[dict[str, Any]], None]:
    def emit(row: dict[str, Any]) -> None:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")

    return emit


def safe_cell(value: Any) -> str:
    """A CSV cell: empty for None; text that a spreadsheet could run as a formula is quoted
    with a leading `'`."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


@contextlib.contextmanager
def _private_file(path: str) -> Iterator[TextIO]:
    """A 0600 temporary file beside `path`, renamed to `path` only if writing succeeds."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"--out {path}: is a directory")
    try:
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                         suffix=".part")
    except OSError as exc:
        raise UsageError(f"--out {path}: cannot write there ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
