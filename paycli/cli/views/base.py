"""What every view shares: the consoles, JSON and error output, tables, escaping.

Every table is drawn by `print_table`: on a terminal, id and status columns are never cut
or split (they take the width of their longest value and do not wrap); other columns fold
first, and optional ones are left out, with a line saying which, when the table would not
fit the terminal's width. When stdout is not a terminal a table is one line per row, its
cells tab-separated with their full values, after its title (one line starting `# `) and
one header line: no padding, no box drawing, nothing wrapped (as `gh` prints for a pipe).

Rich (~25 ms to import) loads here, on the first thing drawn, and only here: the view
modules that draw import it at their top, but `wallet balance`, the command operators
run most, prints without it, and so does every `--json` output; both load this module.
Text from outside (user ids, gateway messages, reasons) goes through `escaped`, never
read as markup.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from paycli.cli.views.units import count, local_time

if TYPE_CHECKING:
    from rich.console import Console

PIPED_WIDTH = 1000


def piped() -> bool:
    """stdout is not a terminal (a set COLUMNS stands for one: tests and `script` use it)."""
    return not sys.stdout.isatty() and "COLUMNS" not in os.environ


def console() -> Console:
    """The stdout console: the terminal's width, or unlimited when stdout is piped."""
    return _console(piped(), os.environ.get("COLUMNS"))


@cache
def _console(is_piped: bool, columns: str | None) -> Console:
    """One console per way of printing (a test runs many commands in one process)."""
    from rich.console import Console  # late: Rich on the first thing drawn (see above)

    return Console(highlight=False, width=PIPED_WIDTH if is_piped else None)


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


@dataclass(frozen=True)
class Column:
    """One column of a `print_table`. `whole`: an id, status or amount, never cut or split;
    `drop`: left out on a narrow terminal, lowest rank first (0: always shown); `status`:
    coloured by its value; `right`: numbers, aligned right; `whole_words`: text that wraps
    between words but never inside one (ids in `key=value` pairs)."""

    name: str
    whole: bool = False
    drop: int = 0
    status: bool = False
    right: bool = False
    whole_words: bool = False

    def least(self, cells: list[str]) -> int:
        """The narrowest this column may be drawn: whole columns their widest cell, others
        their longest word (beyond 16 it folds, unless `whole_words`) or their name."""
        if self.whole:
            return max([len(self.name), *(len(cell) for cell in cells)])
        words = [len(word) for cell in cells for word in cell.split()]
        cap = 1_000 if self.whole_words else 16
        return max([len(self.name), *(min(length, cap) for length in words)])

    def styled(self, cell: str) -> str:
        """The cell as Rich markup: a status in its colour, anything else literal."""
        return status_markup(cell) if self.status else escaped(cell)


GAP = 2  # the space between columns: one of padding, one of the (blank) divider


def print_table(title: str | None, columns: Sequence[Column],
                rows: Sequence[Sequence[str | None]]) -> None:
    """Draw a table of plain cells (never markup) as the module docstring says."""
    cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
    if piped():
        _print_tab_separated(title, columns, cells)
        return
    width = console().width
    shown = _columns_that_fit(columns, cells, width)
    if _least_width(columns, cells, shown) > width:
        _print_stacked(title, columns, cells, width)
    else:
        console().print(_rich_table(title, [columns[i] for i in shown],
                                    [[row[i] for i in shown] for row in cells]))
    left_out = [column.name for i, column in enumerate(columns) if i not in shown]
    if left_out:
        console().print(f"[dim]{count(len(left_out), 'column')} left out: "
                        f"{', '.join(left_out)} — widen the terminal or use --json[/]")


def _print_tab_separated(title: str | None, columns: Sequence[Column],
                         cells: list[list[str]]) -> None:
    def line(values: Sequence[str]) -> str:
        return "\t".join(" ".join(value.split()) for value in values)

    lines = [line(row) for row in [[c.name for c in columns], *cells]]
    if title:  # one line, never wrapped, marked as a comment for the tools that skip them
        lines.insert(0, "# " + " ".join(title.split()))
    sys.stdout.write("".join(text + "\n" for text in lines))
    sys.stdout.flush()


def _columns_that_fit(columns: Sequence[Column], cells: list[list[str]],
                      width: int) -> list[int]:
    """The indexes of the columns shown at `width`: optional ones leave, lowest rank first,
    until the narrowest drawing of the rest fits."""
    shown = list(range(len(columns)))
    for leaving in sorted((i for i, c in enumerate(columns) if c.drop), key=lambda i:
                          columns[i].drop):
        if _least_width(columns, cells, shown) <= width:
            break
        shown.remove(leaving)
    return shown


