"""`paycli bench`: payments per second and latency through the real saga, side by side
with the raw limits of the same machine measured in the same run.

A temporary ledger is created (optionally pre-filled with completed payments, to show
that the cost per payment stays flat as the ledger grows), wallets are credited, and
`payments` payments run through `saga.pay` from `concurrency` threads, each with its own
ledger connection. The gateway is either in-process (no network: paycli against the
storage limit) or the mock gateway over HTTP, started on a free port for the run.
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paycli.config import Settings
from paycli.devtools import baselines, batchbench, failoverbench
from paycli.devtools import startup as startup_times
from paycli.devtools.commits import CountedStore
from paycli.devtools.mock_process import MockGatewayProcess
from paycli.devtools.report import (
    Baselines,
    BenchReport,
    Growth,
    Machine,
    Ratios,
    ReplayTiming,
    Startup,
    StepTimes,
    Target,
)
from paycli.gateway.inprocess import InProcessGateway
from paycli.gateway.protocol import Gateway
from paycli.ledger import postings, stats, wallet
from paycli.ledger.batchfile import BatchRow
from paycli.ledger.replay import replay_events
from paycli.money import Money
from paycli.records import Payment
from paycli.results.base import StepRecord
from paycli.saga import pay as saga
from paycli.saga.core import Decision, SagaEnv, Verdict
from paycli.saga.group import open_payments
from paycli.saga.settle import settle_payments_in
from paycli.saga.steps import SilentReporter
from paycli.saga.wiring import http_gateway, resilience
from paycli.store import Store, postgres

AMOUNT = Money(100, "USD")
PREFILL_USERS = 1000
API_KEY = "bench-api-key"


@dataclass(frozen=True)
class BenchOptions:
    """What to measure."""

    payments: int = 2000
    concurrency: int = 1
    gateway: str = "inprocess"  # or "http"
    mode: str = "single"  # or "batch": the billing run's engine
    prefill: int = 0
    server: str | None = None  # a postgresql:// URL: bench a ledger on that server
    startup: bool = True  # also time paycli's start-up beside a bare Typer app
    failover: bool = False  # then two gateways, the first killed half way (`failoverbench`)


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """p50, p95 and p99 of `samples` (milliseconds), rounded to microseconds."""
    if len(samples) < 2:
        only = samples[0] if samples else 0.0
        return {"p50_ms": only, "p95_ms": only, "p99_ms": only}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49], 3), "p95_ms": round(cuts[94], 3),
            "p99_ms": round(cuts[98], 3)}


def prefill(store: Store, count: int, progress: Callable[[int], None] | None = None,
            chunk: int = 5000) -> None:
    """Add `count` completed payments (with their credits, holds and events) by the
    billing run's engine, `chunk` to a transaction, approved by no gateway: the same
    ledger code and events as real payments, without the waits."""
    if count <= 0:
        return
    users = min(count, PREFILL_USERS)
    each = Money(AMOUNT.minor * -(-count // users), AMOUNT.currency)
    with store.transaction("prefill") as tx:
        moves = postings.Postings(tx)
        for number in range(users):
            moves.deposit("credit", f"prefill_{number}", each, None)
        moves.write()
    for first in range(0, count, chunk):
        rows = [BatchRow(number + 1, f"prefill_{number % users}", AMOUNT, f"prefill-{number}",
                         None) for number in range(first, min(first + chunk, count))]
        with store.transaction("prefill") as tx:
            opened = [payment for payment in open_payments(tx, rows, "prefill", "bat_prefill")
                      if isinstance(payment, Payment)]
            settle_payments_in(tx, [(payment.id, Verdict(Decision.SUCCEEDED,
                                                         f"prefill_{payment.id}"), [])
                                    for payment in opened])
        if progress:
            progress(len(rows))


class _Workers:
    """Per-thread ledger connections and saga environments."""

    def __init__(self, db: Path | str, settings: Settings, gateway: Callable[[], Gateway]
                 ) -> None:
        self.db, self.settings, self.gateway = db, settings, gateway
        self.local = threading.local()
        self.stores: list[CountedStore] = []
        self.lock = threading.Lock()

    def env(self) -> SagaEnv:
        if not hasattr(self.local, "env"):
            store = CountedStore(Store(str(self.db)))
            with self.lock:
                self.stores.append(store)
            self.local.user = f"bench_{len(self.stores)}"
            self.local.env = SagaEnv(store, self.gateway,
                                          lambda: resilience(store, self.settings))
        return self.local.env  # type: ignore[no-any-return]

    def commits(self) -> int:
        return sum(store.commits for store in self.stores)

    def close(self) -> None:
        for store in self.stores:
            store.close()


def _run_payments(workers: _Workers, options: BenchOptions,
                  progress: Callable[[int], None] | None, finished: array[float]
                  ) -> tuple[float, list[Any]]:
    samples: list[tuple[float, list[StepRecord], bool]] = []
    reporter = SilentReporter()

    def one(_: int) -> None:
        env = workers.env()
        request = saga.PayRequest(workers.local.user, AMOUNT, wait_s=30)
        started = time.perf_counter()
        outcome = saga.pay(env, request, reporter)
        ended = time.perf_counter()
        finished.append(ended)
        took = (ended - started) * 1000
        samples.append((took, outcome.result.steps, outcome.error is None))
        if progress:
            progress(1)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=options.concurrency) as pool:
        list(pool.map(one, range(options.payments)))
    return time.perf_counter() - started, samples


def _fund(db: Path | str, options: BenchOptions) -> None:
    per_worker = Money(AMOUNT.minor * options.payments, "USD")
    with Store(str(db)) as store:
        for n in range(1, options.concurrency + 1):
            wallet.credit(store, f"bench_{n}", per_worker)


def _time_replay(db: Path | str) -> ReplayTiming:
    """How fast `replay-events` verifies this ledger (events per second), and its verdict."""
    with Store(str(db)) as store:
        started = time.perf_counter()
        result = replay_events(store)
        took = time.perf_counter() - started
    return ReplayTiming(events=result.events, seconds=round(took, 3),
                        events_per_s=round(result.events / took, 1),
                        consistent=result.consistent and result.chain_ok)


def _time_balance(db: Path | str, rounds: int = 2000) -> float:
    with Store(str(db)) as store:
        started = time.perf_counter()
        for _ in range(rounds):
            wallet.balance(store.read, "bench_1", "USD")
        return (time.perf_counter() - started) * 1000 / rounds


def _time_stats(db: Path | str) -> float:
    """One `stats` over the last 24 hours of the ledger (prefill and run), in ms."""
    with Store(str(db)) as store:
        started = time.perf_counter()
        stats.stats(store, stats.Window.last(86400))
        return (time.perf_counter() - started) * 1000


def run(options: BenchOptions, progress: Callable[[str, int, int], None] | None = None
        ) -> BenchReport:
    """Run the bench; `progress(phase, advance, total)` is told how it goes."""
    if options.server is not None:
        postgres.driver()  # without the postgres extra: one clear line, nothing made
    workdir = Path(tempfile.mkdtemp(prefix="paycli-bench-"))
    try:
        if options.server is None:
            return _run_in(workdir, workdir / "ledger.db", options, progress)
        with baselines.scratch_database(options.server) as url:
            return _run_in(workdir, url, options, progress)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run_in(workdir: Path, db: Path | str, options: BenchOptions,
            progress: Callable[[str, int, int], None] | None) -> BenchReport:
    def tick(phase: str, total: int) -> Callable[[int], None] | None:
        return None if progress is None else (lambda n: progress(phase, n, total))

    with Store(str(db)) as store:
        prefill(store, options.prefill, tick("prefill", options.prefill))
    _fund(db, options)
    if options.gateway != "http":
        return _measure(workdir, db, options, None, tick)
    with MockGatewayProcess(API_KEY) as mock:
        report = _measure(workdir, db, options, mock.url, tick)
    if not options.failover:
        return report
    return failoverbench.with_failover(report, workdir, db, AMOUNT, API_KEY,
                                       tick("failover", options.payments))


def _measure(workdir: Path, db: Path | str, options: BenchOptions, url: str | None,
             tick: Callable[[str, int], Callable[[int], None] | None]) -> BenchReport:
    settings = Settings(overrides={"gateway_url": url or "http://127.0.0.1:9"},
                        env={"PAYCLI_GATEWAY_API_KEY": API_KEY})
    finished: array[float] = array("d")  # each payment's end: 8 bytes, for a million
    started = time.perf_counter()
    with baselines.same_conditions():
        if options.mode == "batch":
            elapsed, latencies, failed, commits = batchbench.run_batch(
                db, settings, url, options.payments, options.concurrency, AMOUNT,
                tick("payments", options.payments), finished)
            steps: dict[str, StepTimes] = {}  # a group's steps are shared, not timed apart
            per_payment = commits / options.payments
            storage = batchbench.storage_limit(db, workdir, options.payments, commits,
                                               options.concurrency)
        else:
            elapsed, samples, per_payment, storage = _single(workdir, db, options, settings,
                                                             url, tick, finished)
            latencies = array("d", (took for took, _, _ in samples))
            failed = sum(1 for _, _, ok in samples if not ok)
            steps = _step_percentiles(samples)
        network = None if url is None else baselines.network(
            url, API_KEY, options.payments, options.concurrency)
    growth = _growth(options, started, finished)
    startup = startup_times.measure(str(db), "bench_1") if options.startup else None
    return _report(options, Run(elapsed, latencies, failed, steps, per_payment), storage,
                   network, db, growth, startup)


@dataclass(frozen=True)
class Run:
    """What paycli's own run measured."""

    elapsed: float
    latencies: Sequence[float]  # ms, of the payments that completed
    failed: int
    steps: dict[str, StepTimes]
    commits_per_payment: float


