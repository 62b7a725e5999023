"""Human views of results (Rich), and the JSON view. The only module that prints results.

Every view takes the same result model that `--json` prints, so both always agree.
`NO_COLOR` is honoured by Rich itself. Rich is imported late, inside the views that use
it: `wallet balance` and `--json` output never load it (start-up).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from paycli import results


# Piped output is not cut to a terminal's width: tables are as wide as their content.
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


@cache
def err_console() -> Console:
    """The stderr console."""
    from rich.console import Console  # late: start-up

    return Console(stderr=True, highlight=False)


def print_json(result: dict[str, Any]) -> None:
    """Print exactly one JSON object on stdout."""
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_error(message: str) -> None:
    """One line on stderr."""
    sys.stderr.write(f"Error: {message}\n")
    sys.stderr.flush()


def _table(title: str | None = None) -> Any:
    from rich.table import Table  # late: start-up

    return Table(title=title, title_justify="left", header_style="bold")


def wallet_credit(result: results.WalletCredit) -> None:
    """After `wallet credit`."""
    console().print(
        f"[green]✓[/] Credited [bold]{result.amount} {result.currency}[/] to "
        f"{result.user}: balance [bold]{result.balance} {result.currency}[/] "
        f"[dim]({result.transaction_id})[/]"
    )


def wallet_balance(result: results.WalletBalance) -> None:
    """After `wallet balance`: three aligned lines, printed without Rich, because this is
    the command operators run most and its start-up time is kept near a bare Typer app's."""
    if not result.exists:
        sys.stdout.write(f"{result.user} has no {result.currency} wallet yet (balance 0): "
                         "`paycli wallet credit` opens one\n")
        return
    values = {"balance": result.balance, "available": result.available, "held": result.held}
    width = max(len(value) for value in values.values())
    lines = [f"Wallet {result.user} ({result.currency})"]
    lines += [f"  {name.capitalize():<10} {value:>{width}}" for name, value in values.items()]
    sys.stdout.write("\n".join(lines) + "\n")


def wallet_history(result: results.WalletHistory) -> None:
    """After `wallet history`."""
    if not result.entries:
        console().print(f"No movements for {result.user} in {result.currency}.")
        return
    table = _table(f"Wallet {result.user} ({result.currency}), newest first")
    table.add_column("At")
    table.add_column("Type")
    table.add_column("Amount", justify="right")
    table.add_column("Balance", justify="right")
    table.add_column("Available", justify="right")
    table.add_column("Reference", overflow="fold")
    for entry in result.entries:
        table.add_row(entry.at[:19].replace("T", " "), entry.type, entry.amount,
                      entry.balance, entry.available, _escaped(entry.reference))
    console().print(table)


def recovered(result: results.RecoverReport) -> None:
    """After `recover`."""
    if not result.resolved and not result.unresolved:
        console().print("[green]✓[/] Nothing to recover: every payment and refund is final.")
        return
    table = _table("Recovery")
    table.add_column("Id")
    table.add_column("Status")
    table.add_column("Note")
    for entry in result.resolved:
        table.add_row(entry.refund_id or entry.payment_id, entry.status, "resolved")
    for entry in result.unresolved:
        table.add_row(entry.refund_id or entry.payment_id,
                      f"[yellow]{entry.status}[/]", _escaped(entry.reason))
    console().print(table)


def gateway_status(result: results.GatewayStatus) -> None:
    """After `gateway status`: the state, and when the next probe may go out."""
    style = {"closed": "green", "open": "red", "half-open": "yellow"}[result.state]
    opened = f", opened at {result.opened_at}" if result.opened_at else ""
    console().print(f"Circuit breaker: [bold {style}]{result.state}[/] "
                    f"({result.failures} consecutive failures{opened})")
    if result.probe_at is not None:
        console().print(f"{_probe_wait(result.probe_at)}; "
                        "`paycli gateway reset` closes it by hand.")


def _probe_wait(probe_at: str) -> str:
    wait = (datetime.fromisoformat(probe_at) - datetime.now(UTC)).total_seconds()
    return f"next probe allowed in {wait:.0f} s" if wait >= 1 else "probe allowed now"


def gateway_reset(result: results.GatewayStatus) -> None:
    """After `gateway reset`."""
    console().print(f"[green]✓[/] circuit breaker {result.state} "
                    f"({result.failures} consecutive failures)")


class _BenchProgress:
    """A Rich progress bar per bench phase."""

    def __init__(self) -> None:
        # late: start-up
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self.progress = Progress("[progress.description]{task.description}", BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=console())
        self.tasks: dict[str, Any] = {}

    def __call__(self, phase: str, advance: int, total: int) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(phase, total=total)
        self.progress.advance(self.tasks[phase], advance)

    def __enter__(self) -> _BenchProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


def bench_progress() -> _BenchProgress:
    """The bench's progress bars (a context manager and a callback)."""
    return _BenchProgress()


