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
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from paycli.config import Settings
from paycli.devtools import baselines, batchbench, failoverbench, profile, statsbench
from paycli.devtools import startup as startup_times
from paycli.devtools import targets as judge
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
from paycli.store import Store, pg_connection

AMOUNT = Money(100, "USD")
PREFILL_USERS = 1000
API_KEY = "bench-api-key"
PROFILED = 2000  # payments run again under the profiler when a throughput target is missed


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
    stats_payments: int = 0  # then `stats` and `top` over a scratch ledger this big


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
                                          lambda on: resilience(on, self.settings))
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
        pg_connection.driver()  # without the postgres extra: one clear line, nothing made
    workdir = Path(tempfile.mkdtemp(prefix="paycli-bench-"))
    try:
        if options.server is None:
            report = _run_in(workdir, workdir / "ledger.db", options, progress)
        else:
            with baselines.scratch_database(options.server) as url:
                report = _run_in(workdir, url, options, progress)
        return statsbench.with_stats(report, workdir, options.server, options.stats_payments,
                                     None if progress is None else
                                     (lambda n: progress("stats ledger", n,
                                                         options.stats_payments)))
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
    report = _report(options, Run(elapsed, latencies, failed, steps, per_payment), storage,
                     network, db, growth, startup)
    return _with_profile(report, db, options, settings, url)


def _with_profile(report: BenchReport, db: Path | str, options: BenchOptions,
                  settings: Settings, url: str | None) -> BenchReport:
    """The report with, on each missed throughput target, the profile of the same work
    run again on the same ledger, shorter (`PROFILED` payments), in every thread."""
    missed = {target.name for target in judge.throughput(_judged(report, db))
              if not target.met}
    if not missed:
        return report
    short = replace(options, payments=min(options.payments, PROFILED))
    _fund(db, short)
    with profile.every_thread() as profiles:
        if options.mode == "batch":
            batchbench.run_batch(db, settings, url, short.payments, short.concurrency, AMOUNT,
                                 None, array("d"), prefix="profiled")
        else:
            workers = _Workers(db, settings, _gateway_maker(settings, url))
            try:
                _run_payments(workers, short, None, array("d"))
            finally:
                workers.close()
    lines = profile.top(profiles)
    return report.model_copy(update={"targets": [
        target.model_copy(update={"profile": lines})
        if target.name in missed else target
        for target in report.targets]})


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
    workers = _Workers(db, settings, _gateway_maker(settings, url))
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


def _gateway_maker(settings: Settings, url: str | None) -> Callable[[], Gateway]:
    """Each worker's gateway: one in-process gateway shared by all, or its own client."""
    if url is None:
        shared = InProcessGateway()
        return lambda: shared
    return lambda: http_gateway(settings)


def _judged(report: BenchReport, db: Path | str) -> judge.Run:
    return judge.Run(report.mode, report.concurrency, isinstance(db, str), report.throughput,
                     report.p99_ms, report.baselines.storage, report.baselines.network)


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
    measured = judge.Run(options.mode, options.concurrency, isinstance(db, str), throughput,
                         cuts["p99_ms"], storage, network)
    return BenchReport(
        payments=options.payments, gateway=options.gateway, mode=options.mode,
        engine="postgresql" if isinstance(db, str) else "sqlite",
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
        peak_rss_mb=round(judge.peak_rss_mb(), 1),
        growth=growth, startup=startup,
        targets=[*judge.throughput(measured), *judge.latency(measured),
                 *judge.others(growth, startup)],
        machine=Machine(cpus=os.cpu_count(), python=platform.python_version(),
                        sqlite=sqlite3.sqlite_version, platform=platform.platform()),
    )
