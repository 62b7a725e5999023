"""Every input file is read and checked in one place: billing files by `ledger.batchfile`,
fixtures files by `ledger.fixturefile`, settlement reports by `ledger.report`, all from
one set of value rules (`ledger.fields`); the commands only call them. A malformed file is
one line naming its place (the entry or the line), exit 2, and nothing is written.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CliCall, count_events

from paycli.errors import ReportMalformed, UsageError
from paycli.ledger import fixturefile
from paycli.ledger.batchfile import BatchRow, RowProblem, read_rows
from paycli.ledger.fixturefile import FixturesFile, read_fixtures
from paycli.ledger.report import HEADER, read_report
from paycli.money import Money

QUIET_ENV = {"PAYCLI_GATEWAY_URL": "http://127.0.0.1:9", "PAYCLI_RETRY_ATTEMPTS": "1"}
REPORT_HEADER = ",".join(HEADER) + "\n"
PACKAGE = Path(__file__).resolve().parent.parent / "paycli"


def modules() -> Iterator[tuple[str, Path]]:
    """Every module of the package as (dotted name, path)."""
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def calls(name: str, path: Path) -> list[ast.Call]:
    """The calls of `path` to a function spelled `name` (`csv.reader`, `json.loads`)."""
    return [node for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call) and ast.unparse(node.func) == name]


def importers(names: set[str]) -> set[str]:
    """The paycli modules that import any of `names` from `paycli.records`."""
    found = set()
    for module, path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.ImportFrom) and node.module == "paycli.records"
                    and names & {alias.name for alias in node.names}):
                found.add(module)
    return found


def fixtures(tmp_path: Path, text: str) -> Path:
    """A fixtures file holding `text`."""
    path = tmp_path / "shop.json"
    path.write_text(text, encoding="utf-8")
    return path


def rows(lines: list[str], fmt: str = "csv") -> list[Any]:
    """A billing file's rows, read by the billing run's reader."""
    return list(read_rows([line + "\n" for line in lines], fmt, 1_000_000))


class TestOneReaderEach:
    def test_each_file_format_is_parsed_by_one_module(self) -> None:
        """CSV is read only by the billing file's and the report's readers; JSON input
        (refusing NaN) only by the billing file's and the fixtures file's."""
        csv_readers = {name for name, path in modules() if calls("csv.reader", path)}
        json_readers = {name for name, path in modules()
                        if any(kw.arg == "parse_constant" for call in calls("json.loads", path)
                               for kw in call.keywords)}
        assert csv_readers == {"paycli.ledger.batchfile", "paycli.ledger.report"}
        assert json_readers == {"paycli.ledger.batchfile", "paycli.ledger.fixturefile"}

    def test_the_id_rules_are_applied_for_files_in_one_module(self) -> None:
        """User and order id rules: `ledger.fields` for every file, `cli.inputs` for the
        options of the command line; nowhere else."""
        assert importers({"USER_ID", "KEY"}) == {"paycli.ledger.fields", "paycli.cli.inputs"}

    @pytest.mark.parametrize("porch", ["fixtures", "batch"])
    def test_the_porch_keeps_no_rule_of_a_file(self, porch: str) -> None:
        """`cli.fixtures` and `cli.batch` check nothing of the file themselves: no model,
        no id rule, no money parser, no repeated-order spool."""
        path = PACKAGE / "cli" / f"{porch}.py"
        imported = {node.module for node in ast.walk(ast.parse(path.read_text()))
                    if isinstance(node, ast.ImportFrom)}
        assert not imported & {"pydantic", "paycli.records", "paycli.money",
                               "paycli.store.spool", "paycli.ledger.fields"}


class TestFixturesFile:
    def test_read_into_exact_money(self, tmp_path: Path) -> None:
        """JSON numbers are their text (0.30 is 30 cents); currency left out, null or
        empty is USD; a refund's amount is kept as text, or None."""
        plan = read_fixtures(fixtures(tmp_path, json.dumps({
            "wallets": [{"user": "ann", "amount": "5", "currency": None},
                        {"user": "ann", "amount": "1000", "currency": "jpy"}],
            "payments": [{"user": "ann", "amount": "1.5", "currency": "", "order_id": "o"}],
            "refunds": [{"order_id": "o"}, {"order_id": "o", "amount": "0.5"}],
        }).replace('"5"', "0.30")), 1_000_000)
        assert [w.money for w in plan.wallets] == [Money(30, "USD"), Money(1000, "JPY")]
        assert plan.payments[0].money == Money(150, "USD")
        assert [r.amount for r in plan.refunds] == [None, "0.5"]
        assert read_fixtures(fixtures(tmp_path, "{}"), 10) == FixturesFile()

    @pytest.mark.parametrize(("text", "says"), [
        ('{"wallets": {}}', "wallets must be a list"),
        ('{"wallets": null}', "wallets must be a list"),
        ('{"wallets": [5]}', "wallets[0] must be an object"),
        ('{"payments": [{"user": "ann"}]}', "payments[0]: missing amount, order_id"),
        ('{"wallets": [{"user": "ann", "amount": "5", "colour": "red"}]}',
         "wallets[0]: unknown key 'colour'"),
        ('{"wallets": [{"user": 42, "amount": "5"}]}', "wallets[0].user must be a string"),
        ('{"wallets": [{"user": "a", "amount": true}]}', "wallets[0].amount must be a string"),
        ('{"refunds": [{"order_id": 1}]}', "refunds[0].order_id must be a string"),
        ('{"wallets": [{"user": "a", "amount": "5"}, {"user": "b", "amount": "x"}]}',
         "wallets[1].amount: invalid amount 'x': expected a positive decimal like 50 or "
         "50.25"),
        ('{"wallets": [{"user": "ann", "amount": 1e3}]}',
         "wallets[0].amount: invalid amount '1e3': expected a positive decimal like 50 or "
         "50.25"),
        ('{"wallets": [{"user": "ann", "amount": "5.5", "currency": "JPY"}]}',
         "wallets[0].amount: invalid amount '5.5': JPY has no decimal places"),
        ('{"wallets": [{"user": "ann", "amount": "11"}]}',
         "wallets[0].amount: invalid amount '11': above the maximum of 10 USD"),
        ('{"wallets": [{"user": "ann", "amount": "5", "currency": "XXX"}]}',
         "wallets[0].currency: currency XXX is refused: ISO 4217 keeps it for transactions "
         "where no currency is involved; it is not a currency of money"),
        ('{"wallets": [{"user": "ann smith", "amount": "5"}]}',
         "wallets[0].user: invalid user id 'ann smith': use 1-64 characters of letters, "
         "digits, _ . : -"),
        ('{"refunds": [{"order_id": "o1", "amount": "lots"}]}',
         "refunds[0].amount: invalid amount 'lots': expected a positive decimal like 50 or "
         "50.25"),
        ('{"wallets": [{"user": "ann", "amount": "5"}, {"user": "ann", "amount": "5", '
         '"currency": "usd"}]}', "wallets[1]: a second entry for ann USD"),
        ('{"payments": [{"user": "a", "amount": "5", "order_id": "o1"}, {"user": "b", '
         '"amount": "6", "order_id": "o1"}]}', "payments[1]: a second payment for order o1"),
        ("[]", "expected an object with wallets, payments and refunds"),
        ('{"accounts": []}', "expected an object with wallets, payments and refunds"),
        ('{"wallets": [], "wallets": []}',
         "not valid JSON (a key given twice in one object: ['wallets', 'wallets'])"),
        ('{"wallets": [{"user": "ann", "amount": NaN}]}',
         "not valid JSON (NaN is not a JSON value)"),
    ])
    def test_a_malformed_file_is_one_line_naming_the_entry(self, tmp_path: Path, text: str,
                                                           says: str) -> None:
        """The file's name, the entry's place and what is wrong with it, as a usage
        error (exit 2)."""
        path = fixtures(tmp_path, text)
        with pytest.raises(UsageError) as caught:
            read_fixtures(path, 10)
        assert caught.value.message == f"{path}: {says}"
        assert caught.value.exit_code == 2

    def test_a_file_too_large_or_not_utf8_is_refused_before_parsing(
            self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Over the size limit, or bytes that are not UTF-8: refused by name."""
        path = tmp_path / "shop.json"
        path.write_bytes(b'{"wallets": [{"user": "\xff", "amount": "5"}]}')
        with pytest.raises(UsageError, match="not UTF-8 text"):
            read_fixtures(path, 10)
        monkeypatch.setattr(fixturefile, "MAX_FILE_BYTES", 8)
        with pytest.raises(UsageError, match="larger than"):
            read_fixtures(fixtures(tmp_path, '{"wallets": []}'), 10)


class TestBillingFile:
    def test_rows_are_read_with_their_lines(self) -> None:
        """A header in any order (with a spreadsheet's byte order mark); each row a
        `BatchRow` with its line as an editor counts, empty currency is USD."""
        read = rows(["\ufefforder_id,user,amount,currency", "o-1,ann,10.50,", "o-2,bob,7,jpy"])
        assert [(r.line, r.user, r.money, r.order_id) for r in read] == [
            (2, "ann", Money(1050, "USD"), "o-1"), (3, "bob", Money(7, "JPY"), "o-2")]
        assert all(isinstance(r, BatchRow) for r in read)

    def test_a_repeated_order_is_refused_by_the_reader_itself(self) -> None:
        """The billing run's own reader (no command involved) refuses an order met again
        in the file, naming the line it was first met on; the first one stays good."""
        read = rows(["user,amount,currency,order_id", "ann,1,,o-1", "bob,2,,o-2",
                     "ann,3,,o-1"])
        assert isinstance(read[0], BatchRow) and isinstance(read[1], BatchRow)
        assert read[2] == RowProblem(4, "o-1", "order_id 'o-1' appears again in the file "
                                     "(first on line 2)", ["ann", "3", "", "o-1"])

    @pytest.mark.parametrize(("line", "says"), [
        ('{"user": "ann", "amount": "1"}', "missing order_id"),
        ('{"user": null, "amount": "1", "order_id": "j"}', "user must be a string"),
        ('{"user": "ann", "amount": "1", "order_id": "j", "colour": 1}', "unknown key 'colour'"),
        ('{"user": "ann", "amount": "0.001", "order_id": "j"}',
         "invalid amount '0.001': USD has at most 2 decimal places"),
        ('{"user": "ann", "amount": 1, "order_id": "j", "currency": "EURO"}',
         "invalid currency 'EURO': expected a 3-letter ISO 4217 code"),
        ("[1]", "not a JSON object"),
    ])
    def test_a_bad_json_line_is_a_problem_of_its_row(self, line: str, says: str) -> None:
        """What is wrong, without stopping the file; a valid order id is kept to list
        the row by."""
        [problem] = rows([line], "jsonl")
        assert isinstance(problem, RowProblem)
        assert (problem.line, problem.message) == (1, says)

    def test_a_wrong_header_stops_the_file(self) -> None:
        """The header is the file's: a wrong one is a usage error on line 1."""
        with pytest.raises(UsageError, match=r"^line 1: expected the header user,amount,"):
            rows(["name,amount,currency,order_id", "ann,1,,o-1"])


class TestSettlementReport:
    def test_a_report_names_its_currency(self) -> None:
        """Unlike an operator's billing file, a gateway's report has no default
        currency: an empty one is refused."""
        line = "ext_1,pay_1,charge,approved,5,,2026-11-29T09:00:00Z\n"
        with pytest.raises(ReportMalformed, match=r"^r\.csv line 2: invalid currency ''"):
            list(read_report([REPORT_HEADER, line], "r.csv"))

    def test_the_first_problem_of_a_line_in_column_order(self) -> None:
        """Several fields wrong: the first column's problem is the one told."""
        line = ",pay_1,payout,approved,x,USD,later\n"
        with pytest.raises(ReportMalformed) as caught:
            list(read_report([REPORT_HEADER, line], "r.csv"))
        assert caught.value.message == "r.csv line 2: external_id is empty"


class TestTheCommandsRefuse:
    def test_a_malformed_fixtures_file(self, cli: CliCall, db_path: Path,
                                       tmp_path: Path) -> None:
        """One `Error:` line naming the file and the entry, exit 2, nothing written; with
        --json one error object."""
        assert cli("wallet", "credit", "--user", "ann", "--amount", "5").exit_code == 0
        events = count_events(db_path)
        path = fixtures(tmp_path, '{"wallets": [{"user": "bob", "amount": "5"}], "payments": '
                                  '[{"user": "ann", "amount": "5.001", "order_id": "o"}]}')
        result = cli("fixtures", "load", str(path), env=QUIET_ENV)
        assert result.exit_code == 2
        assert result.stderr.splitlines() == [
            f"Error: {path}: payments[0].amount: invalid amount '5.001': USD has at most 2 "
            "decimal places"]
        as_json = cli("fixtures", "load", str(path), "--json", env=QUIET_ENV)
        assert as_json.exit_code == 2
        assert json.loads(as_json.stdout)["error"]["type"] == "usage_error"
        assert count_events(db_path) == events

    def test_a_billing_file_with_a_wrong_header(self, cli: CliCall, db_path: Path,
                                                tmp_path: Path) -> None:
        """One `Error:` line naming line 1, exit 2, nothing written, no failures file."""
        assert cli("wallet", "credit", "--user", "ann", "--amount", "5").exit_code == 0
        events = count_events(db_path)
        path = tmp_path / "run.csv"
        path.write_text("user,amount,order_id\nann,1,o-1\n")
        result = cli("batch", str(path), "--failures", str(tmp_path / "retry.csv"),
                     env=QUIET_ENV)
        assert result.exit_code == 2
        assert result.stderr.splitlines() == [
            "Error: line 1: expected the header user,amount,currency,order_id, found "
            "'user,amount,order_id'"]
        assert count_events(db_path) == events
        assert sorted(p.name for p in tmp_path.iterdir() if "retry" in p.name) == []

    def test_a_billing_file_of_bad_rows_only(self, cli: CliCall, db_path: Path,
                                             tmp_path: Path) -> None:
        """Every row bad: exit 2, each listed by its line, nothing written."""
        assert cli("wallet", "credit", "--user", "ann", "--amount", "5").exit_code == 0
        events = count_events(db_path)
        path = tmp_path / "run.jsonl"
        path.write_text('{"user": "ann", "amount": "1"}\n{"user": "ann", "amount": "x", '
                        '"order_id": "o-2"}\n')
        result = cli("batch", str(path), "--json", env=QUIET_ENV)
        assert result.exit_code == 2
        summary = json.loads(result.stdout)
        assert [(f["line"], f["error"]) for f in summary["failures"]] == [
            (1, "missing order_id"),
            (2, "invalid amount 'x': expected a positive decimal like 50 or 50.25")]
        assert count_events(db_path) == events

    def test_a_report_with_terminal_escapes(self, cli: CliCall, db_path: Path,
                                            tmp_path: Path) -> None:
        """A report line carrying a terminal escape: one `Error:` line naming the line,
        the escape made harmless, exit 2, nothing settled."""
        assert cli("wallet", "credit", "--user", "ann", "--amount", "5").exit_code == 0
        events = count_events(db_path)
        path = tmp_path / "report.csv"
        path.write_text(REPORT_HEADER + "ext_1,pay\x1b[2J,charge,approved,5,USD,"
                        "2026-11-29T09:00:00Z\n")
        result = cli("reconcile", "--report", str(path), "--apply", env=QUIET_ENV)
        assert result.exit_code == 2
        assert result.stderr.splitlines() == [
            f"Error: {path} line 2: payment_id 'pay?[2J' is not an identifier (at most 128 "
            "printable characters)"]
        assert count_events(db_path) == events
