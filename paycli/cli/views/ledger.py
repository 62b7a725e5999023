"""Views of the commands that read a whole ledger back: `replay-events`, `export`, and the
verified copies `backup` and `db copy`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from paycli.cli.views.base import Column, console, escaped, print_table
from paycli.cli.views.units import count
from paycli.results.replay import BackupResult, DbCopyResult, ReplayReport


@contextlib.contextmanager
def progress_bar(description: str, enabled: bool
                 ) -> Iterator[Callable[[int, int], None] | None]:
    """A transient Rich progress bar fed with (done, total); None when not `enabled`."""
    if not enabled:
        yield None
        return
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console(), transient=True) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def replay_report(result: ReplayReport) -> None:
    """After `replay-events`: what agrees, every mismatch, and where the chain breaks."""
    if result.consistent and result.chain_ok:
        console().print(f"[green]✓[/] {count(result.events, 'event')} replayed: balances, holds, "
                        "transfers, payments and refunds agree with the log; hash chain intact.")
        return
    console().print(f"[red]✗[/] {count(result.events, 'event')} replayed.")
    if result.mismatches:
        print_table(f"{count(len(result.mismatches), 'mismatch', 'mismatches')} (stored "
                    "tables vs event log)", (
                        Column("Entity"), Column("Id", whole=True), Column("Field"),
                        Column("Stored"), Column("Replayed")), [
                        (found.entity, found.id, found.field, found.stored, found.replayed)
                        for found in result.mismatches])
    if result.chain_break:
        console().print(f"[red]Hash chain broken at event {result.chain_break.seq}:[/] "
                        f"{escaped(result.chain_break.reason)}")


def exported(result: dict[str, Any]) -> None:
    """After `export --out FILE`."""
    console().print(f"[green]✓[/] Exported {count(result['records'], 'record')} "
                    f"({result['format']}) to {escaped(result['out'])}")


def backed_up(result: BackupResult) -> None:
    """After `backup`."""
    console().print(f"[green]✓[/] Backed up {result.events} events to {escaped(result.path)}: "
                    "the copy replays consistently and its hash chain is intact.")


def db_copied(result: DbCopyResult) -> None:
    """After `db copy`: where the ledger went and whether its replay there agreed."""
    mark = "[green]✓[/]" if result.consistent else "[red]✗[/]"
    verdict = ("replayed there: consistent, hash chain intact" if result.consistent
               else f"replayed there: {count(result.mismatches, 'mismatch', 'mismatches')}")
    console().print(f"{mark} Copied {count(result.rows, 'row')} "
                    f"({count(result.events, 'event')}) to {escaped(result.to)}; {verdict}.")
