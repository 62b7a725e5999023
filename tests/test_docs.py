"""The README, `--help` and the contract stay in step."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paycli.cli import app

ROOT = Path(__file__).resolve().parent.parent
CONTRACT_COMMANDS = [
    "wallet credit", "wallet balance", "wallet history", "pay", "refund", "payments list",
    "payments show", "replay-events", "recover", "gateway status", "gateway reset", "export",
    "demo", "bench", "payments resolve", "refunds list", "refunds resolve", "schema",
]


class TestDocs:
    @pytest.mark.parametrize("command", CONTRACT_COMMANDS)
    def test_every_command_is_in_the_readme(self, command: str) -> None:
        """The README names every command of the contract."""
        assert f"paycli {command}" in (ROOT / "README.md").read_text()

    @pytest.mark.parametrize("command", CONTRACT_COMMANDS)
    def test_every_command_has_help_with_an_example(self, command: str) -> None:
        """`--help` gives a summary line and an example for every command."""
        result = CliRunner().invoke(app, [*command.split(), "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert "Example" in result.stdout and f"paycli {command}" in result.stdout

    def test_readme_quick_start_has_two_commands_and_ci_runs_the_second(self) -> None:
        """The quick start is two commands; `.ci/run` runs the test one verbatim."""
        readme = (ROOT / "README.md").read_text()
        quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
        blocks = re.findall(r"```console\n(.*?)\n```", quick, flags=re.S)
        assert len(blocks) >= 2
        main_job, tests = blocks[0].strip(), blocks[1].strip()
        assert "paycli demo" in main_job and "pytest" in tests
        assert tests in (ROOT / ".ci" / "run").read_text()

    def test_changelog_exists_in_keep_a_changelog_form(self) -> None:
        """CHANGELOG.md has an Unreleased section."""
        assert "## [Unreleased]" in (ROOT / "CHANGELOG.md").read_text()
