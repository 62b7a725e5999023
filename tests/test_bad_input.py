"""Hostile input across every command and option: refused cleanly, and nothing written.

Each case of `fixtures/hostile_input.json` is one hostile input (with, for a command that
reads a file, that file's contents) and the exit code the
contract gives it (2 for usage and validation errors; 7 for a payment that does not exist;
9 for a refund the payment cannot take). Every case runs twice, as a human and with
`--json`, against a ledger holding a completed, a failed and a fully refunded payment, and
must:
- exit with that code, with no traceback and no exception escaping the CLI;
- human: write exactly one line, `Error: ...`, on stderr;
- `--json`: write exactly one JSON object with an `error` on stdout, nothing on stderr;
- write nothing: the ledger's event count is unchanged, and a hostile `--db` target is
  neither created nor touched.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import typer
from conftest import CliCall, count_events, load_fixture
from doubles import ScriptedGateway, saga_env

from paycli.cli import app
from paycli.ledger import wallet
from paycli.money import Money
from paycli.saga import pay as saga
from paycli.saga import refund as refunds
from paycli.saga.steps import SilentReporter
from paycli.store import Store

QUIET_ENV = {"PAYCLI_GATEWAY_URL": "http://127.0.0.1:9", "PAYCLI_RETRY_ATTEMPTS": "1"}
ERROR_TYPES = {2: {"usage_error", "bad_ledger"}, 7: {"not_found"}, 9: {"refund_refused"}}


@dataclass(frozen=True)
class Case:
    """One hostile input: the arguments after `--db`, its exit code, and its setting."""

    name: str
    args: tuple[str, ...]
    code: int = 2
    env: dict[str, str] = field(default_factory=dict)
    json: bool = True  # the command has a --json option
    db: str | None = None  # a hostile --db target: dir, under-file, foreign, empty
    needs: str | None = None  # a command another change may not have added yet
    file: Any = None  # an input file: JSON data, or {"text": [parts]}; its path: {file}


def argument(written: str | dict[str, Any]) -> str:
    """An argument as the data file writes it: a string, or `{"repeat": s, "times": n}`."""
    return written if isinstance(written, str) else written["repeat"] * written["times"]


def load_cases() -> list[Case]:
    """Every case of `fixtures/hostile_input.json`, whatever section it is listed in."""
    return [Case(**{**row, "args": tuple(argument(arg) for arg in row["args"])})
            for section in load_fixture("hostile_input.json").values() for row in section]


CASES = load_cases()


def commands() -> set[str]:
    """The top-level commands this paycli has (other changes add some)."""
    group: Any = typer.main.get_command(app)
    return set(group.commands)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A ledger where alice has 100 USD and three payments: completed (10 USD), failed,
    and fully refunded; with their ids by name. Built once: each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "ledger.db"
    gateway = ScriptedGateway()
    with Store(str(path)) as store:
        wallet.credit(store, "alice", Money(100_00, "USD"))

        def paid(cents: int) -> str:
            request = saga.PayRequest("alice", Money(cents, "USD"), wait_s=0)
            outcome = saga.pay(saga_env(store, gateway, attempts=1), request, SilentReporter())
            return str(outcome.result.payment_id)

        ids = {"paid": paid(10_00)}
        gateway.set_mode("decline")
        ids["failed"] = paid(5_00)
        gateway.set_mode("approve")
        ids["refunded"] = paid(3_00)
        refunds.refund(saga_env(store, gateway, attempts=1), refunds.RefundRequest(ids["refunded"]),
                       SilentReporter(), 1_000_000)
        statuses = [store.read.payment(i).status for i in ids.values()]  # type: ignore[union-attr]
        assert statuses == ["COMPLETED", "FAILED", "REFUNDED"]
    return path, ids


@pytest.fixture
def ledger(template: tuple[Path, dict[str, str]], db_path: Path) -> dict[str, str]:
    """A fresh copy of the template ledger at `db_path`; returns its payments' ids."""
    shutil.copyfile(template[0], db_path)
    return template[1]


