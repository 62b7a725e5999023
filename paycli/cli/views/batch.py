"""The views of `batch`: its progress (a Rich bar on a terminal, a plain line every few
seconds when piped, nothing with `--json`) and its summary."""

from __future__ import annotations

import contextlib
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import typer
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
)

from paycli.cli.echo import control_echo_off
from paycli.cli.views.base import (
    Column,
    console,
    escaped,
    print_error,
    print_json,
    print_note,
    print_table,
)
from paycli.cli.views.units import count, duration

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
    """A bar as wide as the line leaves it (at least 10 cells), the rows done, the time
    elapsed and the time left (from a smoothed rate, so it does not jump), and the tally
    when there is room for it on the line."""
    clock, width = _Clock(total), console().width
    bar_width = max(10, width - 62)
    with control_echo_off(), Progress(
            BarColumn(bar_width=bar_width), TextColumn("{task.fields[line]}"),
            console=console(), transient=True) as bar:
        task = bar.add_task("rows", total=total, line="")

        def update(counts: Counts) -> None:
            done = sum(counts.values())
            line = f"{done:,}/{total:,} " if total is not None else f"{done:,} "
            line += clock.times(done)
            tally = _tally(counts)
            if bar_width + 2 + len(line) + 2 + len(tally) < width:
                line += "  " + tally
            bar.update(task, completed=done, line=line)

        yield update


class _Clock:
    """Elapsed time and an ETA from an exponential moving average of the row rate,
    sampled at most every half second (one slow row, or a burst, moves it only a little)."""

    SAMPLE_S, WEIGHT = 0.5, 0.2

    def __init__(self, total: int | None) -> None:
        self.total, self.started = total, time.monotonic()
        self.sampled_at, self.sampled_done, self.rate = self.started, 0, 0.0

    def times(self, done: int) -> str:
        now = time.monotonic()
        if now - self.sampled_at >= self.SAMPLE_S:
            measured = (done - self.sampled_done) / (now - self.sampled_at)
            self.rate = measured if not self.rate else (
                self.WEIGHT * measured + (1 - self.WEIGHT) * self.rate)
            self.sampled_at, self.sampled_done = now, done
        elapsed = f"elapsed {duration(now - self.started)}"
        if self.total is None or not self.rate:
            return elapsed
        return f"{elapsed}, ETA {duration(max(self.total - done, 0) / self.rate)}"


def _plain_lines() -> Callable[[Counts], None]:
    started = last = time.monotonic()

    def update(counts: Counts) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < PLAIN_EVERY_S:
            return
        last = now
        done = sum(counts.values())
        sys.stdout.write(f"batch: {count(done, 'row')}, {done / (now - started):,.0f} rows/s, "
                         f"{_tally(counts)}\n")
        sys.stdout.flush()

    return update


def batch_stopping(press: int, at_gateway: int, unsent: int, as_json: bool) -> None:
    """Ctrl-C: what the run does before it stops (above the bar on a terminal, on stderr
    otherwise). The rows it leaves are counted unknown, each with its payment id."""
    charges = count(at_gateway, "charge")
    if press > 1:
        _say(f"Ctrl-C again: stopping now; the {charges} at the gateway "
             f"{'stays' if at_gateway == 1 else 'stay'} PROCESSING, funds held", as_json)
        return
    waits = (f"waiting for the {charges} already at the gateway, then stopping (Ctrl-C "
             "again stops at once, leaving it PROCESSING)" if at_gateway else "stopping")
    if at_gateway > 1:
        waits = waits.replace("leaving it", "leaving them")
    unsent_rows = (f"; {count(unsent, 'opened row')} not yet sent "
                   f"{'stays' if unsent == 1 else 'stay'} PROCESSING, funds held, for the next "
                   "run of the file to charge" if unsent else "")
    _say(f"Ctrl-C: no new charges; {waits}{unsent_rows}", as_json)


def _say(text: str, as_json: bool) -> None:
    if as_json or not sys.stdout.isatty():
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    else:
        console().print(text, markup=False)


def _tally(counts: Counts) -> str:
    """ok and failed always; unknown and skipped once there are some."""
    return " ".join(f"{name} {counts[key]:,}" for name, key in (
        ("ok", "completed"), ("failed", "failed"), ("unknown", "unknown"),
        ("skipped", "skipped")) if counts[key] or key in ("completed", "failed"))


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
    console().print(f"{mark} Billing run {report.batch_id}: {count(report.rows, 'row')} in "
                    f"{duration(report.seconds)} ({report.throughput:,.0f} rows/s)")
    console().print(f"  {report.completed:,} completed, {report.failed:,} failed, "
                    f"{report.unknown:,} unknown, {report.skipped:,} skipped (done before)")
    if report.retried:
        console().print(f"  {report.retried:,} retried: a new attempt for an order whose "
                        "earlier attempts FAILED")
    if report.unknown:
        print_note(f"{report.unknown:,} are PROCESSING with their funds held: run the file "
                   "again, `paycli recover`, or `paycli reconcile --apply`")
    if report.failures:
        _failures(report)
    if report.failures_file:
        console().print(f"  rows to run again: {escaped(report.failures_file)}")


# What a row's failure was, by the exit code `pay` would have given it.
FAILURE_KINDS = {2: "malformed", 3: "insufficient funds", 4: "declined",
                 5: "gateway unavailable", 6: "order reused", 10: "outcome unknown",
                 11: "gateway refused", 12: "over a limit"}


def _failures(report: BatchReport) -> None:
    """The rows that did not complete: a count by kind, then the malformed rows (the ones an
    operator fixes in the file) and the rest, each in line order; `--json` or the failures
    file has every one."""
    kinds = Counter(FAILURE_KINDS.get(failure.exit_code, "other")
                    for failure in report.failures)
    kept = ("" if len(report.failures) >= report.failed + report.unknown
            else f"of the first {count(len(report.failures), 'failure')} kept: ")
    console().print("  " + kept + ", ".join(f"{number:,} {kind}" for kind, number in
                                            kinds.most_common()))
    ordered = sorted(report.failures, key=lambda f: (f.exit_code != 2, f.line))
    print_table("Rows that did not complete, malformed first", (
        Column("Line", whole=True, right=True), Column("Order", whole=True, drop=1),
        Column("Why")), [
        (f"{failure.line:,}", failure.order_id, failure.error)
        for failure in ordered[:SHOWN_FAILURES]])
    left = report.failed + report.unknown - SHOWN_FAILURES
    if left > 0:
        console().print(f"  … and {left:,} more: `--json` or `--failures FILE` has them")
