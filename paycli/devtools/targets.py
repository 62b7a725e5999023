"""The performance targets a bench run measures, each with its baseline, its ratio and
whether it was met: throughput against the raw limits of this machine (SQLite or
PostgreSQL, batched the same way for the billing run's engine), p99, growth over the run,
start-up beside a bare Typer app and the bench's own peak memory.

Goals on PostgreSQL are its own (a server round trip per statement): the billing run
>= 5,000 payments/s, a single payment >= 0.4 x raw psycopg with the same commits.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

from paycli.devtools.report import Growth, Startup, Target


@dataclass(frozen=True)
class Run:
    """What a bench run measured, for judging: its mode and engine, and its figures."""

    mode: str
    concurrency: int
    postgres: bool
    throughput: float
    p99_ms: float
    storage: float
    network: float | None


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def others(growth: Growth | None, startup: Startup | None) -> list[Target]:
    """The targets besides throughput: growth, start-up and memory, met or missed."""
    found = []
    if growth is not None:
        found.append(_target(
            f"growth, ledger {growth.ledger_from} to {growth.ledger_to} payments",
            f"last tenth {growth.last_per_s:.1f} /s", f"first tenth {growth.first_per_s:.1f} /s",
            growth.ratio, "flat (last / first >= 0.9)", growth.ratio >= 0.9))
    if startup is not None:
        bare = f"bare Typer app {startup.bare_typer_ms:.0f} ms"
        found.append(_target("start-up, paycli --help", f"{startup.help_ms:.0f} ms", bare,
                             startup.help_ratio, "<= 1.0 x bare Typer app",
                             startup.help_ratio <= 1.0))
        found.append(_target("start-up, paycli wallet balance", f"{startup.balance_ms:.0f} ms",
                             bare, startup.balance_ratio, "<= 1.3 x bare Typer app",
                             startup.balance_ratio <= 1.3))
    found.append(_target("peak memory of this bench process", f"{peak_rss_mb():.0f} MiB", None,
                         None, "< 200 MiB", peak_rss_mb() < 200))
    return found


def throughput(run: Run) -> list[Target]:
    """The throughput target of `run`'s mode and engine, met or missed: a missed one is
    profiled (`devtools.profile`)."""
    rate, engine = f"{run.throughput:.1f} /s", "PostgreSQL" if run.postgres else "SQLite"
    by_storage = run.throughput / run.storage
    if run.mode == "batch" and run.network is not None:
        by_network = run.throughput / run.network
        return [_target(f"batch over HTTP, concurrency {run.concurrency}", rate,
                        f"raw httpx {run.network:.1f} /s", by_network, ">= 0.8 x raw httpx",
                        by_network >= 0.8)]
    if run.mode == "batch":
        goal = 5_000 if run.postgres else 10_000
        return [_target(f"batch, in-process gateway, {engine}", rate,
                        f"raw batched {engine} {run.storage:.1f} /s", by_storage,
                        f">= {goal} payments/s", run.throughput >= goal)]
    if run.network is not None or run.concurrency != 1:
        return []
    share = 0.4 if run.postgres else 0.5
    return [_target(f"single payment, in process, one thread, {engine}", rate,
                    f"raw {engine} {run.storage:.1f} /s", by_storage,
                    f">= {share} x raw {engine}", by_storage >= share)]


def latency(run: Run) -> list[Target]:
    """The single payment's p99 (in process, one thread), met or missed."""
    if run.mode == "batch" or run.network is not None or run.concurrency != 1:
        return []
    return [_target("single payment p99", f"{run.p99_ms:.2f} ms", None, None, "< 5 ms",
                    run.p99_ms < 5)]


def _target(name: str, measured: str, baseline: str | None, ratio: float | None, goal: str,
            met: bool) -> Target:
    return Target(name=name, measured=measured, baseline=baseline,
                  ratio=None if ratio is None else round(ratio, 3), goal=goal, met=met)