def _growth(options: BenchOptions, started: float, finished: Sequence[float]
            ) -> Growth | None:
    """Payments per second over the run's first and last tenth: at least 10 payments, or
    in batch mode 2 groups (whose rows end together), in each."""
    tenth = len(finished) // 10
    if tenth < (2 * batchbench.GROUP if options.mode == "batch" else 10):
        return None
    ends = sorted(finished)
    first = tenth / max(ends[tenth - 1] - started, 1e-9)
    last = tenth / max(ends[-1] - ends[-tenth - 1], 1e-9)
    return Growth(ledger_from=options.prefill, ledger_to=options.prefill + options.payments,
                  first_per_s=round(first, 1), last_per_s=round(last, 1),
                  ratio=round(last / first, 3))


def _single(workdir: Path, db: Path | str, options: BenchOptions, settings: Settings,
            url: str | None, tick: Callable[[str, int], Callable[[int], None] | None],
            finished: array[float]) -> tuple[float, list[Any], float, float]:
    """The single saga from `concurrency` threads, and its raw storage limit."""
    if url is None:
        shared = InProcessGateway()
        workers = _Workers(db, settings, lambda: shared)
    else:
        workers = _Workers(db, settings, lambda: http_gateway(settings))
    try:
        elapsed, samples = _run_payments(workers, options, tick("payments", options.payments),
                                         finished)
        commits = workers.commits()
    finally:
        workers.close()
    per_payment = max(1, round(commits / options.payments))
    if isinstance(db, str):  # the same server, a table of the bench's own database
        storage = baselines.storage_postgres(db, options.payments, per_payment,
                                             options.concurrency)
    else:
        storage = baselines.storage(workdir / "baseline.db", options.payments, per_payment,
                                    options.concurrency)
    return elapsed, samples, per_payment, storage


