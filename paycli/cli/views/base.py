"""What every view shares: the consoles, JSON and error output, tables, escaping.

Rich is imported late, inside the functions that draw: `wallet balance` and `--json`
output never load it (start-up). Text from outside (user ids, gateway messages, reasons)
goes through `escaped`, never read as markup.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

PIPED_WIDTH = 1000


@cache
def console() -> Console:
    """The stdout console: the terminal's width, or unlimited when stdout is piped."""
    import os  # late: start-up (with Rich)

    from rich.console import Console

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
    """One line on stderr."""
    sys.stderr.write(f"Error: {message}\n")
    sys.stderr.flush()


def new_table(title: str | None = None) -> Any:
    from rich.table import Table  # late: start-up

    return Table(title=title, title_justify="left", header_style="bold")


def escaped(value: Any) -> str:
    """A value as table text: empty for None, Rich markup in it shown literally."""
    from rich.markup import escape  # late: start-up

    return "" if value is None else escape(str(value))


def when(at: str | None) -> str:
    return "" if not at else at[:19].replace("T", " ")


STATUS_STYLES = {"COMPLETED": "green", "FAILED": "red", "PENDING": "yellow",
                 "PROCESSING": "yellow", "PARTIALLY_REFUNDED": "cyan", "REFUNDED": "cyan"}


def status_markup(status: str) -> str:
    return f"[{STATUS_STYLES.get(status, 'white')}]{escaped(status)}[/]"


@contextlib.contextmanager
def progress_bar(description: str, enabled: bool
                 ) -> Iterator[Callable[[int, int], None] | None]:
    """A transient Rich progress bar fed with (done, total); None when not `enabled`."""
    if not enabled:
        yield None
        return
    # late: start-up
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console(), transient=True) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


