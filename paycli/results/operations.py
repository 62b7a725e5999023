"""Results of `replay-events`, `db copy`, `recover`, `gateway status | reset` and `bench`."""

from __future__ import annotations

from typing import Any

from pydantic import SerializerFunctionWrapHandler, model_serializer

from paycli.records import BreakerStatus
from paycli.results.base import Result


class Mismatch(Result):
    """One difference between the stored tables and the replayed event log."""

    entity: str
    id: str
    field: str
    stored: Any
    replayed: Any


class ChainBreakInfo(Result):
    """Where the hash chain first breaks."""

    seq: int
    reason: str


class ReplayReport(Result):
    """`replay-events`."""

    events: int
    chain_ok: bool
    consistent: bool
    mismatches: list[Mismatch]
    chain_break: ChainBreakInfo | None


class DbCopyResult(Result):
    """`db copy`: where the ledger went (password hidden), how many events it took, and
    whether replaying them on the target matched every copied row."""

    to: str
    events: int
    consistent: bool
    rows: int
    mismatches: int


class RecoveredEntry(Result):
    """A payment (or a refund, with its `refund_id`) that `recover` looked at; `reason`
    says why an unresolved one is still unfinished. Absent fields are left out."""

    payment_id: str
    refund_id: str | None = None
    status: str
    reason: str | None = None

    @model_serializer(mode="wrap")
    def _without_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped: dict[str, Any] = handler(self)
        return {key: value for key, value in dumped.items() if value is not None}


class RecoverReport(Result):
    """`recover`: `resolved` what this run's own commits settled, `settled_elsewhere` what
    another process (a live saga, another recover, reconcile, a resolve by hand) settled
    meanwhile, `unresolved` what is still unfinished."""

    resolved: list[RecoveredEntry]
    unresolved: list[RecoveredEntry]
    settled_elsewhere: list[RecoveredEntry]


class GatewayStatus(Result):
    """`gateway status` and `gateway reset`: the shared circuit breaker."""

    state: BreakerStatus
    failures: int
    opened_at: str | None
    probe_at: str | None


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


class Target(Result):
    """One of the performance targets, as this run measured it."""

    name: str
    measured: str
    baseline: str | None
    ratio: float | None
    goal: str
    met: bool


class BenchReport(Result):
    """`bench`: paycli against the raw limits of this machine, in one run."""

    payments: int
    gateway: str
    mode: str
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
    replay: ReplayTiming
    peak_rss_mb: float  # the bench process's, ledger and baselines included
    growth: Growth | None
    startup: Startup | None
    targets: list[Target]
    machine: Machine