def _step_percentiles(samples: list[Any]) -> dict[str, StepTimes]:
    by_step: dict[str, list[float]] = {}
    for _, steps, _ok in samples:
        for step in steps:
            by_step.setdefault(step.name, []).append(step.duration_ms)
    return {name: StepTimes(**percentiles(values)) for name, values in by_step.items()}


def _report(options: BenchOptions, run: Run, storage: float, network: float | None,
            db: Path | str, growth: Growth | None, startup: Startup | None) -> BenchReport:
    throughput = options.payments / run.elapsed
    baseline = network if network is not None else storage
    cuts = percentiles(run.latencies)
    return BenchReport(
        payments=options.payments, gateway=options.gateway, mode=options.mode,
        concurrency=options.concurrency, prefill=options.prefill,
        throughput=round(throughput, 1), p50_ms=cuts["p50_ms"], p95_ms=cuts["p95_ms"],
        p99_ms=cuts["p99_ms"],
        baseline_throughput=round(baseline, 1), ratio=round(throughput / baseline, 3),
        baselines=Baselines(storage=round(storage, 1),
                            network=None if network is None else round(network, 1)),
        ratios=Ratios(storage=round(throughput / storage, 3),
                      network=None if network is None else round(throughput / network, 3)),
        commits_per_payment=round(run.commits_per_payment, 3),
        failed=run.failed,
        steps=run.steps,
        wallet_balance_ms=round(_time_balance(db), 4),
        stats_ms=round(_time_stats(db), 1),
        replay=_time_replay(db),
        peak_rss_mb=round(peak_rss_mb(), 1),
        growth=growth, startup=startup,
        targets=targets(options, throughput, cuts["p99_ms"], storage, network, growth,
                        startup),
        machine=Machine(cpus=os.cpu_count(), python=platform.python_version(),
                        sqlite=sqlite3.sqlite_version, platform=platform.platform()),
    )


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def targets(options: BenchOptions, throughput: float, p99_ms: float, storage: float,
            network: float | None, growth: Growth | None, startup: Startup | None
            ) -> list[Target]:
    """The performance targets this run measures, each with its baseline and ratio."""
    found: list[Target] = []

    def add(name: str, measured: str, baseline: str | None, ratio: float | None, goal: str,
            met: bool) -> None:
        found.append(Target(name=name, measured=measured, baseline=baseline,
                            ratio=None if ratio is None else round(ratio, 3), goal=goal,
                            met=met))

    rate = f"{throughput:.1f} /s"
    if options.mode == "batch" and network is None:
        add("batch, in-process gateway", rate, f"raw batched storage {storage:.1f} /s",
            throughput / storage, ">= 10000 payments/s", throughput >= 10_000)
    elif options.mode == "batch" and network is not None:
        add(f"batch over HTTP, concurrency {options.concurrency}", rate,
            f"raw httpx {network:.1f} /s", throughput / network, ">= 0.8 x raw httpx",
            throughput / network >= 0.8)
    elif network is None and options.concurrency == 1:
        add("single payment, in process, one thread", rate, f"raw storage {storage:.1f} /s",
            throughput / storage, ">= 0.5 x raw storage", throughput / storage >= 0.5)
        add("single payment p99", f"{p99_ms:.2f} ms", None, None, "< 5 ms", p99_ms < 5)
    if growth is not None:
        add(f"growth, ledger {growth.ledger_from} to {growth.ledger_to} payments",
            f"last tenth {growth.last_per_s:.1f} /s", f"first tenth {growth.first_per_s:.1f} /s",
            growth.ratio, "flat (last / first >= 0.9)", growth.ratio >= 0.9)
    if startup is not None:
        bare = f"bare Typer app {startup.bare_typer_ms:.0f} ms"
        add("start-up, paycli --help", f"{startup.help_ms:.0f} ms", bare, startup.help_ratio,
            "<= 1.3 x bare Typer app", startup.help_ratio <= 1.3)
        add("start-up, paycli wallet balance", f"{startup.balance_ms:.0f} ms", bare,
            startup.balance_ratio, "<= 1.3 x bare Typer app", startup.balance_ratio <= 1.3)
    add("peak memory of this bench process", f"{peak_rss_mb():.0f} MiB", None, None,
        "< 200 MiB", peak_rss_mb() < 200)
    return found
