"""The views of `batch`: its progress (a Rich bar on a terminal, a plain line every few
seconds when piped, nothing with `--json`) and its summary."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from paycli.cli.echo import control_echo_off
from paycli.cli.views.base import console, escaped, new_table, print_error, print_json

if TYPE_CHECKING:
    from paycli.errors import PaycliError
    from paycli.results.batch import BatchReport

Counts = dict[str, int]
PLAIN_EVERY_S = 5.0
SHOWN_FAILURES = 20


@contextlib.contextmanager
def batch_progress(total: int | None, enabled: bool) -> Iterator[Callable[[Counts], None]]:
    """A callable told the running counts after each row; draws them as it can."""
    if not enabled:
        yield lambda counts: None
    elif sys.stdout.isatty():
        with _bar(total) as update:
            yield update
    else:
        yield _plain_lines()


@contextlib.contextmanager
def _bar(total: int | None) -> Iterator[Callable[[Counts], None]]:
    started = time.monotonic()
    with control_echo_off(), Progress(
            BarColumn(bar_width=16), MofNCompleteColumn(), TimeRemainingColumn(),
            TextColumn("{task.fields[rate]}/s {task.fields[tally]}"), console=console(),
            transient=True) as bar:
        task = bar.add_task("rows", total=total, rate="0", tally="")

        def update(counts: Counts) -> None:
            done = sum(counts.values())
            rate = done / max(time.monotonic() - started, 1e-6)
            bar.update(task, completed=done, rate=f"{rate:,.0f}", tally=_tally(counts))

        yield update


def _plain_lines() -> Callable[[Counts], None]:
    started = last = time.monotonic()

    def update(counts: Counts) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < PLAIN_EVERY_S:
            return
        last = now
        done = sum(counts.values())
        sys.stdout.write(f"batch: {done} rows, {done / (now - started):.0f} rows/s, "
                         f"{_tally(counts)}\n")
        sys.stdout.flush()

    return update


def batch_stopping(in_flight: int, as_json: bool) -> None:
    """Ctrl-C: no new row; what is in flight is finished first (above the bar on a
    terminal, on stderr otherwise)."""
    text = (f"Ctrl-C: no new rows; settling the {in_flight} already opened before stopping "
            "(Ctrl-C again leaves them PROCESSING, for the next run of the file to finish)")
    if as_json or not sys.stdout.isatty():
        sys.stderr.write(text + "\n")
    else:
        console().print(text, markup=False)


def _tally(counts: Counts) -> str:
    return (f"ok {counts['completed']} failed {counts['failed']} unknown "
            f"{counts['unknown']} skipped {counts['skipped']}")


def batch_summary(report: BatchReport, error: PaycliError | None, as_json: bool) -> None:
    """After `batch`: the summary (JSON or human), then exit with the run's code."""
    if as_json:
        printed = report.to_json()
        if error is not None:
            printed["error"] = {"type": error.type, "message": error.message}
        print_json(printed)
    else:
        _human(report)
        if error is not None:
            print_error(error.message)
    if error is not None:
        raise typer.Exit(error.exit_code)


def _human(report: BatchReport) -> None:
    mark = "[green]✓[/]" if report.completed + report.skipped == report.rows else "[red]✗[/]"
    rows = f"{report.rows:,} row{'' if report.rows == 1 else 's'}"
    console().print(f"{mark} Billing run {report.batch_id}: {rows} in {report.seconds:.1f} s "
                    f"({report.throughput:,.0f} rows/s)")
    console().print(f"  {report.completed:,} completed, {report.failed:,} failed, "
                    f"{report.unknown:,} unknown, {report.skipped:,} skipped (done before)")
    if report.retried:
        console().print(f"  {report.retried:,} retried: a new attempt for an order whose "
                        "earlier attempts FAILED")
    if report.unknown:
        console().print(f"  {report.unknown:,} are PROCESSING with their funds held: run the "
                        "file again, `paycli recover`, or `paycli reconcile --apply`")
    if report.failures:
        table = new_table("Rows that did not complete")
        for name in ("Line", "Order", "Why"):
            table.add_column(name, overflow="fold")
        for failure in report.failures[:SHOWN_FAILURES]:
            table.add_row(str(failure.line), escaped(failure.order_id or ""),
                          escaped(failure.error))
        console().print(table)
        left = report.failed + report.unknown - SHOWN_FAILURES
        if left > 0:
            console().print(f"  … and {left:,} more: `--json` or `--failures FILE` has them")
    if report.failures_file:
        console().print(f"  rows to run again: {escaped(report.failures_file)}")
