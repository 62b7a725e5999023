"""Views of `bench`: a progress bar per phase, then the measures and the targets."""

from __future__ import annotations

from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from paycli.cli.views.base import Column, console, print_table
from paycli.cli.views.units import count
from paycli.devtools.report import BenchReport, Target


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


ENGINES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def bench_progress() -> _BenchProgress:
    """The bench's progress bars (a context manager and a callback)."""
    return _BenchProgress()


def bench_result(result: BenchReport) -> None:
    """After `bench`: its figures keep their measured precision (a benchmark's ms are
    data, not the human view's rounded durations)."""
    replay = result.replay
    rows = [
        ("paycli throughput", f"{result.throughput:,.1f} payments/s"),
        ("latency p50 / p95 / p99",
         f"{result.p50_ms:.2f} / {result.p95_ms:.2f} / {result.p99_ms:.2f} ms"),
        (f"storage limit (raw {ENGINES.get(result.engine, result.engine)}, "
         f"{result.commits_per_payment} commits/payment)",
         f"{result.baselines.storage:,.1f} /s  (ratio {result.ratios.storage})")]
    if result.baselines.network is not None:
        rows.append(("network limit (raw httpx)",
                     f"{result.baselines.network:,.1f} /s  (ratio {result.ratios.network})"))
    rows += [("wallet balance read", f"{result.wallet_balance_ms:.3f} ms"),
             ("replay-events", f"{replay.events_per_s:,.0f} events/s "
              f"({count(replay.events, 'event')}, "
              f"{'consistent' if replay.consistent else 'MISMATCH'})"),
             ("failed payments", f"{result.failed:,}")]
    if result.stats_ms is not None:
        rows.append(("stats of this run's ledger, last 24 h", f"{result.stats_ms:.1f} ms"))
    if (big := result.stats_bench) is not None:
        rows += [(f"stats ledger: {big.payments:,} payments filled in",
                  f"{big.fill_s:.1f} s"),
                 ("stats ledger: stats, last 24 h", f"{big.stats_ms:.1f} ms"),
                 ("stats ledger: top, first look / refresh",
                  f"{big.top_first_ms:.1f} / {big.top_refresh_ms:.2f} ms")]
    if (moved := result.failover) is not None:
        after = "none moved" if moved.failover_ms is None else f"{moved.failover_ms:.0f} ms"
        rows += [("failover: first payment at the second gateway after the kill", after),
                 ("failover: completed at first / second, failed",
                  f"{moved.at_primary:,} / {moved.at_backup:,}, {moved.failed:,}"),
                 ("failover: held for recover, lost, charged twice",
                  f"{moved.held}, {moved.lost}, {moved.charged_twice}")]
    print_table(f"paycli bench: {count(result.payments, 'payment')}, gateway "
                f"{result.gateway}, concurrency {result.concurrency}, prefill "
                f"{result.prefill:,}", (Column("Measure"), Column("Value", right=True)), rows)
    if result.steps:
        _step_table(result)
    _targets_table(result)


def _step_table(result: BenchReport) -> None:
    print_table("Per step", (
        Column("Step", whole=True), *(Column(name, whole=True, right=True)
                                      for name in ("p50 ms", "p95 ms", "p99 ms"))), [
        (name, f"{cuts.p50_ms:.3f}", f"{cuts.p95_ms:.3f}", f"{cuts.p99_ms:.3f}")
        for name, cuts in result.steps.items()])


def _targets_table(result: BenchReport) -> None:
    print_table("Targets", (
        Column("Target"), Column("Measured", right=True), Column("Baseline", drop=1),
        Column("Ratio", right=True), Column("Goal"), Column("", whole=True)), [
        (target.name, target.measured, target.baseline,
         "" if target.ratio is None else f"{target.ratio}", target.goal,
         "met" if target.met else "missed") for target in result.targets])
    for target in result.targets:
        if target.profile:
            _profile_table(target)


def _profile_table(target: Target) -> None:  # called only when it has a profile
    """Where the time of a missed target went: a shorter run of it, profiled."""
    print_table(f"Missed: {target.name}; where a profiled run's time went", (
        Column("Function"), Column("Calls", whole=True, right=True),
        Column("Own ms", whole=True, right=True), Column("Share", whole=True, right=True)), [
        (line.function, f"{line.calls:,}", f"{line.own_ms:.1f}", f"{line.share:.0%}")
        for line in target.profile or []])
