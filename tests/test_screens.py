"""The human views' shape: ids and statuses whole at 60, 80 and 120 columns, piped tables
as tab-separated lines, one style for counts and durations, local times with their zone,
and a wallet history whose amounts add up to the balance."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from helpers import run
from history import History

from paycli.cli.views.units import count, duration, local_time

CliCall = Callable[..., Result]
IDS = re.compile(r"\b(?:pay|ref|txn|hold)_[0-9a-f]+")
# No COLUMNS (which stands for a terminal), whatever the test process was given.
NO_TERMINAL: dict[str, str | None] = {"COLUMNS": None}


def ids_in(body: Any) -> set[str]:
    """The ids a list's `--json` answer holds in the fields its table shows."""
    rows = next(value for value in body.values() if isinstance(value, list))
    return {row[key] for row in rows for key in ("payment_id", "refund_id", "reference")
            if row.get(key)}


def shown(cli: CliCall, columns: int, *args: str) -> str:
    """What a command prints on a terminal `columns` wide (exit 0)."""
    result = cli(*args, env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.stdout


class TestIdsWhole:
    @pytest.mark.parametrize("columns", [60, 80, 120])
    @pytest.mark.parametrize("command", [("refunds", "list"), ("payments", "list"),
                                         ("wallet", "history", "--user", "alice")])
    def test_every_id_and_status_is_whole_and_no_line_overflows(
            self, cli: CliCall, history: History, columns: int, command: tuple[str, ...]
    ) -> None:
        """Each id of the `--json` answer appears whole on screen, every status of it too,
        and no line is wider than the terminal."""
        body = json.loads(cli(*command, "--json").stdout)
        screen = shown(cli, columns, *command)
        assert ids_in(body) <= set(IDS.findall(screen)), screen
        for status in set(re.findall(r'"status": "([A-Z_]+)"', json.dumps(body))):
            assert re.search(rf"\b{status}\b", screen), (status, screen)
        assert all(len(line) <= columns for line in screen.splitlines()), screen

    @pytest.mark.parametrize("columns", [60, 80, 120])
    def test_payments_show_keeps_ids_and_event_names_whole(
            self, cli: CliCall, history: History, columns: int) -> None:
        """The payment's, its refunds' and the timeline's ids and event names are never
        split across lines."""
        payment = history.payments["to_refund"]
        body = json.loads(cli("payments", "show", payment, "--json").stdout)
        screen = shown(cli, columns, "payments", "show", payment)
        for refund in body["refunds"]:
            assert refund["refund_id"] in screen
        for event in body["events"]:
            assert event["type"] in screen, (event["type"], screen)
        assert payment in screen
        assert all(len(line) <= columns for line in screen.splitlines()), screen

    def test_a_list_says_which_columns_it_left_out(self, cli: CliCall,
                                                   history: History) -> None:
        """At 80 columns `payments list` names the columns it had no room for."""
        screen = shown(cli, 80, "payments", "list")
        assert re.search(r"\d columns? left out: .*Refunded.* widen the terminal or use "
                         r"--json", screen), screen
        assert "left out" not in shown(cli, 200, "payments", "list")


    @pytest.mark.parametrize("columns", [60, 80, 120])
    def test_webhook_deliveries_and_limits_keep_ids_and_statuses_whole(
            self, cli: CliCall, columns: int) -> None:
        """`webhooks deliveries` (a delivery to an endpoint that refuses) and `limits
        show` go through the same table: ids and statuses whole, no line too wide."""
        assert cli("webhooks", "add", "http://127.0.0.1:9/hook", "--allow-private").exit_code == 0
        assert cli("wallet", "credit", "--user", "alice", "--amount", "5").exit_code == 0
        cli("webhooks", "deliver")  # refused: the delivery is `failed`, retried later
        assert cli("limits", "set", "--user", "alice", "--max-amount", "100").exit_code == 0
        body = json.loads(cli("webhooks", "deliveries", "--json").stdout)
        screen = shown(cli, columns, "webhooks", "deliveries")
        for entry in body["deliveries"]:
            assert entry["delivery_id"] in screen and entry["status"] in screen, screen
        limits = shown(cli, columns, "limits", "show")
        assert "alice" in limits and "100.00" in limits, limits
        for seen in (screen, limits):
            assert all(len(line) <= columns for line in seen.splitlines()), seen


class TestPiped:
    @pytest.mark.parametrize("command", [("refunds", "list"), ("payments", "list"),
                                         ("wallet", "history", "--user", "alice")])
    def test_a_piped_table_is_one_tab_separated_line_per_row(
            self, cli: CliCall, history: History, command: tuple[str, ...]) -> None:
        """Without a terminal: the title as one `# ` line, a header line, then one line per
        row, cells split by tabs, full values, no padding and no box drawing."""
        body = json.loads(cli(*command, "--json").stdout)
        rows = next(value for value in body.values() if isinstance(value, list))
        result = cli(*command, env=NO_TERMINAL)
        assert result.exit_code == 0, result.output
        title, *lines = result.stdout.splitlines()
        assert title.startswith("# ") and "\t" not in title, result.stdout
        assert len(lines) == len(rows) + 1, result.stdout
        widths = {len(line.split("\t")) for line in lines}
        assert len(widths) == 1 and widths.pop() >= 4, result.stdout
        assert not [line for line in lines if line != line.strip(" ") or "  " in line], lines
        assert not re.search("[─│╭━]", result.stdout)
        assert ids_in(body) <= set(IDS.findall(result.stdout))


class TestUnits:
    @pytest.mark.parametrize(("number", "noun", "said"), [
        (1, "break", "1 break"), (0, "row", "0 rows"), (10008, "break", "10,008 breaks"),
        (2, "entry", "2 entries")])
    def test_counts_agree_in_number_and_have_separators(self, number: int, noun: str,
                                                         said: str) -> None:
        """"1 break", "10,008 breaks": never "1 breaks" or "10008"."""
        plural = "entries" if noun == "entry" else None
        assert count(number, noun, plural) == said

    @pytest.mark.parametrize(("seconds", "said"), [
        (0.85, "850 ms"), (0.9996, "1.0 s"), (5.04, "5.0 s"), (125, "2 min 05 s"),
        (3720, "1 h 02 min")])
    def test_durations_read_in_one_style(self, seconds: float, said: str) -> None:
        """ms under a second, one decimal of s under a minute, then minutes and seconds."""
        assert duration(seconds) == said

    def test_saga_steps_show_durations_in_that_style(self, cli: CliCall,
                                                     history: History) -> None:
        """`payments show`'s steps say "12 ms", never "12.3 ms" or "0.01s"."""
        screen = shown(cli, 120, "payments", "show", history.payments["completed"])
        steps = screen[screen.index("Saga steps"):]
        assert re.search(r"\b\d+ ms\b|\b\d+\.\d s\b", steps), steps
        assert not re.search(r"\d+\.\d+ ms", steps), steps


class TestTimes:
    def test_local_time_names_its_zone(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A stored UTC time is shown in the local zone, named."""
        monkeypatch.setenv("TZ", "America/New_York")
        import time
        time.tzset()
        try:
            assert local_time("2026-01-15T17:23:08.5+00:00") == "2026-01-15 12:23:08 EST"
            assert local_time("2026-07-15T17:23:08+00:00", seconds=False) == (
                "2026-07-15 13:23 EDT")
        finally:
            monkeypatch.setenv("TZ", "UTC")
            time.tzset()
        assert local_time("2026-07-15T17:23:08+00:00").endswith(" UTC")

    def test_payments_list_shows_the_operators_zone_and_json_stays_utc(
            self, db_path: Path, history: History) -> None:
        """`TZ=America/New_York paycli payments list` says EST or EDT; `--json` keeps the
        ISO 8601 UTC time."""
        env = {"TZ": "America/New_York", "COLUMNS": "200"}
        listed = run(db_path, "payments", "list", env=_env(env))
        assert listed.returncode == 0, listed.stderr
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d E[SD]T", listed.stdout), listed.stdout
        body = json.loads(run(db_path, "payments", "list", "--json", env=_env(env)).stdout)
        assert all(p["created_at"].endswith("+00:00") for p in body["payments"])


def _env(extra: dict[str, str]) -> dict[str, str]:
    import os
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PAYCLI_")}, **extra}


class TestWalletHistory:
    @pytest.mark.parametrize("user", ["alice", "bob"])
    def test_the_amounts_add_up_to_the_balance(self, cli: CliCall, history: History,
                                               user: str) -> None:
        """One line per movement of the balance: the Amount column sums to the balance,
        and a payment is one line, not a hold and a debit."""
        body = json.loads(cli("wallet", "history", "--user", user, "--json").stdout)
        balance = json.loads(cli("wallet", "balance", "--user", user, "--json").stdout)
        entries = body["entries"]
        assert sum(Decimal(e["amount"]) for e in entries) == Decimal(balance["balance"])
        assert entries[0]["held"] == balance["held"]
        per_payment = [e["reference"] for e in entries if e["reference"].startswith("pay_")]
        assert len(per_payment) == len(set(per_payment)), entries

    def test_a_settled_payment_is_one_debit_and_a_declined_one_moves_nothing(
            self, cli: CliCall, history: History) -> None:
        """alice's completed payment is one -100.00 line (no hold line beside it); her
        declined payment's hold and release are one line that moves nothing."""
        body = json.loads(cli("wallet", "history", "--user", "alice", "--json").stdout)
        lines = {e["reference"]: e for e in body["entries"]}
        completed = lines[history.payments["completed"]]
        declined = lines[history.payments["declined"]]
        assert (completed["type"], completed["amount"]) == ("payment", "-100.00")
        assert (declined["type"], Decimal(declined["amount"])) == ("release", 0)


class TestBillingFailures:
    def failing_file(self, folder: Path) -> Path:
        """Rows that fail without reaching the gateway: funds (nobody has any) and, on
        later lines, malformed amounts."""
        lines = [f"nobody,5,USD,o-{n}" if n % 10 else f"nobody,five,USD,o-{n}"
                 for n in range(1, 31)]
        path = folder / "run.csv"
        path.write_text("user,amount,currency,order_id\n" + "\n".join(lines) + "\n")
        return path

    def test_failures_are_summarised_by_kind_malformed_first_then_by_line(
            self, cli: CliCall, tmp_path: Path) -> None:
        """"27 insufficient funds, 3 malformed"; the table lists the malformed rows first,
        each group in line order."""
        result = cli("batch", str(self.failing_file(tmp_path)), env={"COLUMNS": "100"})
        assert result.exit_code == 3, result.output
        assert "27 insufficient funds, 3 malformed" in result.stdout
        listed = [int(line.split()[0]) for line in result.stdout.splitlines()
                  if re.match(r"\s*\d+\s+o-\d+", line)]
        assert listed[:3] == [11, 21, 31], result.stdout
        assert listed[3:] == sorted(listed[3:]) and listed[3] == 2, result.stdout

    def test_piped_summary_words_counts_and_durations_in_one_style(
            self, cli: CliCall, tmp_path: Path) -> None:
        """Piped: "30 rows in 45 ms", never "30 rows in 0.0 s"; the failures as tab-separated
        lines, in full."""
        result = cli("batch", str(self.failing_file(tmp_path)), env=NO_TERMINAL)
        assert result.exit_code == 3, result.output
        assert re.search(r"30 rows in (\d+ ms|\d+\.\d s) \(", result.stdout), result.stdout
        assert "Line\tOrder\tWhy" in result.stdout
        assert "11\to-10\tinvalid amount 'five'" in result.stdout
