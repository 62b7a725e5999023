"""`--log-file` (or `PAYCLI_LOG_FILE`) that cannot be written is refused the same way by
every command, reads as well as payments: exit 2, one line, before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import CliCall

COMMANDS = [
    ("wallet", "balance", "--user", "alice"),
    ("payments", "list"),
    ("gateway", "status"),
    ("wallet", "credit", "--user", "alice", "--amount", "5"),
    ("pay", "--user", "alice", "--amount", "5"),
]


@pytest.mark.usefixtures("empty_ledger")
class TestBadLogFile:
    """A log file in a folder that is not there."""

    @pytest.mark.parametrize("args", COMMANDS, ids=lambda args: " ".join(args[:2]))
    def test_refused_by_every_command(self, cli: CliCall, tmp_path: Path,
                                      args: tuple[str, ...]) -> None:
        """Exit 2 and the same line for a read command as for a payment."""
        log = tmp_path / "missing" / "paycli.log"
        result = cli("--log-file", str(log), *args)
        assert result.exit_code == 2, result.output
        assert result.stderr == (f"Error: --log-file {log}: cannot open it "
                                 "(No such file or directory)\n")
        assert result.stdout == ""

    def test_from_the_environment_and_as_json(self, cli: CliCall, tmp_path: Path) -> None:
        """`PAYCLI_LOG_FILE` naming a folder: the JSON error object on stdout."""
        result = cli("payments", "list", "--json", env={"PAYCLI_LOG_FILE": str(tmp_path)})
        assert result.exit_code == 2
        assert json.loads(result.stdout) == {"error": {
            "type": "usage_error",
            "message": f"--log-file {tmp_path}: cannot open it (Is a directory)"}}
