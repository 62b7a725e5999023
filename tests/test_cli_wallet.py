"""`paycli wallet credit|balance|history` driven through the CLI, as an operator would."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

CliCall = Callable[..., Result]
EventCount = Callable[[Path], int]


def json_out(result: Result) -> dict[str, Any]:
    """The single JSON object a `--json` command printed; nothing else may be on stdout."""
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    parsed = json.loads(lines[0])
    assert isinstance(parsed, dict)
    return parsed


def assert_one_line_error(result: Result, code: int, *fragments: str) -> None:
    """A human-mode failure: the exit code, nothing on stdout, one `Error:` line on stderr."""
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


def assert_json_error(result: Result, code: int, error_type: str, *fragments: str) -> None:
    """A `--json` failure: the exit code and one error object on stdout, no traceback."""
    assert result.exit_code == code, result.output
    body = json_out(result)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"type", "message"}
    assert body["error"]["type"] == error_type
    assert "\n" not in body["error"]["message"]
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in body["error"]["message"]


class TestCredit:
    def test_credit_then_balance(self, cli: CliCall) -> None:
        """A credit shows in the balance: all of it available, nothing held."""
        credited = cli("wallet", "credit", "--user", "alice", "--amount", "100.50", "--json")
        assert credited.exit_code == 0, credited.output
        body = json_out(credited)
        assert body["user"] == "alice"
        assert (body["currency"], body["amount"], body["balance"]) == ("USD", "100.50", "100.50")
        assert body["transaction_id"].startswith("txn_")

        balance = cli("wallet", "balance", "--user", "alice", "--json")
        assert balance.exit_code == 0, balance.output
        assert json_out(balance) == {"user": "alice", "currency": "USD", "balance": "100.50",
                                     "available": "100.50", "held": "0.00"}

    def test_credits_add_up(self, cli: CliCall) -> None:
        """Successive credits add exactly, with no float rounding."""
        for amount in ("0.10", "0.20", "0.70"):
            assert cli("wallet", "credit", "--user", "bob", "--amount", amount).exit_code == 0
        result = cli("wallet", "balance", "--user", "bob", "--json")
        assert json_out(result)["balance"] == "1.00"

    @pytest.mark.parametrize(
        ("currency", "amount", "shown"),
        [("JPY", "1000", "1000"), ("KWD", "1.234", "1.234"), ("jpy", "7", "7"),
         ("CLF", "0.0001", "0.0001")],
    )
    def test_currency_precision_round_trips(self, cli: CliCall, currency: str, amount: str,
                                            shown: str) -> None:
        """Amounts come back exactly, at the currency's own precision."""
        credited = cli("wallet", "credit", "--user", "alice", "--amount", amount,
                       "--currency", currency, "--json")
        assert credited.exit_code == 0, credited.output
        body = json_out(credited)
        assert (body["currency"], body["amount"], body["balance"]) == (
            currency.upper(), shown, shown)
        balance = json_out(cli("wallet", "balance", "--user", "alice", "--currency", currency,
                               "--json"))
        assert (balance["balance"], balance["available"]) == (shown, shown)

    def test_human_credit_line(self, cli: CliCall) -> None:
        """Without --json the credit is confirmed in one readable line on stdout."""
        result = cli("wallet", "credit", "--user", "alice", "--amount", "5")
        assert result.exit_code == 0
        assert "Credited 5.00 USD to alice: balance 5.00 USD" in result.stdout
        assert result.stderr == ""

    def test_maximum_comes_from_the_environment(self, cli: CliCall, db_path: Path,
                                                event_count: EventCount) -> None:
        """PAYCLI_MAX_AMOUNT caps a single amount; above it is a usage error."""
        env = {"PAYCLI_MAX_AMOUNT": "100"}
        assert cli("wallet", "credit", "--user", "a", "--amount", "100", env=env).exit_code == 0
        result = cli("wallet", "credit", "--user", "a", "--amount", "100.01", env=env)
        assert_one_line_error(result, 2, "above the maximum of 100 USD")
        assert event_count(db_path) == 1

    def test_default_maximum_is_one_million(self, cli: CliCall, db_path: Path,
                                            event_count: EventCount) -> None:
        """Without configuration, 1000000 is allowed and a cent more is not."""
        ok = cli("wallet", "credit", "--user", "a", "--amount", "1000000")
        assert ok.exit_code == 0, ok.output
        result = cli("wallet", "credit", "--user", "a", "--amount", "1000000.01", "--json")
        assert_json_error(result, 2, "usage_error", "above the maximum of 1000000 USD")
        assert event_count(db_path) == 1


