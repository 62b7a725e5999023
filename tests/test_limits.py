"""Limits: a payment over the single, the daily amount or the daily count limit exits 12
and writes nothing; a wallet's own limit wins over the default; concurrent processes never
pass a daily limit together; limit changes are events that replay verifies."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import CliCall, count_events
from doubles import ScriptedGateway, saga_env
from helpers import ROOT

from paycli.errors import LimitExceeded
from paycli.ledger import limits, wallet
from paycli.money import Money
from paycli.records import PaymentStatus
from paycli.saga import pay as saga
from paycli.saga.steps import SilentReporter
from paycli.store import Store


def pay(store: Store, user: str, cents: int, gateway: ScriptedGateway | None = None
        ) -> saga.Outcome:
    """The pay saga in process, against an approving double."""
    request = saga.PayRequest(user=user, money=Money(cents, "USD"), wait_s=0)
    return saga.pay(saga_env(store, gateway or ScriptedGateway()), request, SilentReporter())


@pytest.fixture
def shop(store: Store) -> Store:
    """alice and bob with 1000.00 USD each; default limits: 100.00 a payment, 150.00 and
    3 payments a day."""
    for user in ("alice", "bob"):
        wallet.credit(store, user, Money(100000, "USD"))
    limits.set_limits(store, limits.DEFAULT, "USD", max_amount=10000, daily_amount=15000,
                      daily_count=3)
    return store


class TestRefusals:
    def test_over_the_single_limit(self, shop: Store, cli: CliCall, db_path: Path) -> None:
        """Exit 12, the message names the limit, and not one event is written."""
        before = count_events(db_path)
        result = cli("pay", "--user", "alice", "--amount", "100.01", "--json")
        assert result.exit_code == 12, result.output
        error = json.loads(result.stdout)["error"]
        assert error == {"type": "limit_exceeded", "message": "100.01 USD is above the "
                         "default single-payment limit of 100.00 USD"}
        assert count_events(db_path) == before

    def test_over_the_daily_amount(self, shop: Store, cli: CliCall, db_path: Path) -> None:
        """After 90.00 today, 70.00 is over 150.00: exit 12 saying 60.00 is left."""
        assert pay(shop, "alice", 9000).result.status == PaymentStatus.COMPLETED
        before = count_events(db_path)
        result = cli("pay", "--user", "alice", "--amount", "70")
        assert result.exit_code == 12
        assert "Error: 70.00 USD is over the default daily limit of 150.00 USD: 60.00 USD " \
               "left today (UTC)" in result.stderr
        assert count_events(db_path) == before
        assert pay(shop, "alice", 6000).result.status == PaymentStatus.COMPLETED

    def test_over_the_daily_count(self, shop: Store, cli: CliCall, db_path: Path) -> None:
        """The fourth payment of the day is refused, whatever its size."""
        for _ in range(3):
            assert pay(shop, "alice", 100).result.status == PaymentStatus.COMPLETED
        before = count_events(db_path)
        result = cli("pay", "--user", "alice", "--amount", "1")
        assert result.exit_code == 12
        assert "daily limit is 3: none left today" in result.stderr
        assert count_events(db_path) == before

    def test_failed_payments_do_not_count(self, shop: Store) -> None:
        """Declined payments used no money: they count toward no daily limit."""
        declining = ScriptedGateway(mode="decline")
        for _ in range(3):
            assert pay(shop, "alice", 5000, declining).result.status == PaymentStatus.FAILED
        assert pay(shop, "alice", 5000).result.status == PaymentStatus.COMPLETED

    def test_a_wallets_own_limit_wins(self, shop: Store) -> None:
        """alice may pay 500.00 at once (her own), bob not (the default); her daily count
        is still the default's."""
        limits.set_limits(shop, "alice", "USD", max_amount=50000, daily_amount=60000)
        assert pay(shop, "alice", 50000).result.status == PaymentStatus.COMPLETED
        refused = pay(shop, "bob", 50000)
        assert isinstance(refused.error, LimitExceeded) and refused.result.payment_id is None
        for _ in range(2):
            assert pay(shop, "alice", 100).result.status == PaymentStatus.COMPLETED
        assert isinstance(pay(shop, "alice", 100).error, LimitExceeded)

    def test_other_currencies_are_not_limited(self, shop: Store) -> None:
        """USD limits say nothing of EUR."""
        wallet.credit(shop, "alice", Money(100000, "EUR"))
        request = saga.PayRequest(user="alice", money=Money(50000, "EUR"), wait_s=0)
        outcome = saga.pay(saga_env(shop, ScriptedGateway()), request, SilentReporter())
        assert outcome.result.status == PaymentStatus.COMPLETED


