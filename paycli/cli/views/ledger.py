"""Views of the commands that read a whole ledger back: `replay-events`, `export`, and the
verified copies `backup` and `db copy`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from paycli.cli.views.base import console, escaped, new_table
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
        console().print(f"[green]✓[/] {result.events} events replayed: balances, holds, "
                        "transfers, payments and refunds agree with the log; hash chain intact.")
        return
    console().print(f"[red]✗[/] {result.events} events replayed.")
    if result.mismatches:
        table = new_table(f"{len(result.mismatches)} mismatches (stored tables vs event log)")
        for name in ("Entity", "Id", "Field", "Stored", "Replayed"):
            table.add_column(name, overflow="fold")
        for found in result.mismatches:
            table.add_row(*(escaped(value) for value in
                            (found.entity, found.id, found.field, found.stored, found.replayed)))
        console().print(table)
    if result.chain_break:
        console().print(f"[red]Hash chain broken at event {result.chain_break.seq}:[/] "
                        f"{escaped(result.chain_break.reason)}")


def exported(result: dict[str, Any]) -> None:
    """After `export --out FILE`."""
    console().print(f"[green]✓[/] Exported {result['records']} records "
                    f"({result['format']}) to {escaped(result['out'])}")


def backed_up(result: BackupResult) -> None:
    """After `backup`."""
    console().print(f"[green]✓[/] Backed up {result.events} events to {escaped(result.path)}: "
                    "the copy replays consistently and its hash chain is intact.")


def db_copied(result: DbCopyResult) -> None:
    """After `db copy`: where the ledger went and whether its replay there agreed."""
    mark = "[green]✓[/]" if result.consistent else "[red]✗[/]"
    verdict = ("replayed there: consistent, hash chain intact" if result.consistent
               else f"replayed there: {result.mismatches} mismatches")
    console().print(f"{mark} Copied {result.rows} rows ({result.events} events) to "
                    f"{escaped(result.to)}; {verdict}.")
