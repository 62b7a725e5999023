"""The operator's toolkit on the command line: `payments list`, `payments show`,
`replay-events` and `export`, their output and their exit codes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import CliCall
from history import ORDER_ID, History

SHOW_FIELDS = {"payment_id", "status", "user", "amount", "currency", "order_id", "gateway_ref",
               "refunded_amount", "refundable_amount", "error", "created_at", "updated_at",
               "refunds", "steps", "events", "attempts", "gateway"}
UNKNOWN = "pay_" + "0" * 24


def as_json(cli: CliCall, *args: str) -> tuple[int, Any]:
    """Run a command with --json; (exit code, the one JSON object on stdout)."""
    result = cli(*args, "--json")
    return result.exit_code, json.loads(result.stdout)


def ids(listed: dict[str, Any]) -> list[str]:
    """The payment ids of a `payments list` result, in order."""
    return [payment["payment_id"] for payment in listed["payments"]]


class TestPaymentsList:
    def test_all_payments_newest_first(self, cli: CliCall, history: History) -> None:
        """Every payment, newest first, with the fields of `show` less `events`."""
        code, out = as_json(cli, "payments", "list")
        assert code == 0
        assert ids(out) == list(reversed(history.payments.values()))
        assert all(set(payment) == SHOW_FIELDS - {"events"} for payment in out["payments"])

    def test_amounts_are_decimal_strings(self, cli: CliCall, history: History) -> None:
        """Amounts and refunded amounts are exact strings at the currency's precision."""
        _, out = as_json(cli, "payments", "list", "--currency", "jpy")
        [yen] = out["payments"]
        assert (yen["amount"], yen["refunded_amount"], yen["refundable_amount"]) == (
            "1200", "200", "1000")
        assert yen["status"] == "PARTIALLY_REFUNDED" and len(yen["refunds"]) == 1

    @pytest.mark.parametrize(("args", "cases"), [
        (["--user", "bob"], ["pending", "down"]),
        (["--status", "failed"], ["down", "declined"]),
        (["--status", "REFUNDED"], ["to_refund"]),
        (["--user", "alice", "--limit", "2"], ["declined", "to_refund"]),
        (["--since", "2000-01-01", "--until", "2999-12-31"],
         ["yen", "pending", "down", "declined", "to_refund", "completed"]),
        (["--since", "2999-01-01T00:00:00+02:00"], []),
        (["--until", "2000-01-01"], []),
    ])
    def test_filters(self, cli: CliCall, history: History, args: list[str],
                     cases: list[str]) -> None:
        """User, status, dates and limit filter and cut the list."""
        code, out = as_json(cli, "payments", "list", *args)
        assert code == 0
        assert ids(out) == [history.payments[case] for case in cases]

    @pytest.mark.parametrize(("args", "message"), [
        (["--status", "DONE"], "invalid status 'DONE'"),
        (["--since", "yesterday"], "invalid --since 'yesterday'"),
        (["--until", "2024-02-30"], "invalid --until"),
        (["--limit", "0"], "--limit must be between"),
        (["--user", "no spaces"], "invalid user id"),
        (["--currency", "XXX"], "XXX"),
    ])
    def test_bad_input_is_a_usage_error(self, cli: CliCall, args: list[str],
                                        message: str) -> None:
        """Bad filters exit 2 with the reason, as JSON under --json."""
        code, out = as_json(cli, "payments", "list", *args)
        assert code == 2
        assert out["error"]["type"] == "usage_error" and message in out["error"]["message"]

    def test_human_view_is_a_table(self, cli: CliCall, history: History) -> None:
        """Without --json, a table naming each payment."""
        result = cli("payments", "list", "--user", "carol", env={"COLUMNS": "200"})
        assert result.exit_code == 0
        assert history.payments["yen"] in result.stdout and "1200 JPY" in result.stdout

    @pytest.mark.usefixtures("empty_ledger")
    def test_nothing_matches(self, cli: CliCall) -> None:
        """An empty ledger says so."""
        result = cli("payments", "list")
        assert result.exit_code == 0 and "No payments match." in result.stdout