BAD_CREDITS = [
    pytest.param(["--amount", "0.001"], "at most 2 decimal places", id="too-many-decimals"),
    pytest.param(["--amount", "-5"], "invalid amount '-5'", id="negative"),
    pytest.param(["--amount", "0"], "greater than zero", id="zero"),
    pytest.param(["--amount", "NaN"], "invalid amount 'NaN'", id="nan"),
    pytest.param(["--amount", "Infinity"], "invalid amount", id="infinity"),
    pytest.param(["--amount", "1e3"], "invalid amount '1e3'", id="exponent"),
    pytest.param(["--amount", "abc"], "invalid amount 'abc'", id="letters"),
    pytest.param(["--amount", ""], "invalid amount ''", id="empty"),
    pytest.param(["--amount", "1.5", "--currency", "JPY"], "no decimal places", id="jpy-cents"),
    pytest.param(["--user", "al ice"], "invalid user id 'al ice'", id="user-space"),
    pytest.param(["--user", "al'ice"], "invalid user id", id="user-quote"),
    pytest.param(["--user", 'al"ice'], "invalid user id", id="user-double-quote"),
    pytest.param(["--user", ""], "invalid user id", id="user-empty"),
    pytest.param(["--user", "a" * 65], "invalid user id", id="user-too-long"),
    pytest.param(["--user", "al\nice"], "invalid user id", id="user-newline"),
    pytest.param(["--currency", "ABC"], "unknown currency 'ABC'", id="unknown-currency"),
    pytest.param(["--currency", "XXX"], "currency XXX is refused: ISO 4217 keeps it for "
                 "transactions where no currency is involved; it is not a currency of money",
                 id="currency-xxx"),
    pytest.param(["--currency", "xts"], "currency XTS is refused: ISO 4217 keeps it for "
                 "testing; it is not a currency of money", id="currency-xts"),
    pytest.param(["--currency", "USDD"], "3-letter", id="currency-four-letters"),
    pytest.param(["--idempotency-key", "has space"], "invalid idempotency key", id="key-space"),
]


class TestCreditRefusals:
    @staticmethod
    def credit_args(overrides: list[str]) -> list[str]:
        """`wallet credit` arguments: a valid request with some options replaced."""
        options = {"--user": "alice", "--amount": "10"}
        extra: list[str] = []
        for name, value in zip(overrides[::2], overrides[1::2], strict=True):
            if name in options:
                options[name] = value
            else:
                extra += [name, value]
        flat = [part for pair in options.items() for part in pair]
        return ["wallet", "credit", *flat, *extra]

    @pytest.fixture
    def seeded(self, cli: CliCall, db_path: Path, event_count: EventCount) -> int:
        """A ledger with one credit already in it; returns its event count."""
        assert cli("wallet", "credit", "--user", "alice", "--amount", "1").exit_code == 0
        return event_count(db_path)

    @pytest.mark.parametrize(("overrides", "fragment"), BAD_CREDITS)
    def test_bad_input_human(self, cli: CliCall, db_path: Path, event_count: EventCount,
                             seeded: int, overrides: list[str], fragment: str) -> None:
        """Bad input exits 2 with one `Error:` line on stderr and writes nothing."""
        result = cli(*self.credit_args(overrides))
        assert_one_line_error(result, 2, fragment)
        assert event_count(db_path) == seeded

    @pytest.mark.parametrize(("overrides", "fragment"), BAD_CREDITS)
    def test_bad_input_json(self, cli: CliCall, db_path: Path, event_count: EventCount,
                            seeded: int, overrides: list[str], fragment: str) -> None:
        """Bad input with --json exits 2 with one usage_error object on stdout, writes nothing."""
        result = cli(*self.credit_args(overrides), "--json")
        assert_json_error(result, 2, "usage_error", fragment)
        assert result.stderr == ""
        assert event_count(db_path) == seeded

    def test_bad_input_does_not_create_the_ledger(self, cli: CliCall, db_path: Path) -> None:
        """A refused first command leaves no ledger file behind."""
        result = cli("wallet", "credit", "--user", "alice", "--amount", "abc")
        assert result.exit_code == 2
        assert not db_path.exists()

    def test_unknown_option(self, cli: CliCall) -> None:
        """An unknown option exits 2 with one line naming it."""
        result = cli("wallet", "credit", "--user", "a", "--amount", "1", "--bogus")
        assert_one_line_error(result, 2, "--bogus")

    def test_unknown_option_json(self, cli: CliCall) -> None:
        """An unknown option under --json is a usage_error object."""
        result = cli("wallet", "credit", "--user", "a", "--amount", "1", "--bogus", "--json")
        assert_json_error(result, 2, "usage_error", "--bogus")

    def test_missing_required_option(self, cli: CliCall) -> None:
        """Leaving out --amount exits 2 with one line naming it."""
        result = cli("wallet", "credit", "--user", "a")
        assert_one_line_error(result, 2, "--amount")

    def test_ledger_path_that_is_a_directory(self, cli: CliCall, tmp_path: Path) -> None:
        """--db pointing at a folder is a usage error, in one line."""
        result = cli("--db", str(tmp_path), "wallet", "balance", "--user", "a")
        assert_one_line_error(result, 2, "is a directory")

    def test_ledger_that_is_not_sqlite(self, cli: CliCall, db_path: Path) -> None:
        """--db pointing at a text file exits 2 as a bad_ledger error, leaving it alone."""
        db_path.write_text("my shopping list\n")
        result = cli("wallet", "balance", "--user", "a", "--json")
        assert_json_error(result, 2, "bad_ledger", "not a paycli ledger")
        assert db_path.read_text() == "my shopping list\n"


