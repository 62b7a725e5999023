"""`paycli fixtures load`: wallets, payments and refunds through the real code paths,
against the mock gateway; loading the same file twice creates nothing and charges nobody
again. (Hostile files are cases of `fixtures/hostile_input.json`.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import CliCall, fixture_path
from helpers import wallet


def load(cli: CliCall, env: dict[str, str], path: Path) -> tuple[int, dict[str, Any]]:
    """`paycli fixtures load PATH --json`: exit code and output."""
    result = cli("fixtures", "load", str(path), "--json", env=env)
    return result.exit_code, json.loads(result.stdout)


class TestTheDemoShop:
    def test_loaded_twice_creates_nothing_the_second_time(
            self, cli: CliCall, env: dict[str, str], gateway: Any, db_path: Path) -> None:
        """First: 4 wallets, 5 payments, 1 refund, balances as the file says. Second: all
        10 skipped, no new gateway request, balances unchanged; the ledger replays."""
        code, first = load(cli, env, fixture_path("demo.json"))
        assert code == 0, first
        assert (first["wallets"], first["payments"], first["refunds"], first["skipped"]) == (
            4, 5, 1, 0)
        assert wallet(db_path, "alice") == (50000 - 4990 - 1500, 0)
        assert wallet(db_path, "bob") == (30000 - 12000 + 2000, 0)
        assert wallet(db_path, "chloe", "EUR") == (40000 - 7550, 0)
        requests = gateway.requests()
        code, second = load(cli, env, fixture_path("demo.json"))
        assert code == 0, second
        assert (second["wallets"], second["payments"], second["refunds"], second["skipped"]) == (
            0, 0, 0, 10)
        assert gateway.requests() == requests
        assert wallet(db_path, "alice") == (50000 - 4990 - 1500, 0)
        assert cli("replay-events", env=env).exit_code == 0

    def test_the_human_view_counts(self, cli: CliCall, env: dict[str, str], gateway: Any
                                   ) -> None:
        """One line: what was credited, paid, refunded and skipped."""
        result = cli("fixtures", "load", str(fixture_path("demo.json")), env=env)
        assert result.exit_code == 0, result.output
        assert "4 wallets credited, 5 payments, 1 refund; 0 skipped" in result.stdout


class TestWhatDidNotLoad:
    def test_a_declined_payment_and_its_refund_are_listed(
            self, cli: CliCall, env: dict[str, str], gateway: Any, tmp_path: Path) -> None:
        """The gateway declines: the payment and the refund of it are failures with why;
        exit 4 (the first failure's), and the wallet is loaded."""
        gateway.set_mode("decline")
        path = tmp_path / "shop.json"
        path.write_text(json.dumps({
            "wallets": [{"user": "ann", "amount": "100"}],
            "payments": [{"user": "ann", "amount": "10", "order_id": "o-1"}],
            "refunds": [{"order_id": "o-1", "amount": "5"}]}))
        code, out = load(cli, env, path)
        assert code == 4
        assert (out["wallets"], out["payments"], out["failed"]) == (1, 0, 2)
        assert [(f["kind"], f["entry"]) for f in out["failures"]] == [
            ("payments", "o-1"), ("refunds", "o-1")]
        assert out["error"]["type"] == "declined"

    def test_an_order_id_used_for_another_payment_writes_nothing(
            self, cli: CliCall, env: dict[str, str], gateway: Any, tmp_path: Path,
            db_path: Path) -> None:
        """An order the ledger already paid with other details: exit 6 before anything of
        the file is written (its wallet is not credited)."""
        assert cli("wallet", "credit", "--user", "ann", "--amount", "50", env=env).exit_code == 0
        assert cli("pay", "--user", "ann", "--amount", "7", "--order-id", "o-1",
                   env=env).exit_code == 0
        path = tmp_path / "shop.json"
        path.write_text(json.dumps({
            "wallets": [{"user": "bob", "amount": "100"}],
            "payments": [{"user": "ann", "amount": "8", "order_id": "o-1"}]}))
        code, out = load(cli, env, path)
        assert code == 6 and out["error"]["type"] == "idempotency_conflict"
        assert wallet(db_path, "bob") == (0, 0)

    def test_amounts_as_json_numbers_are_exact(self, cli: CliCall, env: dict[str, str],
                                               gateway: Any, tmp_path: Path,
                                               db_path: Path) -> None:
        """`49.90` written as a JSON number is read as its text, never through float."""
        path = tmp_path / "shop.json"
        path.write_text('{"wallets": [{"user": "ann", "amount": 0.30}, '
                        '{"user": "ann", "amount": 1000, "currency": "JPY"}]}')
        code, out = load(cli, env, path)
        assert code == 0, out
        assert wallet(db_path, "ann") == (30, 0)
        assert wallet(db_path, "ann", "JPY") == (1000, 0)