def _least_width(columns: Sequence[Column], cells: list[list[str]], shown: list[int]) -> int:
    least = [columns[i].least([row[i] for row in cells]) for i in shown]
    return sum(least) + GAP * (len(shown) - 1)


def _print_stacked(title: str | None, columns: Sequence[Column], cells: list[list[str]],
                   width: int) -> None:
    """Rows too wide for the terminal even without their optional columns (which stay
    out): each row's whole cells (ids, amounts, statuses) on one line, as many as fit, and
    every other cell on a line of its own below, named ("  Payment: pay_…")."""
    from rich.padding import Padding  # late: Rich on the first thing drawn (see above)

    if title:
        console().print(f"[bold]{escaped(title)}[/]")
    for row in cells:
        first = _first_line(columns, row, width)
        console().print("  ".join(columns[i].styled(row[i]) for i in first), overflow="fold")
        for i, (column, cell) in enumerate(zip(columns, row, strict=True)):
            if cell and i not in first and not column.drop:
                console().print(Padding(f"{escaped(column.name)}: {column.styled(cell)}",
                                        (0, 0, 0, 2)), overflow="fold")


def _first_line(columns: Sequence[Column], row: list[str], width: int) -> list[int]:
    """The cells of a stacked row's first line: its whole columns that are always shown,
    in order, while they fit (two spaces apart); at least one."""
    first: list[int] = []
    used = -2
    for i, column in enumerate(columns):
        if column.drop or not column.whole:
            continue
        used += 2 + len(row[i])
        if first and used > width:
            break
        first.append(i)
    return first


def _rich_table(title: str | None, columns: Sequence[Column], cells: list[list[str]]) -> Any:
    from rich import box  # late: Rich on the first thing drawn (see above)
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold",
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  padding=(0, 1, 0, 0))
    for i, column in enumerate(columns):
        widest = max([len(column.name), *(len(row[i]) for row in cells)])
        table.add_column(column.name, justify="right" if column.right else "left",
                         no_wrap=column.whole, overflow="fold",
                         min_width=widest if column.whole else None)
    for row in cells:
        table.add_row(*(column.styled(cell) for column, cell in zip(columns, row, strict=True)))
    return table


def stderr_columns() -> int:
    """The width of the terminal stderr is on."""
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):  # not a real file (a test's capture)
        return shutil.get_terminal_size().columns


def wrapped_error(line: str, width: int) -> str:
    """`Error: …` folded at `width` (see `fold`), each further line indented under the
    message."""
    return fold(line, width, "", " " * len("Error: "))


# Inside a `command` a space is not a place to fold (textwrap folds only at ASCII
# whitespace, so a no-break space holds the command together until it is put back).
_COMMAND = re.compile(r"`[^`\n]+`")
_HOLD = "\u00a0"


def fold(text: str, width: int, first: str = "", rest: str = "") -> str:
    """`text` folded at `width` on word boundaries, never inside a word or a `command`
    (one the operator is told to run stays on one line, to be copied; one longer than the
    line, like a long path or URL, overflows rather than breaks)."""
    held = _COMMAND.sub(lambda found: found.group(0).replace(" ", _HOLD), text)
    return textwrap.fill(held, width=max(width, 20), initial_indent=first,
                         subsequent_indent=rest, break_long_words=False,
                         break_on_hyphens=False).replace(_HOLD, " ")


def print_note(text: str, first: str = "  ", rest: str = "    ") -> None:
    """A line of plain text (not markup) under a summary, folded by `fold` at the
    terminal's width: the commands it names are never split across lines."""
    width = console().width
    console().print(fold(text, width, first, rest), markup=False, soft_wrap=True)


def new_table(title: str | None = None) -> Any:
    """A bare Rich table, for `stats`' figures (no id or status to keep whole); every list
    of rows uses `print_table`."""
    from rich.table import Table  # late: Rich on the first thing drawn (see above)

    return Table(title=title, title_justify="left", header_style="bold")


def escaped(value: Any) -> str:
    """A value as table text: empty for None, Rich markup in it shown literally."""
    from rich.markup import escape  # late: Rich on the first thing drawn (see above)

    return "" if value is None else escape(str(value))


def when(at: str | None) -> str:
    """A stored time as the human views show it: local, with its zone."""
    return local_time(at)


STATUS_STYLES = {"COMPLETED": "green", "FAILED": "red", "PENDING": "yellow",
                 "PROCESSING": "yellow", "PARTIALLY_REFUNDED": "cyan", "REFUNDED": "cyan"}


def status_markup(status: str) -> str:
    return f"[{STATUS_STYLES.get(status, 'white')}]{escaped(status)}[/]"