class TestIdempotency:
    def test_same_key_same_request_credits_once(self, cli: CliCall, db_path: Path,
                                                event_count: EventCount) -> None:
        """Repeating a credit with its key returns the first result and moves nothing."""
        args = ("wallet", "credit", "--user", "alice", "--amount", "25", "--idempotency-key",
                "k-1", "--json")
        first, second = cli(*args), cli(*args)
        assert (first.exit_code, second.exit_code) == (0, 0)
        assert json_out(second) == json_out(first)
        assert event_count(db_path) == 1
        assert json_out(cli("wallet", "balance", "--user", "alice", "--json"))["balance"] == (
            "25.00")

    def test_same_key_same_money_written_differently(self, cli: CliCall) -> None:
        """`25`, `25.0` and `usd` are the same request as `25.00 USD`."""
        base = ("wallet", "credit", "--user", "alice", "--idempotency-key", "k-1", "--json")
        first = cli(*base, "--amount", "25")
        again = cli(*base, "--amount", "25.0", "--currency", "usd")
        assert again.exit_code == 0, again.output
        assert json_out(again)["transaction_id"] == json_out(first)["transaction_id"]

    @pytest.mark.parametrize(
        "changed",
        [["--amount", "26"], ["--user", "bob"], ["--currency", "EUR"]],
        ids=["amount", "user", "currency"],
    )
    def test_same_key_other_request_conflicts(self, cli: CliCall, db_path: Path,
                                              event_count: EventCount,
                                              changed: list[str]) -> None:
        """Reusing a key for a different credit exits 6 and moves nothing."""
        args = {"--user": "alice", "--amount": "25", "--currency": "USD"}
        assert cli("wallet", "credit", *sum(args.items(), ()), "--idempotency-key", "k-1"
                   ).exit_code == 0
        args[changed[0]] = changed[1]
        human = cli("wallet", "credit", *sum(args.items(), ()), "--idempotency-key", "k-1")
        assert_one_line_error(human, 6, "'k-1'", "different arguments")
        as_json = cli("wallet", "credit", *sum(args.items(), ()), "--idempotency-key", "k-1",
                      "--json")
        assert_json_error(as_json, 6, "idempotency_conflict", "different arguments")
        assert event_count(db_path) == 1

    def test_different_keys_credit_twice(self, cli: CliCall) -> None:
        """Two keys are two credits, even with the same arguments."""
        for key in ("k-1", "k-2"):
            assert cli("wallet", "credit", "--user", "a", "--amount", "1",
                       "--idempotency-key", key).exit_code == 0
        assert json_out(cli("wallet", "balance", "--user", "a", "--json"))["balance"] == "2.00"


