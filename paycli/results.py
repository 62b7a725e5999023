"""The contract's `--json` result objects, typed once.

Every command that has `--json` returns one of these models; the JSON view prints
`model_dump(mode="json")`, the human view reads the same attributes, and `paycli schema`
prints `model_json_schema()`. So the three can never drift apart.

Invariants:
- Amounts are exact decimal strings at the currency's precision (`"50.00"`, `"1000"` for
  JPY), never numbers; timings (`duration_ms` and the like) are numbers.
- Statuses are the enums of `records`, so a status outside the contract cannot be built.
- Models are frozen and refuse unknown fields, except a timeline event, which carries
  whatever its event recorded besides its changes.
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from paycli.records import BreakerStatus, BreakKind, PaymentStatus, RefundStatus, StepStatus


class Result(BaseModel):
    """A `--json` result object."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    def to_json(self) -> dict[str, Any]:
        """The object `--json` prints."""
        return self.model_dump(mode="json")


class ErrorInfo(Result):
    """Why a command failed: the error's snake_case type and its one-line message."""

    type: str
    message: str


class StepRecord(Result):
    """One saga step as it ran."""

    name: str
    status: StepStatus
    attempts: int
    duration_ms: float
    detail: str = ""


class WalletCredit(Result):
    """`wallet credit`."""

    user: str
    currency: str
    amount: str
    balance: str
    transaction_id: str


class WalletBalance(Result):
    """`wallet balance`: `balance = available + held` (all zero for a wallet that was never
    credited, which the human view says; `exists` is not part of the JSON)."""

    user: str
    currency: str
    balance: str
    available: str
    held: str
    exists: bool = Field(default=True, exclude=True)


class HistoryEntry(Result):
    """One statement line of `wallet history`."""

    at: str
    type: str
    amount: str
    balance: str
    available: str
    reference: str
    transfer_id: str


class WalletHistory(Result):
    """`wallet history`: `entries` newest first."""

    user: str
    currency: str
    entries: list[HistoryEntry]


class PayResult(Result):
    """`pay`: a payment as it stands after its saga (no id when none was created)."""

    payment_id: str | None
    status: PaymentStatus | None
    user: str
    amount: str
    currency: str
    order_id: str | None
    gateway_ref: str | None
    balance: str
    steps: list[StepRecord]
    error: ErrorInfo | None


class RefundResult(Result):
    """`refund`: the refund after its saga and its payment's status."""

    refund_id: str | None
    payment_id: str
    amount: str
    currency: str
    status: RefundStatus | None
    payment_status: PaymentStatus
    refunded_amount: str
    balance: str
    steps: list[StepRecord]
    error: ErrorInfo | None


class RefundFields(Result):
    """A refund as `payments list` and `payments show` show it."""

    refund_id: str
    amount: str
    currency: str
    status: RefundStatus
    reason: str | None
    gateway_ref: str | None
    error: ErrorInfo | None
    created_at: str
    updated_at: str


class PaymentFields(Result):
    """The fields `payments list` and `payments show` share (`steps`: the saga's steps as
    its last event recorded them)."""

    payment_id: str
    status: PaymentStatus
    user: str
    amount: str
    currency: str
    order_id: str | None
    gateway_ref: str | None
    refunded_amount: str
    refundable_amount: str
    error: ErrorInfo | None
    created_at: str
    updated_at: str
    refunds: list[RefundFields]
    steps: list[StepRecord]


class PaymentsList(Result):
    """`payments list`: newest first."""

    payments: list[PaymentFields]


class TimelineEvent(Result):
    """One event of a payment's timeline; besides its changes it carries what its event
    recorded (a settlement's `steps`, a reservation's `refund_id`)."""

    model_config = ConfigDict(frozen=True, extra="allow", defer_build=True)

    seq: int
    at: str
    type: str
    actor: str | None
    entity_id: str
    changes: dict[str, Any]


class PaymentShow(PaymentFields):
    """`payments show`: the payment's fields (with its saga's steps as they ran) and its
    timeline, oldest first."""

    events: list[TimelineEvent]


class PaymentResolved(PaymentFields):
    """`payments resolve`: the payment after the operator's decision, why, and who."""

    reason: str
    actor: str


class RefundEntry(RefundFields):
    """A refund as `refunds list` shows it: its fields and its payment's id."""

    payment_id: str


class RefundsList(Result):
    """`refunds list`: newest first."""

    refunds: list[RefundEntry]


class RefundResolved(Result):
    """`refunds resolve`: the refund after the operator's decision (`refund_reason` is
    why it was asked for), its payment's status, why it was resolved, and who."""

    refund_id: str
    payment_id: str
    amount: str
    currency: str
    status: RefundStatus
    refund_reason: str | None
    gateway_ref: str | None
    error: ErrorInfo | None
    created_at: str
    updated_at: str
    payment_status: PaymentStatus
    reason: str
    actor: str


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
    """`recover`."""

    resolved: list[RecoveredEntry]
    unresolved: list[RecoveredEntry]


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
    commits_per_payment: int
    failed: int
    steps: dict[str, StepTimes]
    wallet_balance_ms: float
    replay: ReplayTiming
    machine: Machine


class ReconcileBreak(Result):
    """A difference between the ledger and the gateway's report (`reconcile`): a payment or
    a refund, its status and amount on each side (None where a side has none), the report
    `line` it comes from and the `currency` of both amounts."""

    kind: BreakKind
    payment_id: str | None
    refund_id: str | None
    external_id: str | None
    ledger_status: str | None
    gateway_status: str | None
    ledger_amount: str | None
    gateway_amount: str | None
    currency: str | None
    line: int | None


class ReconcileResolved(Result):
    """A PROCESSING payment or refund `reconcile --apply` settled from its report `line`."""

    payment_id: str
    refund_id: str | None
    status: str
    line: int


class ReconcileReport(Result):
    """`reconcile`: `matched` counts the payments and refunds on which ledger and report
    agree; `counts` the breaks by kind; `lines` the report lines read from `source`."""

    source: str
    lines: int
    applied: bool
    matched: int
    resolved: list[ReconcileResolved]
    breaks: list[ReconcileBreak]
    counts: dict[str, int]
