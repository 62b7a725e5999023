"""The bench's report (`paycli bench --json`, `paycli schema bench`): paycli against the raw
limits of this machine, the performance targets met or missed, and what the run ran on.

These are the bench's own models, kept with the bench: the product's result objects live
in `paycli.results`.
"""

from __future__ import annotations

from paycli.results.base import Result


class StepTimes(Result):
    """A step's latency percentiles in the bench."""

    p50_ms: float
    p95_ms: float
    p99_ms: float


class ReplayTiming(Result):
    """How fast `replay-events` verified the bench's ledger."""

    events: int
    seconds: float
    events_per_s: float
    consistent: bool


class Baselines(Result):
    """The raw limits measured in the same run (`network` only over HTTP)."""

    storage: float
    network: float | None


class Ratios(Result):
    """paycli's throughput over each raw limit."""

    storage: float
    network: float | None


class Machine(Result):
    """What the bench ran on."""

    cpus: int | None
    python: str
    sqlite: str
    platform: str


class Growth(Result):
    """How the cost per payment moved as the ledger grew during the run: payments per
    second over its first and its last tenth (`ratio` last / first: 1.0 is flat)."""

    ledger_from: int
    ledger_to: int
    first_per_s: float
    last_per_s: float
    ratio: float


class Startup(Result):
    """How long paycli takes to start (median of a few runs, in a new process each),
    beside a bare Typer app of one command started the same way."""

    help_ms: float
    balance_ms: float
    bare_typer_ms: float
    help_ratio: float
    balance_ratio: float


class ProfileLine(Result):
    """One function of a profiled run (`devtools.profile`): its calls, its own time
    (not counting what it called) and that time's share of the whole run's."""

    function: str
    calls: int
    own_ms: float
    share: float


class Target(Result):
    """One of the performance targets, as this run measured it; a missed throughput
    target carries the profile of a shorter run of the same work."""

    name: str
    measured: str
    baseline: str | None
    ratio: float | None
    goal: str
    met: bool
    profile: list[ProfileLine] | None = None


class Failover(Result):
    """`--failover`: payments through two gateways, the first killed half way: where they
    completed, how many failed, how many were held (in flight at the first as it died:
    PROCESSING, funds held, for `recover`), lost (COMPLETED with no approved charge at
    their gateway, or FAILED with one) or charged at both, and the time from the kill to
    the first payment completed at the second (None if none moved)."""

    at_primary: int
    at_backup: int
    failed: int
    held: int
    lost: int
    charged_twice: int
    failover_ms: float | None


class StatsBench(Result):
    """`bench --stats-payments N`: a ledger of N settled payments over the last 24 h, how
    long filling it took, one `stats` of it, and `top`'s first look and a refresh."""

    engine: str  # sqlite or postgresql, as the bench's own ledger
    payments: int
    fill_s: float
    stats_ms: float
    top_first_ms: float
    top_refresh_ms: float


class BenchReport(Result):
    """`bench`: paycli against the raw limits of this machine, in one run."""

    payments: int
    gateway: str
    mode: str
    engine: str = "sqlite"  # the ledger's: sqlite, or postgresql (`--db postgresql://...`)
    concurrency: int
    prefill: int
    throughput: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    baseline_throughput: float
    ratio: float
    baselines: Baselines
    ratios: Ratios
    commits_per_payment: float  # a batch shares each commit among its group's rows
    failed: int
    steps: dict[str, StepTimes]
    wallet_balance_ms: float
    stats_ms: float | None = None  # one `stats` over the last 24 h of the whole ledger
    replay: ReplayTiming
    peak_rss_mb: float  # the bench process's, ledger and baselines included
    growth: Growth | None
    startup: Startup | None
    failover: Failover | None = None
    stats_bench: StatsBench | None = None
    targets: list[Target]
    machine: Machine
