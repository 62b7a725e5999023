"""What the operator reads on every outcome: settle steps that say what they did, refund
views about the refund, escaped outside text, help without `<bool>`, `--version`, shell
completion, a wallet that does not exist yet, and a ledger this user may only read."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import CliCall
from helpers import paycli_env, run, run_json
from rich.console import Console
from typer.testing import CliRunner

from paycli.cli import app
from paycli.cli.live import LiveReporter
from paycli.records import StepStatus
from paycli.saga.steps import StepUpdate
from paycli.store import BreakerStore, Store


class TestSagaViews:
    @pytest.mark.slow
    def test_settling_a_decline_says_the_hold_was_released(
            self, funded: Path, env: dict[str, str], gateway: Any) -> None:
        """After a decline SettlePayment says what it did, not a bare SUCCESS."""
        gateway.set_mode("decline")
        done = run(funded, "pay", "--user", "alice", "--amount", "5", env=env)
        assert done.returncode == 4
        settle = [line for line in done.stdout.splitlines() if "] SettlePayment" in line]
        assert settle[-1].startswith("[SUCCESS] SettlePayment") and "hold released" in settle[-1]

    @pytest.mark.slow
    def test_a_refund_view_shows_the_refund_and_what_is_left_after_it(
            self, funded: Path, env: dict[str, str]) -> None:
        """The refund's own id (not its payment's) and what is left once it is done."""
        code, paid = run_json(funded, "pay", "--user", "alice", "--amount", "30", env=env)
        assert code == 0
        done = run(funded, "refund", paid["payment_id"], "--amount", "10", env=env)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        [details] = [line for line in lines if line.startswith("Refund refund_id=ref_")]
        assert "left=20.00" in details
        assert lines[-1].startswith("Refund COMPLETED id=ref_")

    def test_gateway_text_is_never_read_as_markup(self) -> None:
        """A step detail holding `[/]` and `[bold]` renders as text, no MarkupError."""
        reporter = LiveReporter("Payment")
        reporter.details = {"user": "alice[/]", "amount": "5.00", "currency": "USD"}
        reporter.rows["ProcessPayment"] = StepUpdate(
            "ProcessPayment", StepStatus.FAILED, duration_ms=3.0,
            reason={"code": "declined", "gateway_message": "[/] closing [bold]tag"})
        reporter.since["ProcessPayment"] = 0.0
        out = io.StringIO()
        Console(file=out, width=120, color_system=None).print(reporter._render())
        assert "declined by the gateway: [/] closing [bold]tag" in out.getvalue()
        assert "alice[/]" in out.getvalue()


class TestHelpAndVersion:
    def test_flags_show_no_type(self) -> None:
        """`--json` and `--help` are flags: no `<bool>` beside them."""
        result = CliRunner().invoke(app, ["pay", "--help"], env={"COLUMNS": "120"})
        assert result.exit_code == 0
        assert "<bool>" not in result.stdout and "--json" in result.stdout
        assert "--user USER" in result.stdout  # options that take a value still say so

    def test_version(self) -> None:
        """`paycli --version` prints the version and exits 0."""
        from paycli import __version__

        result = CliRunner().invoke(app, ["--version"])
        assert result.exit_code == 0 and result.stdout == f"paycli {__version__}\n"


class TestCompletion:
    def complete(self, words: str, db: Path) -> list[str]:
        """What bash completion offers for the last of `words`."""
        done = subprocess.run(
            ["paycli"], executable=str(Path(sys.executable).parent / "paycli"),
            env={**paycli_env(), "PAYCLI_DB": str(db), "_PAYCLI_COMPLETE": "complete_bash",
                 "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)},
            capture_output=True, text=True, timeout=60)
        return done.stdout.split()

    def test_status_values_are_offered(self, db_path: Path) -> None:
        """`--status P<tab>` offers the payment statuses starting with P."""
        assert self.complete("paycli payments list --status P", db_path) == [
            "PENDING", "PROCESSING", "PARTIALLY_REFUNDED"]

    def test_payment_ids_come_from_the_ledger(self, db_path: Path, cli: CliCall) -> None:
        """`payments show pay_<tab>` offers the ledger's payment ids; nothing is created
        for a ledger that does not exist."""
        missing = db_path.parent / "none.db"
        assert self.complete("paycli payments show pay_", missing) == []
        assert not missing.exists()
        assert cli("wallet", "credit", "--user", "a", "--amount", "1").exit_code == 0
        with Store(str(db_path)) as store:
            store.conn.execute(
                "INSERT INTO payments (id, user_id, currency, amount, gateway_key, status, "
                "created_at, updated_at) VALUES ('pay_0123456789abcdef01234567', 'a', 'USD', "
                "1, 'k', 'FAILED', 'now', 'now')")
        assert self.complete("paycli payments show pay_01", db_path) == [
            "pay_0123456789abcdef01234567"]
        assert self.complete("paycli payments show pay_ff", db_path) == []


class TestWalletBalance:
    @pytest.mark.usefixtures("empty_ledger")
    def test_an_unknown_wallet_says_there_is_none_yet(self, cli: CliCall) -> None:
        """The human view says there is no wallet yet; --json still shows zeros."""
        result = cli("wallet", "balance", "--user", "zed")
        assert result.exit_code == 0
        assert result.stdout.startswith("zed has no USD wallet yet")
        assert json.loads(cli("wallet", "balance", "--user", "zed", "--json").stdout) == {
            "user": "zed", "currency": "USD", "balance": "0.00", "available": "0.00",
            "held": "0.00"}


class TestReadOnlyLedger:
    READS = (["wallet", "balance", "--user", "amy"], ["wallet", "history", "--user", "amy"],
             ["payments", "list"], ["replay-events"])

    @pytest.fixture
    def read_only(self, cli: CliCall, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        """A ledger with one credit, that this user may read but (it is told) not write."""
        assert cli("wallet", "credit", "--user", "amy", "--amount", "5").exit_code == 0
        db_path.chmod(0o444)
        real = os.access

        def access(path: Any, mode: int) -> bool:
            if Path(path) == db_path and mode & 2:  # W_OK: root may write anything
                return False
            return bool(real(path, mode))

        monkeypatch.setattr("paycli.store.connection.os.access", access)
        return db_path

    @pytest.mark.parametrize("args", READS)
    def test_read_only_commands_work(self, read_only: Path, cli: CliCall,
                                     args: list[str]) -> None:
        """Balance, history, payments list and replay-events read it as they are."""
        result = cli(*args)
        assert result.exit_code == 0, result.output

    def test_a_write_is_refused_in_one_line(self, read_only: Path, cli: CliCall) -> None:
        """A credit on it is a usage error naming why, and nothing is written."""
        before = read_only.stat().st_mtime_ns
        result = cli("wallet", "credit", "--user", "amy", "--amount", "1")
        assert result.exit_code == 2
        assert "may read the ledger but not write it" in result.stderr
        assert read_only.stat().st_mtime_ns == before

    @pytest.mark.parametrize("args", [["pay", "--user", "amy", "--amount", "1"],
                                      ["refund", "pay_" + "0" * 24]])
    def test_pay_and_refund_refuse_before_drawing(self, read_only: Path, cli: CliCall,
                                                  args: list[str]) -> None:
        """`pay` and `refund` refuse as a credit does: the one error line, exit 2, and no
        step drawn (no half panel with `FAILED CreatePayment`), nothing written."""
        before = read_only.stat().st_mtime_ns
        result = cli(*args)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr == (f"Error: --db {read_only}: this user may read the ledger "
                                 "but not write it; only read-only commands work here\n")
        assert read_only.stat().st_mtime_ns == before


class TestRecoverAdvice:
    @pytest.mark.slow
    def test_recover_says_why_and_what_can_finish_it(
            self, funded: Path, env: dict[str, str], gateway: Any) -> None:
        """A charge still pending at the gateway: recover reports it unresolved with why,
        and says what can finish it instead of telling the operator to run recover."""
        gateway.set_mode("pending", latency_ms=60_000)
        code, paid = run_json(funded, "pay", "--user", "alice", "--amount", "5", "--wait", "0",
                              env=env)
        assert code == 10 and paid["status"] == "PROCESSING"
        code, out = run_json(funded, "recover", env=env)
        assert code == 10
        [entry] = out["unresolved"]
        assert entry["payment_id"] == paid["payment_id"]
        assert "still pending at the gateway" in entry["reason"]
        assert "retry `paycli recover` once the gateway can answer" in entry["reason"]
        assert "`paycli reconcile --from-gateway --apply`" in entry["reason"]
        assert f"`paycli payments resolve {paid['payment_id']} --approved|--declined" in (
            entry["reason"])
        assert not entry["reason"].endswith("run `paycli recover`")


class TestBreakerView:
    def test_an_open_breaker_says_when_it_may_probe_and_how_to_reset(
            self, cli: CliCall, db_path: Path) -> None:
        """`gateway status` gives probe_at, and the human view the wait and the way out."""
        assert cli("wallet", "credit", "--user", "a", "--amount", "1").exit_code == 0
        with Store(str(db_path)) as store:
            BreakerStore(store).open(time.time())
        out = json.loads(cli("gateway", "status", "--json").stdout)
        assert out["state"] == "open" and out["probe_at"] is not None
        human = cli("gateway", "status").stdout
        assert "next probe allowed in" in human and "paycli gateway reset" in human
        reset = json.loads(cli("gateway", "reset", "--json").stdout)
        closed = {"state": "closed", "failures": 0, "opened_at": None, "probe_at": None}
        assert reset == {**closed, "gateways": [{"name": "default", "protocol": "paycli",
                                                 "url": "http://127.0.0.1:3000", **closed}]}


class TestActor:
    @pytest.mark.slow
    def test_every_event_of_a_payment_names_its_actor(
            self, funded: Path, env: dict[str, str]) -> None:
        """`payments show --json`: each timeline event has `actor` (PAYCLI_ACTOR here)."""
        code, paid = run_json(funded, "pay", "--user", "alice", "--amount", "5",
                              env={**env, "PAYCLI_ACTOR": "ops-bo"})
        assert code == 0
        code, shown = run_json(funded, "payments", "show", paid["payment_id"], env=env)
        assert code == 0 and shown["events"]
        assert {event["actor"] for event in shown["events"]} == {"ops-bo"}
