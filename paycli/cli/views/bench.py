"""Views of `bench`: a progress bar per phase, then the measures and the targets."""

from __future__ import annotations

from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from paycli.cli.views.base import console, new_table
from paycli.devtools.report import BenchReport


class _BenchProgress:
    """A Rich progress bar per bench phase."""

    def __init__(self) -> None:
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


def bench_result(result: BenchReport) -> None:
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
    if result.stats_ms is not None:
        table.add_row("stats, last 24 h", f"{result.stats_ms:.1f} ms (target < 1000 ms "
                      f"over 1M payments)")
    replay = result.replay
    table.add_row("replay-events", f"{replay.events_per_s:.0f} events/s "
                  f"({replay.events} events, "
                  f"{'consistent' if replay.consistent else 'MISMATCH'})")
    table.add_row("failed payments", str(result.failed))
    console().print(table)
    if result.steps:
        _step_table(result)
    _targets_table(result)


def _step_table(result: BenchReport) -> None:
    steps = new_table("Per step")
    steps.add_column("Step")
    for column in ("p50 ms", "p95 ms", "p99 ms"):
        steps.add_column(column, justify="right")
    for name, cuts in result.steps.items():
        steps.add_row(name, f"{cuts.p50_ms:.3f}", f"{cuts.p95_ms:.3f}",
                      f"{cuts.p99_ms:.3f}")
    console().print(steps)


def _targets_table(result: BenchReport) -> None:
    goals = new_table("Targets")
    for column, justify in (("Target", "left"), ("Measured", "right"), ("Baseline", "left"),
                            ("Ratio", "right"), ("Goal", "left"), ("", "left")):
        goals.add_column(column, justify=justify)
    for target in result.targets:
        goals.add_row(target.name, target.measured, target.baseline or "",
                      "" if target.ratio is None else f"{target.ratio}", target.goal,
                      "[green]met[/]" if target.met else "[red]missed[/]")
    console().print(goals)