def hostile_db(kind: str, tmp_path: Path) -> tuple[str, Callable[[], None]]:
    """A hostile `--db` value and a check that it was left exactly as it was."""
    if kind == "dir":
        folder = tmp_path / "a-folder"
        folder.mkdir()
        return str(folder), lambda: _assert(folder.is_dir() and not any(folder.iterdir()))
    if kind == "under-file":
        plain = tmp_path / "plain.txt"
        plain.write_text("not a folder\n")
        return str(plain / "ledger.db"), lambda: _assert(plain.read_text() == "not a folder\n")
    if kind == "foreign":
        foreign = tmp_path / "other.sqlite"
        conn = sqlite3.connect(foreign)
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('keep me')")
        conn.commit()
        conn.close()
        before = foreign.read_bytes()
        return str(foreign), lambda: _assert(foreign.read_bytes() == before and not Path(
            f"{foreign}-wal").exists())
    assert kind == "empty"
    default_dir = tmp_path / "config" / "paycli"  # where the `cli` fixture's default points
    return "", lambda: _assert(not default_dir.exists())


def _assert(condition: bool) -> None:
    assert condition, "the hostile --db target was changed"


def run_case(case: Case, as_json: bool, cli: CliCall, ids: dict[str, str], db_path: Path,
             tmp_path: Path) -> Any:
    """Run one case; check the ledger and any hostile target were left alone."""
    if case.needs and case.needs not in commands():
        pytest.skip(f"`paycli {case.needs}` does not exist yet")
    if case.file is not None:
        raw = case.file.get("text") if isinstance(case.file, dict) else None
        written = "".join(argument(part) for part in raw) if raw else json.dumps(case.file)
        (tmp_path / "input.json").write_text(written, encoding="utf-8")
        ids = {**ids, "file": str(tmp_path / "input.json")}
    args = [arg.format(**ids) if arg.startswith("{") else arg for arg in case.args]
    unchanged = None
    if case.db is not None:
        target, unchanged = hostile_db(case.db, tmp_path)
        args = ["--db", target, *args]
    before = count_events(db_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    result = cli(*args, *(("--json",) if as_json else ()), env={**QUIET_ENV, **case.env})
    assert count_events(db_path) == before, "something was written to the ledger"
    if unchanged is not None:
        unchanged()
        assert sorted(p.name for p in tmp_path.iterdir()) == files, "a file was created"
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        repr(result.exception))
    assert "Traceback" not in result.output
    assert result.exit_code == case.code, (result.stdout, result.stderr)
    return result


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
class TestHostileInput:
    def test_human_gets_one_error_line(self, case: Case, cli: CliCall, ledger: dict[str, str],
                                       db_path: Path, tmp_path: Path) -> None:
        """Refused with its exit code, one `Error:` line on stderr, nothing written."""
        result = run_case(case, False, cli, ledger, db_path, tmp_path)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr

    def test_json_gets_one_error_object(self, case: Case, cli: CliCall,
                                        ledger: dict[str, str], db_path: Path,
                                        tmp_path: Path) -> None:
        """Refused with its exit code, one JSON error object on stdout, nothing written."""
        if not case.json:
            pytest.skip("this command has no --json option")
        result = run_case(case, True, cli, ledger, db_path, tmp_path)
        assert result.stderr == ""
        lines = result.stdout.splitlines()
        assert len(lines) == 1, result.stdout
        error = json.loads(lines[0])["error"]
        assert error["type"] in ERROR_TYPES[case.code] and error["message"], error


class TestAcceptedInput:
    def test_lower_case_currency_is_accepted_as_upper_case(self, cli: CliCall,
                                                           db_path: Path) -> None:
        """`usd` is `USD`: the credit lands in the USD wallet."""
        result = cli("wallet", "credit", "--user", "alice", "--amount", "5", "--currency",
                     "usd", "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["currency"] == "USD"
        balance = cli("wallet", "balance", "--user", "alice", "--json")
        assert json.loads(balance.stdout)["balance"] == "5.00"

    @pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file whatever its mode")
    def test_unreadable_ledger_is_a_usage_error(self, cli: CliCall, db_path: Path) -> None:
        """A ledger file this user may not read or write is refused with exit 2."""
        Store(str(db_path)).close()
        db_path.chmod(0)
        result = cli("wallet", "balance", "--user", "alice")
        assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