class TestTheCommands:
    def test_set_keeps_what_is_not_given_and_none_removes(self, cli: CliCall) -> None:
        """Options not given keep their value; `none` removes a limit."""
        assert cli("limits", "set", "--user", "alice", "--max-amount", "50",
                   "--daily-count", "4").exit_code == 0
        result = cli("limits", "set", "--user", "alice", "--max-amount", "none", "--json")
        assert result.exit_code == 0, result.output
        [entry] = json.loads(result.stdout)["limits"]
        assert (entry["scope"], entry["max_amount"], entry["daily_count"]) == ("alice", None, 4)

    def test_show_lists_a_users_and_the_default(self, shop: Store, cli: CliCall) -> None:
        """`limits show --user` gives the user's own and the default; JSON per contract."""
        limits.set_limits(shop, "alice", "USD", daily_count=9)
        result = cli("limits", "show", "--user", "alice", "--json")
        shown = json.loads(result.stdout)["limits"]
        assert [(e["scope"], e["is_default"]) for e in shown] == [("alice", False),
                                                                 ("default", True)]
        assert shown[1]["max_amount"] == "100.00" and shown[1]["daily_amount"] == "150.00"
        human = cli("limits", "show")
        assert "default" in human.stdout and "150.00" in human.stdout

    def test_a_change_is_an_event_with_its_actor(self, cli: CliCall, db_path: Path) -> None:
        """`limits.set` is in the log with the actor who set it."""
        assert cli("limits", "set", "--default", "--max-amount", "25",
                   env={"PAYCLI_ACTOR": "ops-anna"}).exit_code == 0
        with Store(str(db_path)) as store:
            [event] = [e for e in store.read.events() if e.type == "limits.set"]
        assert event.actor == "ops-anna"
        assert json.loads(event.payload)["max_amount"] == 2500


class TestReplay:
    @pytest.mark.sqlite_only  # it changes the limits table behind the log with sqlite3
    def test_replay_verifies_limit_changes(self, shop: Store, cli: CliCall,
                                           db_path: Path) -> None:
        """Consistent as written; a limit changed behind the log's back is a mismatch."""
        limits.set_limits(shop, "alice", "USD", max_amount=500)
        assert cli("replay-events").exit_code == 0
        conn = sqlite3.connect(db_path)
        conn.execute("UPDATE limits SET max_amount = 999999 WHERE scope = 'alice'")
        conn.commit()
        conn.close()
        result = cli("replay-events", "--json")
        assert result.exit_code == 8
        [found] = json.loads(result.stdout)["mismatches"]
        assert (found["entity"], found["field"]) == ("limit", "max_amount")


PAYER = """
import sys
sys.path.insert(0, "tests")
from doubles import ScriptedGateway, saga_env
from paycli.money import Money
from paycli.saga import pay as saga
from paycli.saga.steps import SilentReporter
from paycli.store import Store
store, gateway = Store(sys.argv[1]), ScriptedGateway()
codes = []
for _ in range(int(sys.argv[2])):
    request = saga.PayRequest(user="alice", money=Money(1000, "USD"), wait_s=0)
    outcome = saga.pay(saga_env(store, gateway), request, SilentReporter())
    codes.append(0 if outcome.error is None else outcome.error.exit_code)
print(" ".join(map(str, codes)))
"""


@pytest.mark.slow
class TestConcurrency:
    @pytest.mark.parametrize(("flag", "value"), [("daily_count", 7),
                                                 ("daily_amount", 7000)])
    def test_four_processes_never_pass_a_daily_limit(self, store: Store, db_path: Path,
                                                     flag: str, value: int) -> None:
        """4 processes, 6 payments of 10.00 each, against 7 a day (or 70.00): exactly 7
        complete, every other one exits 12, and the ledger replays consistent."""
        wallet.credit(store, "alice", Money(100000, "USD"))
        limits.set_limits(store, "alice", "USD", **{flag: value})
        payers = [subprocess.Popen([sys.executable, "-c", PAYER, str(db_path), "6"],
                                   cwd=ROOT, stdout=subprocess.PIPE, text=True)
                  for _ in range(4)]
        codes: list[str] = []
        for payer in payers:
            out, _ = payer.communicate(timeout=120)
            assert payer.returncode == 0
            codes.extend(out.split())
        assert sorted(set(codes)) == ["0", "12"]
        assert codes.count("0") == 7 and codes.count("12") == 17
        completed = store.read.payments(user_id="alice", status="COMPLETED", limit=100)
        assert len(completed) == 7
        from paycli.ledger import replay
        checked: Any = replay.replay_events(store)
        assert checked.consistent and checked.chain_ok


def one_line(text: str) -> str:
    """Printed text with its folding undone (the console may be any width)."""
    return " ".join(text.split())


class TestLimitsOnScreen:
    """What `limits set` and `limits show` tell an operator."""

    def test_set_confirms_in_words(self, cli: CliCall) -> None:
        """`limits set` says what the limits are now (it printed a bare table before)."""
        result = cli("limits", "set", "--user", "alice", "--max-amount", "50",
                     "--daily-count", "3")
        assert result.exit_code == 0
        assert one_line(result.stdout) == ("✓ alice in USD now: at most 50.00 a payment, at most 3 "
                                 "payments per UTC day.")

    def test_removing_every_limit_says_so_and_leaves_no_row(self, cli: CliCall) -> None:
        """After `none` for each limit: a sentence, and `limits show` has no row of dashes."""
        cli("limits", "set", "--user", "alice", "--max-amount", "50")
        removed = cli("limits", "set", "--user", "alice", "--max-amount", "none")
        assert removed.exit_code == 0
        assert one_line(removed.stdout) == ("✓ alice has no limits of its own in USD now: "
                                            "the default applies to it.")
        shown = cli("limits", "show")
        assert shown.exit_code == 0 and "—" not in shown.stdout
        assert one_line(shown.stdout) == ("No limits set: payments are bounded only by "
                                          "PAYCLI_MAX_AMOUNT.")

    def test_the_default_is_named_as_such(self, cli: CliCall) -> None:
        """A default limit is confirmed as the default's."""
        result = cli("limits", "set", "--default", "--daily-amount", "200", "--currency", "eur")
        assert result.exit_code == 0
        assert one_line(result.stdout) == "✓ The default in EUR now: at most 200.00 per UTC day."