def bench_result(result: results.BenchReport) -> None:
    """After `bench`."""
    table = _table(f"paycli bench: {result.payments} payments, gateway {result.gateway}, "
                   f"concurrency {result.concurrency}, prefill {result.prefill}")
    table.add_column("Measure")
    table.add_column("Value", justify="right")
    table.add_row("paycli throughput", f"{result.throughput:.1f} payments/s")
    table.add_row("latency p50 / p95 / p99",
                  f"{result.p50_ms:.2f} / {result.p95_ms:.2f} / {result.p99_ms:.2f} ms")
    table.add_row("storage limit (raw SQLite, "
                  f"{result.commits_per_payment} commits/payment)",
                  f"{result.baselines.storage:.1f} /s  (ratio {result.ratios.storage})")
    if result.baselines.network is not None:
        table.add_row("network limit (raw httpx)",
                      f"{result.baselines.network:.1f} /s  "
                      f"(ratio {result.ratios.network})")
    table.add_row("wallet balance read", f"{result.wallet_balance_ms:.3f} ms")
    replay = result.replay
    table.add_row("replay-events", f"{replay.events_per_s:.0f} events/s "
                  f"({replay.events} events, "
                  f"{'consistent' if replay.consistent else 'MISMATCH'})")
    table.add_row("failed payments", str(result.failed))
    console().print(table)
    steps = _table("Per step")
    steps.add_column("Step")
    for column in ("p50 ms", "p95 ms", "p99 ms"):
        steps.add_column(column, justify="right")
    for name, cuts in result.steps.items():
        steps.add_row(name, f"{cuts.p50_ms:.3f}", f"{cuts.p95_ms:.3f}",
                      f"{cuts.p99_ms:.3f}")
    console().print(steps)


def already_done(result: results.PayResult | results.RefundResult) -> None:
    """A repeated pay or refund: the stored result, and that nothing moved again."""
    from rich.markup import escape  # late: start-up

    from paycli.results import PayResult

    if isinstance(result, PayResult):
        order = f"{escape(result.order_id)} → " if result.order_id else ""
        console().print(f"[bold]already paid:[/] {order}{result.payment_id} "
                        f"[bold]{result.status}[/] (no new charge)")
        console().print(f"  {escape(result.user)} paid {result.amount} {result.currency}; "
                        f"balance {result.balance} {result.currency}")
        return
    console().print(f"[bold]already refunded:[/] {result.refund_id} of {result.payment_id} "
                    f"[bold]{result.status}[/] (no new refund)")
    console().print(f"  {result.amount} {result.currency}; payment {result.payment_status}, "
                    f"balance {result.balance} {result.currency}")


def announce(text: str) -> None:
    """A scenario's heading (a rule on a terminal, a plain line when piped)."""
    console().print()
    if console().width >= PIPED_WIDTH:
        console().print(f"== {text}", markup=False)
    else:
        console().rule(f"[bold]{text}[/]", align="left")


def demo_summary(results: list[Any], kept_at: str | None) -> None:
    """The demo's closing table: scenario, expected, got, payment id, balance."""
    cells = [("", 1), ("Scenario", 24),
             ("Expected", max(len(r.expected) for r in results)),
             ("Got", max(len(r.got) for r in results)),
             ("Payment", max(len(r.payment_id or "") for r in results)),
             ("Balance", max(len(r.balance) for r in results))]
    shown = fit_columns(cells, ["Balance", "Expected"], console().width - 4)
    table = _table("paycli demo: summary")
    for name, justify, wrap in (("", "left", False), ("Scenario", "left", True),
                                ("Expected", "left", True), ("Got", "left", True),
                                ("Payment", "left", False), ("Balance", "right", False)):
        if name in shown:
            table.add_column(name, justify=justify, no_wrap=not wrap)
    for result in results:
        mark = "[green]✓[/]" if result.ok else "[red]✗[/]"
        row = {"": mark, "Scenario": result.scenario, "Expected": result.expected,
               "Got": result.got, "Payment": result.payment_id or "", "Balance": result.balance}
        table.add_row(*(value for name, value in row.items() if name in shown))
    console().print()
    console().print(table)
    failed = sum(1 for result in results if not result.ok)
    if failed:
        console().print(f"[red bold]{failed} scenario(s) did not behave as expected.[/]")
    else:
        console().print(f"[green bold]All {len(results)} scenarios behaved as expected.[/]")
    if kept_at:
        console().print(f"The ledger is kept at {kept_at}.")


def _escaped(value: Any) -> str:
    """A value as table text: empty for None, Rich markup in it shown literally."""
    from rich.markup import escape  # late: start-up

    return "" if value is None else escape(str(value))


def _when(at: str | None) -> str:
    return "" if not at else at[:19].replace("T", " ")


STATUS_STYLES = {"COMPLETED": "green", "FAILED": "red", "PENDING": "yellow",
                 "PROCESSING": "yellow", "PARTIALLY_REFUNDED": "cyan", "REFUNDED": "cyan"}


def _status(status: str) -> str:
    return f"[{STATUS_STYLES.get(status, 'white')}]{_escaped(status)}[/]"


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


PAYMENT_COLUMNS = ("Created", "Payment", "User", "Amount", "Status", "Refunded")