class TestBalance:
    @pytest.mark.usefixtures("empty_ledger")
    def test_never_credited_wallet_has_zero(self, cli: CliCall, db_path: Path,
                                            event_count: EventCount) -> None:
        """A wallet nobody credited shows 0 everywhere, and reading it writes no event."""
        result = cli("wallet", "balance", "--user", "nobody", "--currency", "JPY", "--json")
        assert result.exit_code == 0, result.output
        assert json_out(result) == {"user": "nobody", "currency": "JPY", "balance": "0",
                                    "available": "0", "held": "0"}
        assert event_count(db_path) == 0

    def test_human_balance_table(self, cli: CliCall) -> None:
        """Without --json the balance is a table with all three amounts."""
        cli("wallet", "credit", "--user", "alice", "--amount", "12.34")
        result = cli("wallet", "balance", "--user", "alice")
        assert result.exit_code == 0
        for text in ("alice", "Balance", "Available", "Held", "12.34", "0.00"):
            assert text in result.stdout

    def test_other_currency_is_a_separate_wallet(self, cli: CliCall) -> None:
        """Money credited in USD does not show in the EUR wallet."""
        cli("wallet", "credit", "--user", "alice", "--amount", "5")
        result = cli("wallet", "balance", "--user", "alice", "--currency", "EUR", "--json")
        assert json_out(result)["balance"] == "0.00"

    @pytest.mark.parametrize(
        ("args", "fragment"),
        [(["--user", "a b"], "invalid user id"), (["--user", "a", "--currency", "XXX"],
                                                  "not a currency of money")],
    )
    def test_bad_input(self, cli: CliCall, args: list[str], fragment: str) -> None:
        """Balance refuses bad input like credit does."""
        assert_one_line_error(cli("wallet", "balance", *args), 2, fragment)
        assert_json_error(cli("wallet", "balance", *args, "--json"), 2, "usage_error", fragment)


class TestHistory:
    def test_newest_first_with_contract_fields(self, cli: CliCall) -> None:
        """History lists movements newest first, each with the contract's fields."""
        cli("wallet", "credit", "--user", "alice", "--amount", "10")
        cli("wallet", "credit", "--user", "alice", "--amount", "2.50", "--idempotency-key",
            "topup-2")
        result = cli("wallet", "history", "--user", "alice", "--json")
        assert result.exit_code == 0, result.output
        entries = json_out(result)["entries"]
        assert [(e["type"], e["amount"], e["balance"]) for e in entries] == [
            ("credit", "2.50", "12.50"), ("credit", "10.00", "10.00")]
        for entry in entries:
            assert {"at", "type", "amount", "balance", "reference"} <= entry.keys()
        assert entries[0]["reference"] == "topup-2"
        assert entries[1]["reference"].startswith("txn_")
        assert entries[0]["at"] >= entries[1]["at"]

    def test_limit(self, cli: CliCall) -> None:
        """--limit N keeps the newest N lines."""
        for amount in ("1", "2", "3"):
            cli("wallet", "credit", "--user", "alice", "--amount", amount)
        result = cli("wallet", "history", "--user", "alice", "--limit", "2", "--json")
        assert [e["amount"] for e in json_out(result)["entries"]] == ["3.00", "2.00"]

    @pytest.mark.parametrize("limit", ["0", "-1", "abc"])
    def test_bad_limit(self, cli: CliCall, limit: str) -> None:
        """A --limit that is not a positive count exits 2 in one line."""
        result = cli("wallet", "history", "--user", "alice", "--limit", limit)
        assert_one_line_error(result, 2, "--limit")

    @pytest.mark.usefixtures("empty_ledger")
    def test_empty_history(self, cli: CliCall) -> None:
        """A never-credited wallet has an empty statement."""
        result = cli("wallet", "history", "--user", "nobody", "--json")
        assert result.exit_code == 0
        assert json_out(result) == {"user": "nobody", "currency": "USD", "entries": []}
        human = cli("wallet", "history", "--user", "nobody")
        assert "No movements for nobody in USD." in human.stdout

    def test_human_history_table(self, cli: CliCall) -> None:
        """Without --json the statement is a table with the movement in it."""
        cli("wallet", "credit", "--user", "alice", "--amount", "7.25")
        result = cli("wallet", "history", "--user", "alice")
        assert result.exit_code == 0
        assert "credit" in result.stdout and "7.25" in result.stdout


class TestHelp:
    def test_help_exits_zero(self, cli: CliCall) -> None:
        """`wallet credit --help` shows the usage and the example, and exits 0."""
        result = cli("wallet", "credit", "--help")
        assert result.exit_code == 0
        assert "paycli wallet credit --user alice --amount 100.50" in result.stdout
        assert result.stderr == ""

    def test_group_without_command_shows_help_only(self, cli: CliCall) -> None:
        """`paycli wallet` with no command shows its usage and no meaningless error line."""
        result = cli("wallet")
        assert "Usage:" in result.stdout
        assert "usage_error" not in result.stderr
