"""Views of `bench`, `demo` and `db copy`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from paycli.cli.views.base import PIPED_WIDTH, console, escaped, fit_columns, new_table

if TYPE_CHECKING:
    from paycli import results

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
    table = new_table(f"paycli bench: {result.payments} payments, gateway {result.gateway}, "
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
    if result.steps:
        _step_table(result)
    _targets_table(result)


def _step_table(result: results.BenchReport) -> None:
    steps = new_table("Per step")
    steps.add_column("Step")
    for column in ("p50 ms", "p95 ms", "p99 ms"):
        steps.add_column(column, justify="right")
    for name, cuts in result.steps.items():
        steps.add_row(name, f"{cuts.p50_ms:.3f}", f"{cuts.p95_ms:.3f}",
                      f"{cuts.p99_ms:.3f}")
    console().print(steps)


def _targets_table(result: results.BenchReport) -> None:
    goals = new_table("Targets")
    for column, justify in (("Target", "left"), ("Measured", "right"), ("Baseline", "left"),
                            ("Ratio", "right"), ("Goal", "left"), ("", "left")):
        goals.add_column(column, justify=justify)
    for target in result.targets:
        goals.add_row(target.name, target.measured, target.baseline or "",
                      "" if target.ratio is None else f"{target.ratio}", target.goal,
                      "[green]met[/]" if target.met else "[red]missed[/]")
    console().print(goals)


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
    table = new_table("paycli demo: summary")
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


def db_copied(result: results.DbCopyResult) -> None:
    """After `db copy`: where the ledger went and whether its replay there agreed."""
    mark = "[green]✓[/]" if result.consistent else "[red]✗[/]"
    verdict = ("replayed there: consistent, hash chain intact" if result.consistent
               else f"replayed there: {result.mismatches} mismatches")
    console().print(f"{mark} Copied {result.rows} rows ({result.events} events) to "
                    f"{escaped(result.to)}; {verdict}.")
