"""`Error:` lines on a real pseudo-terminal (pexpect) at 60, 80 and 120 columns: folded at
the terminal's width on word boundaries with a hanging indent; piped, still one line."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pexpect
import pytest
from helpers import ROOT, paycli_env, run

from paycli.cli.views.base import wrapped_error

pytestmark = pytest.mark.slow

XTS = ("wallet", "credit", "--user", "alice", "--amount", "5", "--currency", "XTS")
MESSAGE = ("Error: currency XTS is refused: ISO 4217 keeps it for testing; it is not a "
           "currency of money")


def on_terminal(db: Path, columns: int, *args: str) -> tuple[int, list[str]]:
    """`paycli --db DB ARGS` on a pseudo-terminal `columns` wide: (exit code, lines)."""
    child = pexpect.spawn(sys.executable, ["-m", "paycli", "--db", str(db), *args],
                          env={**paycli_env(), "TERM": "xterm-256color"}, cwd=str(ROOT),
                          dimensions=(40, columns), encoding="utf-8", timeout=30,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    screen = child.read()
    child.close()
    return child.exitstatus, screen.replace("\r\n", "\n").rstrip("\n").split("\n")


class TestErrorLines:
    """What an operator sees of a refusal, at each width."""

    @pytest.mark.parametrize("columns", [60, 80, 120])
    def test_folded_on_words_with_a_hanging_indent(self, tmp_path: Path, columns: int) -> None:
        """Every line fits; later lines hang under the message; no word is split."""
        code, lines = on_terminal(tmp_path / "l.db", columns, *XTS)
        assert code == 2
        assert all(len(line) <= columns for line in lines), lines
        assert lines[0].startswith("Error: currency XTS is refused:")
        assert all(line.startswith(" " * 7) and line[7] != " " for line in lines[1:]), lines
        assert " ".join(line.strip() for line in lines) == MESSAGE
        assert len(lines) == (1 if columns == 120 else 2)

    def test_piped_stays_one_line(self, tmp_path: Path) -> None:
        """A script reading stderr gets the whole message on one line."""
        done = run(tmp_path / "l.db", *XTS, env={**paycli_env(), "COLUMNS": "60"})
        assert (done.returncode, done.stderr) == (2, MESSAGE + "\n")


class TestWrappedError:
    """The folding itself."""

    def test_a_word_longer_than_a_line_stays_whole(self) -> None:
        """A path or URL wider than the terminal is not cut, so it can be copied."""
        url = "http://" + "x" * 70 + ".example:3000"
        assert wrapped_error(f"Error: cannot reach {url} (connection refused)", 60) \
            .split("\n") == ["Error: cannot reach", f"       {url}", "       (connection refused)"]

    def test_a_command_to_run_is_never_split(self) -> None:
        """A `command` the message tells the operator to run moves to the next line whole
        (its spaces are not places to fold); the words around it fold as usual."""
        folded = wrapped_error("Error: the payment is PROCESSING with its funds held; "
                               "`paycli reconcile --apply --report settle.csv` settles it", 50)
        lines = folded.split("\n")
        assert any("`paycli reconcile --apply --report settle.csv`" in line for line in lines), \
            lines
        assert all(line.startswith("       ") for line in lines[1:]), lines
