"""`--help` as an operator reads it: plain upper-case names in usage lines, examples whole
on one line, summaries whole, the main help with an example, and a missing argument
shown with its usage line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paycli.cli.app import app

TYPER_MARKS = re.compile(r"\{[a-z_]+\}|<[a-z_\[\]]+>")


def helped(*args: str, columns: int = 60) -> str:
    """`paycli ARGS --help` at `columns`; its text (exit 0)."""
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.output


class TestUsageNames:
    """Arguments and values are named in capitals, as Unix manuals name them."""

    @pytest.mark.parametrize(("args", "usage"), [
        (("payments", "show"), "Usage: paycli payments show [OPTIONS] PAYMENT_ID"),
        (("refund",), "Usage: paycli refund [OPTIONS] PAYMENT_ID"),
        (("backup",), "Usage: paycli backup [OPTIONS] FILE"),
        (("schema",), "Usage: paycli schema [OPTIONS] COMMAND..."),
    ])
    def test_usage_line_names_the_argument_in_capitals(self, args: tuple[str, ...],
                                                       usage: str) -> None:
        """The usage line shows `PAYMENT_ID`, not `{payment_id}`."""
        assert helped(*args).splitlines()[0] == usage

    @pytest.mark.parametrize("args", [(), ("pay",), ("payments", "list"), ("schema",),
                                      ("limits", "set"), ("backup",)])
    def test_no_typer_type_marks_anywhere(self, args: tuple[str, ...]) -> None:
        """No `<str>`, `<list[str]>` or `{name}` in any help page: values are `--user USER`."""
        text = helped(*args)
        assert TYPER_MARKS.search(text) is None, text

    def test_options_show_an_upper_case_value(self) -> None:
        """An option taking a value shows it by name; `--db` names the PostgreSQL URL."""
        text = helped(columns=100)
        assert "--db PATH|URL" in text and "postgresql://" in text
        assert "--user USER" in helped("pay", columns=100)


class TestExamplesAndSummaries:
    """Examples stay copyable; summaries stay whole."""

    def test_a_long_example_stays_on_one_line_at_60_columns(self) -> None:
        """An example wider than the terminal is printed as written, not refolded."""
        line = ("  Example: paycli payments list --user alice --status COMPLETED "
                "--since 2024-05-01")
        assert line in helped("payments", "list").splitlines()

    def test_the_main_help_has_an_example(self) -> None:
        """`paycli --help` shows how a command line starts."""
        assert "  Example: paycli --db ~/ledger.db wallet credit --user alice --amount 100" \
            in helped(columns=100).splitlines()

    @pytest.mark.parametrize("args", [(), ("payments",), ("refunds",), ("wallet",)])
    def test_command_summaries_do_not_end_in_dots(self, args: tuple[str, ...]) -> None:
        """A list of commands gives each its whole first sentence, never cut with `...`."""
        text = helped(*args)
        commands = text.split("Commands:")[1]
        assert "..." not in commands, commands
        if args == ("payments",):
            assert "duration and gateway attempts." in " ".join(commands.split())


class TestMissingArgument:
    """A missing argument says where it goes."""

    def test_the_usage_line_comes_with_the_error(self, tmp_path: Path) -> None:
        """`paycli refund` alone: the usage line, then the one error line; exit 2."""
        result = CliRunner().invoke(app, ["--db", str(tmp_path / "l.db"), "refund"])
        assert result.exit_code == 2
        assert result.stderr.splitlines() == ["Usage: paycli refund [OPTIONS] PAYMENT_ID",
                                              "Error: Missing argument 'PAYMENT_ID'."]
        assert not (tmp_path / "l.db").exists()

    def test_json_keeps_the_one_error_object(self, tmp_path: Path) -> None:
        """With `--json` stdout holds only the error object; no usage line anywhere."""
        result = CliRunner().invoke(app, ["--db", str(tmp_path / "l.db"), "refund", "--json"])
        assert result.exit_code == 2
        assert result.stdout.strip() == ('{"error": {"type": "usage_error", "message": '
                                         '"Missing argument \'PAYMENT_ID\'."}}')
        assert "Usage:" not in result.stderr
