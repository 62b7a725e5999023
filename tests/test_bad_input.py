"""Hostile input across every command and option: refused cleanly, and nothing written.

Each row of `CASES` is one hostile input and the exit code the contract gives it (2 for
usage and validation errors; 7 for a payment that does not exist; 9 for a refund the
payment cannot take). Every row runs twice, as a human and with `--json`, against a
ledger holding a completed, a failed and a fully refunded payment, and must:
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
from conftest import CliCall, count_events
from doubles import ScriptedGateway, saga_env

from paycli.cli import app
from paycli.ledger import wallet
from paycli.money import Money
from paycli.saga import pay as saga
from paycli.saga import refund as refunds
from paycli.saga.steps import SilentReporter
from paycli.store import Store

HEX24 = "0123456789abcdef01234567"
MISSING = f"pay_{'0' * 24}"
DROP = "'; DROP TABLE payments; --"
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


def credit(amount: str, *more: str) -> tuple[str, ...]:
    """`wallet credit` for alice with this amount."""
    return ("wallet", "credit", "--user", "alice", "--amount", amount, *more)


def credit_as(user: str) -> tuple[str, ...]:
    """`wallet credit` of 5 for this user id."""
    return ("wallet", "credit", "--user", user, "--amount", "5")


def pay(*more: str, amount: str = "5") -> tuple[str, ...]:
    """`pay` for alice (who can afford it) with these options."""
    return ("pay", "--user", "alice", "--amount", amount, *more)


def refund(payment: str, *more: str) -> tuple[str, ...]:
    """`refund` of a payment (`{paid}`, `{failed}`, `{refunded}` name the fixture's)."""
    return ("refund", payment, *more)


CASES = [
    # -- amounts ----------------------------------------------------------------------------
    Case("amount-sub-cent", credit("0.001")),
    Case("amount-yen-fraction", credit("1.5", "--currency", "JPY")),
    Case("amount-minus-zero", credit("-0")),
    Case("amount-negative", credit("-5")),
    Case("amount-exponent", credit("1e2")),
    Case("amount-nan", credit("NaN")),
    Case("amount-infinity", credit("Infinity")),
    Case("amount-fullwidth-digits", credit("\uff11\uff10")),
    Case("amount-devanagari-digits", credit("१०")),
    Case("amount-10-to-the-30", credit("1" + "0" * 30)),
    Case("amount-thousands-of-digits", credit("9" * 5000)),
    Case("amount-empty", credit("")),
    Case("amount-whitespace", credit("   ")),
    Case("amount-padded", credit(" 10 ")),
    Case("amount-zero", credit("0")),
    Case("amount-zero-cents", credit("0.00")),
    Case("amount-plus-sign", credit("+5")),
    Case("amount-thousands-separator", credit("1,000")),
    Case("amount-underscore", credit("1_000")),
    Case("amount-hex", credit("0x10")),
    Case("amount-two-points", credit("1.0.0")),
    Case("amount-trailing-point", credit("5.")),
    Case("amount-above-maximum", credit("1000001")),
    Case("amount-env-maximum", credit("5"), env={"PAYCLI_MAX_AMOUNT": "abc"}),
    Case("pay-amount-zero", pay(amount="0")),
    Case("pay-amount-exponent", pay(amount="5e0")),
    Case("refund-amount-sub-cent", refund("{paid}", "--amount", "0.001")),
    Case("refund-amount-exponent", refund("{paid}", "--amount", "1e1")),
    Case("refund-amount-empty", refund("{paid}", "--amount", "")),
    Case("refund-amount-above-maximum", refund("{paid}", "--amount", "1000001")),
    # -- refunds the payment cannot take (exit 9) ------------------------------------------
    Case("refund-more-than-left", refund("{paid}", "--amount", "10.01"), code=9),
    Case("refund-a-million", refund("{paid}", "--amount", "1000000"), code=9),
    Case("refund-failed-payment", refund("{failed}"), code=9),
    Case("refund-refunded-payment", refund("{refunded}", "--amount", "1"), code=9),
    # -- user ids ---------------------------------------------------------------------------
    Case("user-empty", credit_as("")),
    Case("user-65-chars", credit_as("a" * 65)),
    Case("user-space", credit_as("al ice")),
    Case("user-single-quote", credit_as("al'ice")),
    Case("user-double-quotes", credit_as('"alice"')),
    Case("user-sql-injection", credit_as(DROP)),
    Case("user-cyrillic-a", credit_as("\u0430lice")),
    Case("user-fullwidth", credit_as("\uff41\uff4c\uff49\uff43\uff45")),
    Case("user-newline", credit_as("alice\nbob")),
    Case("user-nul", credit_as("al\x00ice")),
    Case("user-ansi-escape", credit_as("\x1b[31malice")),
    Case("user-path", credit_as("../alice")),
    Case("balance-user-empty", ("wallet", "balance", "--user", "")),
    Case("history-user-sql", ("wallet", "history", "--user", DROP)),
    Case("pay-user-zero-width", ("pay", "--user", "ali\u200bce", "--amount", "5")),
    # -- currencies -------------------------------------------------------------------------
    Case("currency-xxx", credit("5", "--currency", "XXX")),
    Case("currency-xts", credit("5", "--currency", "XTS")),
    Case("currency-two-letters", credit("5", "--currency", "US")),
    Case("currency-four-letters", credit("5", "--currency", "USDD")),
    Case("currency-unknown", credit("5", "--currency", "ABC")),
    Case("currency-empty", credit("5", "--currency", "")),
    Case("currency-symbol", credit("5", "--currency", "U$D")),
    Case("currency-cyrillic", credit("5", "--currency", "U\u0405D")),
    Case("balance-currency-xts", ("wallet", "balance", "--user", "alice", "--currency", "XTS")),
    Case("history-currency-usdd",
         ("wallet", "history", "--user", "alice", "--currency", "USDD")),
    Case("pay-currency-xxx", pay("--currency", "XXX")),
    # -- payment ids ------------------------------------------------------------------------
    Case("refund-unknown-payment", refund(MISSING), code=7),
    Case("refund-short-id", refund("pay_123")),
    Case("refund-refund-id", refund(f"ref_{HEX24}")),
    Case("refund-upper-case-id", refund(f"PAY_{HEX24.upper()}")),
    Case("refund-non-hex-id", refund(f"pay_{'g' * 24}")),
    Case("refund-sql-id", refund(DROP)),
    Case("refund-empty-id", refund("")),
    Case("show-unknown-payment", ("payments", "show", MISSING), code=7, needs="payments"),
    Case("show-malformed-id", ("payments", "show", "pay_123"), needs="payments"),
    Case("list-limit-zero", ("payments", "list", "--limit", "0"), needs="payments"),
    # -- other options ----------------------------------------------------------------------
    Case("history-limit-zero", ("wallet", "history", "--user", "alice", "--limit", "0")),
    Case("history-limit-negative", ("wallet", "history", "--user", "alice", "--limit", "-1")),
    Case("history-limit-text", ("wallet", "history", "--user", "alice", "--limit", "ten")),
    Case("history-limit-fraction", ("wallet", "history", "--user", "alice", "--limit", "1.5")),
    Case("history-limit-huge", ("wallet", "history", "--user", "alice", "--limit", "10" * 10)),
    Case("pay-wait-negative", pay("--wait", "-1")),
    Case("pay-wait-nan", pay("--wait", "nan")),
    Case("pay-wait-infinite", pay("--wait", "inf")),
    Case("pay-wait-text", pay("--wait", "soon")),
    Case("pay-key-empty", pay("--idempotency-key", "")),
    Case("pay-key-space", pay("--idempotency-key", "a key")),
    Case("pay-key-too-long", pay("--idempotency-key", "k" * 256)),
    Case("pay-order-newline", pay("--order-id", "order\n1")),
    Case("credit-key-non-ascii", credit("5", "--idempotency-key", "clé")),
    Case("refund-reason-newline", refund("{paid}", "--reason", "one\ntwo")),
    Case("refund-reason-too-long", refund("{paid}", "--reason", "r" * 501)),
    Case("unknown-option", credit("5", "--bogus")),
    Case("missing-amount", ("wallet", "credit", "--user", "alice")),
    Case("unknown-command", ("frobnicate",)),
    Case("bench-zero-payments", ("bench", "--payments", "0")),
    Case("bench-unknown-gateway", ("bench", "--gateway", "ftp")),
    Case("export-unknown-format", ("export", "--format", "xml"), json=False, needs="export"),
    # -- the ledger file --------------------------------------------------------------------
    Case("db-directory", ("wallet", "balance", "--user", "alice"), db="dir"),
    Case("db-under-a-file", ("wallet", "credit", "--user", "alice", "--amount", "5"),
         db="under-file"),
    Case("db-foreign-sqlite", ("wallet", "credit", "--user", "alice", "--amount", "5"),
         db="foreign"),
    Case("db-empty-path", ("wallet", "balance", "--user", "alice"), db="empty"),
    Case("db-directory-gateway-status", ("gateway", "status"), db="dir"),
    Case("db-foreign-reset", ("gateway", "reset"), json=False, db="foreign"),
    # -- the gateway URL and settings -------------------------------------------------------
    Case("url-not-a-url", ("--gateway-url", "notaurl", *pay())),
    Case("url-ftp", ("--gateway-url", "ftp://x", *pay())),
    Case("url-no-host", ("--gateway-url", "http://", *pay())),
    Case("url-bad-port", ("--gateway-url", "http://127.0.0.1:99999", *pay())),
    Case("url-broken-ipv6", ("--gateway-url", "http://[::1", *pay())),
    Case("url-empty", ("--gateway-url", "", *pay())),
    Case("url-env-javascript", pay(), env={"PAYCLI_GATEWAY_URL": "javascript:alert(1)"}),
    Case("url-refund", ("--gateway-url", "notaurl", *refund("{paid}"))),
    Case("url-recover", ("--gateway-url", "ftp://x", "recover")),
    Case("env-timeout-text", pay(), env={"PAYCLI_GATEWAY_TIMEOUT": "abc"}),
    Case("env-timeout-nan", pay(), env={"PAYCLI_GATEWAY_TIMEOUT": "nan"}),
    Case("env-timeout-refund", refund("{paid}"), env={"PAYCLI_GATEWAY_TIMEOUT": "abc"}),
    Case("env-attempts-zero", pay(), env={"PAYCLI_RETRY_ATTEMPTS": "0"}),
    Case("env-attempts-fraction", pay(), env={"PAYCLI_RETRY_ATTEMPTS": "1.5"}),
    Case("env-attempts-refund", refund("{paid}", "--amount", "1"),
         env={"PAYCLI_RETRY_ATTEMPTS": "0"}),
    Case("env-breaker-failures", pay(), env={"PAYCLI_BREAKER_FAILURES": "-1"}),
    Case("env-breaker-reset", pay(), env={"PAYCLI_BREAKER_RESET_SECONDS": "soon"}),
    Case("log-file-directory", ("--log-file", "/", *pay())),
]


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
