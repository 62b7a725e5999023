"""What every view shares: the consoles, JSON and error output, tables, escaping.

Rich (~25 ms to import) loads here, on the first thing drawn, and only here: the view
modules that draw import it at their top, but `wallet balance`, the command operators
run most, prints without it, and so does every `--json` output; both load this module.
Text from outside (user ids, gateway messages, reasons) goes through `escaped`, never
read as markup.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

PIPED_WIDTH = 1000


@cache
def console() -> Console:
    """The stdout console: the terminal's width, or unlimited when stdout is piped."""
    from rich.console import Console  # late: Rich on the first thing drawn (see above)

    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, width=PIPED_WIDTH if piped else None)


def fit_columns(columns: list[tuple[str, int]], droppable: list[str], width: int) -> set[str]:
    """The columns to show at `width`: (name, widest cell) pairs, dropping those named in
    `droppable`, in that order, until the rest fit (3 characters between columns)."""
    shown = dict(columns)
    for name in droppable:
        if sum(shown.values()) + 3 * (len(shown) - 1) <= width:
            break
        shown.pop(name, None)
    return set(shown)


def print_json(result: dict[str, Any]) -> None:
    """Print exactly one JSON object on stdout."""
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_error(message: str) -> None:
    """The error on stderr: one line when piped (a script reads it whole), wrapped at the
    terminal's width on a terminal (see `wrapped_error`)."""
    line = f"Error: {message}"
    if sys.stderr.isatty():
        line = wrapped_error(line, stderr_columns())
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def stderr_columns() -> int:
    """The width of the terminal stderr is on."""
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):  # not a real file (a test's capture)
        return shutil.get_terminal_size().columns


def wrapped_error(line: str, width: int) -> str:
    """`Error: …` folded at `width` on word boundaries, each further line indented under
    the message, so the terminal never breaks a word; a word longer than a line (a path,
    a URL) stays whole, to be copied."""
    return textwrap.fill(line, width=max(width, 20), subsequent_indent=" " * len("Error: "),
                         break_long_words=False, break_on_hyphens=False)


def new_table(title: str | None = None) -> Any:
    from rich.table import Table  # late: Rich on the first thing drawn (see above)

    return Table(title=title, title_justify="left", header_style="bold")


def escaped(value: Any) -> str:
    """A value as table text: empty for None, Rich markup in it shown literally."""
    from rich.markup import escape  # late: Rich on the first thing drawn (see above)

    return "" if value is None else escape(str(value))


def when(at: str | None) -> str:
    return "" if not at else at[:19].replace("T", " ")


STATUS_STYLES = {"COMPLETED": "green", "FAILED": "red", "PENDING": "yellow",
                 "PROCESSING": "yellow", "PARTIALLY_REFUNDED": "cyan", "REFUNDED": "cyan"}


def status_markup(status: str) -> str:
    return f"[{STATUS_STYLES.get(status, 'white')}]{escaped(status)}[/]"