class TestPaymentsShow:
    def test_fields_refunds_and_timeline(self, cli: CliCall, history: History) -> None:
        """A refunded payment shows its refunds and a timeline covering hold and refunds."""
        payment_id = history.payments["to_refund"]
        code, out = as_json(cli, "payments", "show", payment_id)
        assert code == 0 and set(out) == SHOW_FIELDS
        assert (out["status"], out["amount"], out["refunded_amount"]) == (
            "REFUNDED", "200.25", "200.25")
        assert [r["status"] for r in out["refunds"]] == ["COMPLETED", "FAILED", "COMPLETED"]
        seqs = [event["seq"] for event in out["events"]]
        assert seqs == sorted(seqs)
        types = [event["type"] for event in out["events"]]
        assert types[:2] == ["payment.created", "transfer.held"]
        assert {"transfer.committed", "refund.completed", "refund.failed",
                "transfer.posted", "payment.refunded"} <= set(types)
        refunded = [e for e in out["events"] if e["type"] == "payment.refunded"]
        assert refunded[-1]["changes"] == {"refunded": "200.25", "refund_reserved": "0.00",
                                           "status": "REFUNDED"}

    def test_the_settle_event_carries_the_steps(self, cli: CliCall, history: History) -> None:
        """The completion event lists all five steps with their attempts and durations, and
        `steps` shows them too."""
        _, out = as_json(cli, "payments", "show", history.payments["completed"])
        [settled] = [e for e in out["events"] if e["type"] == "payment.completed"]
        names = [step["name"] for step in settled["steps"]]
        assert names == ["CheckWalletBalance", "CreatePayment", "ReserveFunds",
                         "ProcessPayment", "SettlePayment"]
        assert [step["name"] for step in out["steps"]] == names
        assert all(step["attempts"] >= 1 and step["duration_ms"] >= 0
                   for step in settled["steps"])
        assert out["order_id"] == ORDER_ID

    def test_a_failed_payment_shows_its_error(self, cli: CliCall, history: History) -> None:
        """A payment the gateway was down for shows why it failed."""
        _, out = as_json(cli, "payments", "show", history.payments["down"])
        assert out["status"] == "FAILED" and out["error"]["type"] == "gateway_unavailable"
        assert out["refundable_amount"] == "0.00"

    def test_unknown_payment_exits_7(self, cli: CliCall, history: History) -> None:
        """A well-formed id that names no payment is not found."""
        code, out = as_json(cli, "payments", "show", UNKNOWN)
        assert code == 7
        assert out["error"] == {"type": "not_found", "message": f"no payment {UNKNOWN}"}

    @pytest.mark.parametrize("bad", ["pay_123", "ref_" + "0" * 24, "'; DROP TABLE payments"])
    def test_malformed_id_exits_2(self, cli: CliCall, bad: str) -> None:
        """An id not in paycli's shape is a usage error."""
        result = cli("payments", "show", bad)
        assert result.exit_code == 2 and "invalid id" in result.stderr

    def test_human_view(self, cli: CliCall, history: History) -> None:
        """The card, the timeline and the saga's steps."""
        result = cli("payments", "show", history.payments["completed"], env={"COLUMNS": "200"})
        assert result.exit_code == 0
        for text in ("COMPLETED", "100.00 USD", "Timeline", "payment.completed", "Saga steps",
                     "ProcessPayment"):
            assert text in result.stdout


class TestReplayEvents:
    def test_consistent_ledger_exits_0(self, cli: CliCall, history: History) -> None:
        """All agree: exit 0 with the contract's fields."""
        code, out = as_json(cli, "replay-events")
        assert code == 0
        assert out["chain_ok"] is True and out["consistent"] is True
        assert out["mismatches"] == [] and out["chain_break"] is None and out["events"] > 50

    def test_tampered_ledger_exits_8(self, cli: CliCall, db_path: Path,
                                     history: History) -> None:
        """A status changed behind paycli's back: exit 8, the mismatch named, an error."""
        payment_id = history.payments["declined"]
        conn = sqlite3.connect(db_path)
        conn.execute("UPDATE payments SET status = 'COMPLETED' WHERE id = ?", (payment_id,))
        conn.commit()
        conn.close()
        code, out = as_json(cli, "replay-events")
        assert code == 8 and out["consistent"] is False and out["chain_ok"] is True
        assert out["mismatches"] == [{"entity": "payment", "id": payment_id, "field": "status",
                                      "stored": "COMPLETED", "replayed": "FAILED"}]
        assert out["error"]["type"] == "ledger_verification_failed"
        result = cli("replay-events", env={"COLUMNS": "200"})
        assert result.exit_code == 8
        assert payment_id in result.stdout and "1 mismatch between" in result.stderr

    def test_human_view_when_consistent(self, cli: CliCall, history: History) -> None:
        """One line saying how many events agree; no progress bar off a terminal."""
        result = cli("replay-events")
        assert result.exit_code == 0
        assert "events replayed" in result.stdout and "hash chain intact" in result.stdout
        assert "Replaying" not in result.output


class TestExport:
    def test_csv_to_stdout(self, cli: CliCall, history: History) -> None:
        """The header row, then one row per payment, refund and transfer."""
        result = cli("export", "--format", "csv")
        assert result.exit_code == 0
        lines = result.stdout.splitlines()
        assert lines[0].startswith("record,id,created_at")
        assert sum(line.startswith("payment,") for line in lines) == len(history.payments)

    def test_bad_format(self, cli: CliCall) -> None:
        """An unknown format exits 2."""
        result = cli("export", "--format", "parquet")
        assert result.exit_code == 2 and "invalid --format 'parquet'" in result.stderr
