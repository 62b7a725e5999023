"""A command that reads the ledger never creates one: a mistyped `--db` is refused with
exit 2, saying there is no ledger there and how one is started; no file, no folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from paycli.cli.app import app

PAYMENT = "pay_" + "0" * 24
READS = [
    ("wallet", "balance", "--user", "alice"),
    ("wallet", "history", "--user", "alice"),
    ("payments", "list"),
    ("payments", "show", PAYMENT),
    ("refunds", "list"),
    ("replay-events",),
    ("export", "--format", "csv"),
    ("gateway", "status"),
    ("gateway", "reset"),
    ("limits", "show"),
    ("reconcile", "--report", "fixtures/settlement/breaks.csv"),
    ("recover",),
    ("refund", PAYMENT),
]


def invoke(db: Path, *args: str) -> Result:
    """`paycli --db DB ARGS` in-process, with no PAYCLI_* setting from outside."""
    return CliRunner().invoke(app, ["--db", str(db), *args],
                              env={"PAYCLI_DB": None, "PAYCLI_LOG_FILE": None})


class TestReadsNeverCreate:
    """Each read command on a ledger that is not there."""

    @pytest.mark.parametrize("args", READS, ids=lambda args: " ".join(args[:2]))
    def test_refused_and_nothing_made(self, tmp_path: Path, args: tuple[str, ...]) -> None:
        """Exit 2, one line naming the place and `wallet credit`; no folder was created."""
        db = tmp_path / "nonexist" / "dir" / "x.db"
        result = invoke(db, *args)
        assert result.exit_code == 2, result.output
        assert result.stderr == (
            f"Error: no ledger at {db}; `paycli wallet credit` starts one\n")
        assert not (tmp_path / "nonexist").exists()

    def test_json_error_object(self, tmp_path: Path) -> None:
        """With `--json`, the same refusal as the error object."""
        db = tmp_path / "x.db"
        result = invoke(db, "wallet", "balance", "--user", "alice", "--json")
        assert result.exit_code == 2
        assert json.loads(result.stdout) == {"error": {
            "type": "usage_error",
            "message": f"no ledger at {db}; `paycli wallet credit` starts one"}}
        assert not db.exists()

    def test_backup_of_a_missing_ledger_writes_no_copy(self, tmp_path: Path) -> None:
        """`backup` reads the ledger too: neither the ledger nor the copy appears."""
        result = invoke(tmp_path / "x.db", "backup", str(tmp_path / "copy.db"))
        assert result.exit_code == 2
        assert sorted(p.name for p in tmp_path.iterdir()) == []

    def test_wallet_credit_still_starts_one(self, tmp_path: Path) -> None:
        """The command the message names does create the ledger (and its folder)."""
        db = tmp_path / "new" / "x.db"
        result = invoke(db, "wallet", "credit", "--user", "alice", "--amount", "5")
        assert result.exit_code == 0 and db.exists()
        balance = invoke(db, "wallet", "balance", "--user", "alice", "--json")
        assert json.loads(balance.stdout)["balance"] == "5.00"
