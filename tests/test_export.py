"""`paycli export`: what is exported adds up to what the ledger holds, in both formats, and
the CSV is safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import stat
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import CliCall
from history import ORDER_ID, REASON, History

from paycli.ledger import export
from paycli.money import currency
from paycli.store import Store

Totals = dict[tuple[str, ...], Decimal]
CAPTURED = ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED")


def ledger_totals(db: Path) -> Totals:
    """Captured payments, completed refunds and transfers by kind and state, per currency,
    summed by plain SQL from the ledger's tables, in major units."""
    queries = {
        "captured": "SELECT 'captured', currency, sum(amount) FROM payments WHERE status IN "
                    f"{CAPTURED} GROUP BY currency",
        "refunded": "SELECT 'refunded', currency, sum(amount) FROM refunds "
                    "WHERE status = 'COMPLETED' GROUP BY currency",
        "transfers": "SELECT kind || ':' || state, currency, sum(amount) FROM transfers "
                     "GROUP BY kind, state, currency",
    }
    conn = sqlite3.connect(db)
    try:
        rows = [row for sql in queries.values() for row in conn.execute(sql)]
    finally:
        conn.close()
    return {(what, code): Decimal(minor).scaleb(-currency(code).exponent)
            for what, code, minor in rows}


def exported_totals(records: list[dict[str, Any]]) -> Totals:
    """The same sums, from the exported records' decimal amounts."""
    totals: Totals = defaultdict(Decimal)
    for record in records:
        amount, code = Decimal(record["amount"]), record["currency"]
        if record["record"] == "payment" and record["status"] in CAPTURED:
            totals[("captured", code)] += amount
        elif record["record"] == "refund" and record["status"] == "COMPLETED":
            totals[("refunded", code)] += amount
        elif record["record"] == "transfer":
            totals[(f"{record['kind']}:{record['status']}", code)] += amount
    return dict(totals)


def export_text(store: Store, fmt: str) -> str:
    """Export to a string."""
    out = io.StringIO()
    export.export(store, fmt, None, out)
    return out.getvalue()


def parse(text: str, fmt: str) -> list[dict[str, Any]]:
    """Exported text back into records."""
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(text, newline="")))
    return [json.loads(line) for line in text.splitlines()]


class TestRoundTrip:
    @pytest.mark.parametrize("fmt", export.FORMATS)
    def test_amounts_add_up_to_the_ledger(self, store: Store, db_path: Path,
                                          history: History, fmt: str) -> None:
        """Summed per currency, exported amounts equal the ledger's captured payments,
        refunds and transfers by kind and state."""
        records = parse(export_text(store, fmt), fmt)
        expected = ledger_totals(db_path)
        assert exported_totals(records) == expected
        assert expected[("captured", "USD")] == Decimal("350.75")
        assert expected[("refunded", "JPY")] == Decimal("200")
        assert expected[("payment:posted", "USD")] == expected[("captured", "USD")]

    @pytest.mark.parametrize("fmt", export.FORMATS)
    def test_every_row_once_in_a_stable_order(self, store: Store, history: History,
                                              fmt: str) -> None:
        """Payments, then refunds, then transfers, each once, with the documented columns."""
        records = parse(export_text(store, fmt), fmt)
        kinds = [record["record"] for record in records]
        assert kinds == sorted(kinds, key=["payment", "refund", "transfer"].index)
        assert kinds.count("payment") == 6 and kinds.count("refund") == 4
        assert len({record["id"] for record in records}) == len(records)
        assert all(tuple(record) == export.COLUMNS for record in records)

    def test_amounts_are_exact_decimals_at_the_currency_precision(
            self, store: Store, history: History) -> None:
        """USD has two decimals, JPY none; JSON amounts are strings, never numbers."""
        records = parse(export_text(store, "jsonl"), "jsonl")
        amounts = {(r["currency"], r["amount"]) for r in records if r["record"] == "payment"}
        assert ("USD", "200.25") in amounts and ("JPY", "1200") in amounts
        assert all(isinstance(r["amount"], str) for r in records)


class TestCsvSafety:
    def test_formula_like_free_text_is_quoted(self, store: Store, history: History) -> None:
        """A reason or order id starting with = + - @ gets a leading ' in CSV only."""
        csv_rows = parse(export_text(store, "csv"), "csv")
        assert {row["reason"] for row in csv_rows if row["reason"]} == {f"'{REASON}"}
        assert {row["order_id"] for row in csv_rows if row["order_id"]} == {f"'{ORDER_ID}"}
        json_rows = parse(export_text(store, "jsonl"), "jsonl")
        assert {row["reason"] for row in json_rows if row["reason"]} == {REASON}

    @pytest.mark.parametrize(("value", "cell"), [
        ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"), ("plain", "plain"), (None, ""), ("12.50", "12.50"),
    ])
    def test_safe_cell(self, value: str | None, cell: str) -> None:
        """Only risky first characters are quoted; None is an empty cell."""
        assert export.safe_cell(value) == cell

    def test_csv_has_a_header_and_crlf_rows(self, store: Store, history: History) -> None:
        """RFC 4180: the header row first, CRLF line ends."""
        text = export_text(store, "csv")
        assert text.startswith(",".join(export.COLUMNS) + "\r\n")


class TestCli:
    def test_out_file_is_private_and_complete(self, cli: CliCall, store: Store,
                                              history: History, tmp_path: Path) -> None:
        """--out writes a 0600 file and says how many records it holds."""
        target = tmp_path / "ledger.csv"
        result = cli("export", "--format", "csv", "--out", str(target))
        assert result.exit_code == 0, result.output
        assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
        records = parse(target.read_text(encoding="utf-8"), "csv")
        assert f"Exported {len(records)} records (csv)" in result.stdout
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []

    def test_stdout_gets_the_data_only(self, cli: CliCall, history: History) -> None:
        """Without --out, stdout is exactly the JSON lines."""
        result = cli("export", "--format", "JSONL")
        assert result.exit_code == 0, result.output
        records = parse(result.stdout, "jsonl")
        assert len(records) > 10 and records[0]["record"] == "payment"

    @pytest.mark.parametrize("args", [["--format", "xml"], [], ["--format", ""]])
    def test_a_bad_format_is_a_usage_error(self, cli: CliCall, args: list[str]) -> None:
        """An unknown or missing --format exits 2 with one line on stderr."""
        result = cli("export", *args)
        assert result.exit_code == 2
        assert "--format" in result.stderr and result.stdout == ""

    @pytest.mark.usefixtures("empty_ledger")
    def test_out_into_a_directory_is_a_usage_error(self, cli: CliCall, tmp_path: Path) -> None:
        """--out naming a folder exits 2 and writes nothing."""
        result = cli("export", "--format", "csv", "--out", str(tmp_path))
        assert result.exit_code == 2
        assert "is a directory" in result.stderr