def payments_list(result: results.PaymentsList) -> None:
    """After `payments list`: ids and amounts never wrap; on a narrow terminal the refunded
    amount, then the creation time, make room (and a long user id is cut with …)."""
    if not result.payments:
        console().print("No payments match.")
        return
    from rich import box  # late: start-up

    rows = [(_when(p.created_at)[:16], p.payment_id, p.user, f"{p.amount} {p.currency}",
             str(p.status), p.refunded_amount) for p in result.payments]
    widest = [(name, 8 if name == "User" else max(len(name), *(len(row[i]) for row in rows)))
              for i, name in enumerate(PAYMENT_COLUMNS)]
    shown = fit_columns(widest, ["Refunded", "Created"], console().width)
    table = _table("Payments, newest first")
    table.box, table.pad_edge = box.SIMPLE_HEAD, False  # no side borders
    for name in PAYMENT_COLUMNS:
        if name in shown:
            table.add_column(name, no_wrap=True, overflow="ellipsis",
                             justify="right" if name in ("Amount", "Refunded") else "left")
    for created, payment_id, user, amount, status, refunded in rows:
        cells = dict(zip(PAYMENT_COLUMNS, (created, payment_id, _escaped(user), amount,
                                           _status(status), refunded), strict=True))
        table.add_row(*(cells[name] for name in PAYMENT_COLUMNS if name in shown))
    console().print(table)


def payment_show(result: results.PaymentShow) -> None:
    """After `payments show`: the payment, its refunds, its timeline, its saga's steps."""
    console().print(_payment_card(result))
    if result.refunds:
        console().print(_refunds_table(result.refunds))
    console().print(_timeline_table(result.events))
    if result.steps:
        console().print(_steps_table(result.steps))


def _payment_card(result: results.PaymentShow) -> Any:
    currency = result.currency
    table = _table(f"Payment {result.payment_id}")
    table.add_column("Field")
    table.add_column("Value", overflow="fold")
    error = result.error
    for name, value in (
        ("Status", _status(result.status)), ("User", _escaped(result.user)),
        ("Amount", f"{result.amount} {currency}"),
        ("Refunded", f"{result.refunded_amount} {currency}"),
        ("Refundable", f"{result.refundable_amount} {currency}"),
        ("Order", _escaped(result.order_id)), ("Gateway ref", _escaped(result.gateway_ref)),
        ("Created", _when(result.created_at)), ("Updated", _when(result.updated_at)),
        ("Error", _escaped(f"{error.type}: {error.message}") if error else ""),
    ):
        table.add_row(name, value)
    return table


def _refunds_table(refunds: list[results.RefundFields]) -> Any:
    table = _table("Refunds, oldest first")
    for name in ("Created", "Refund", "Amount", "Status", "Reason"):
        table.add_column(name, overflow="fold")
    for refund in refunds:
        table.add_row(_when(refund.created_at), refund.refund_id,
                      f"{refund.amount} {refund.currency}", _status(refund.status),
                      _escaped(refund.reason))
    return table


def _timeline_table(events: list[results.TimelineEvent]) -> Any:
    table = _table("Timeline, oldest first")
    for name in ("Seq", "At", "Event", "Actor", "Changes"):
        table.add_column(name, overflow="fold")
    for event in events:
        changes = " ".join(f"{key}={value}" for key, value in event.changes.items()
                           if value is not None)
        table.add_row(str(event.seq), _when(event.at), event.type, _escaped(event.actor),
                      _escaped(changes))
    return table


def _steps_table(steps: list[results.StepRecord]) -> Any:
    table = _table("Saga steps")
    table.add_column("Step")
    table.add_column("Status")
    table.add_column("Attempts", justify="right")
    table.add_column("Duration", justify="right")
    for step in steps:
        table.add_row(step.name, str(step.status), str(step.attempts),
                      f"{step.duration_ms:.1f} ms")
    return table


def replay_report(result: results.ReplayReport) -> None:
    """After `replay-events`: what agrees, every mismatch, and where the chain breaks."""
    if result.consistent and result.chain_ok:
        console().print(f"[green]✓[/] {result.events} events replayed: balances, holds, "
                        "transfers, payments and refunds agree with the log; hash chain intact.")
        return
    console().print(f"[red]✗[/] {result.events} events replayed.")
    if result.mismatches:
        table = _table(f"{len(result.mismatches)} mismatches (stored tables vs event log)")
        for name in ("Entity", "Id", "Field", "Stored", "Replayed"):
            table.add_column(name, overflow="fold")
        for found in result.mismatches:
            table.add_row(*(_escaped(value) for value in
                            (found.entity, found.id, found.field, found.stored, found.replayed)))
        console().print(table)
    if result.chain_break:
        console().print(f"[red]Hash chain broken at event {result.chain_break.seq}:[/] "
                        f"{_escaped(result.chain_break.reason)}")


def exported(result: dict[str, Any]) -> None:
    """After `export --out FILE`."""
    console().print(f"[green]✓[/] Exported {result['records']} records "
                    f"({result['format']}) to {_escaped(result['out'])}")
