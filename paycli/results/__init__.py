"""The contract's `--json` result objects, typed once, one module per command group
(`base`, `wallet`, `payments`, `operations`, `reconcile`, `guards`), all offered here.

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

from paycli.results.base import (
    ErrorInfo,
    Result,
    StepRecord,
)
from paycli.results.guards import (
    BackupResult,
    BatchFailure,
    BatchReport,
    FixtureFailure,
    FixturesLoaded,
    LimitEntry,
    LimitsList,
)
from paycli.results.operations import (
    Baselines,
    BenchReport,
    ChainBreakInfo,
    DbCopyResult,
    GatewayStatus,
    Machine,
    Mismatch,
    Ratios,
    RecoveredEntry,
    RecoverReport,
    ReplayReport,
    ReplayTiming,
    StepTimes,
)
from paycli.results.payments import (
    PaymentFields,
    PaymentResolved,
    PaymentShow,
    PaymentsList,
    PayResult,
    RefundEntry,
    RefundFields,
    RefundResolved,
    RefundResult,
    RefundsList,
    TimelineEvent,
)
from paycli.results.reconcile import (
    ReconcileBreak,
    ReconcileReport,
    ReconcileResolved,
)
from paycli.results.wallet import (
    HistoryEntry,
    WalletBalance,
    WalletCredit,
    WalletHistory,
)

__all__ = [
    "BackupResult",
    "Baselines",
    "BatchFailure",
    "BatchReport",
    "BenchReport",
    "ChainBreakInfo",
    "DbCopyResult",
    "ErrorInfo",
    "FixtureFailure",
    "FixturesLoaded",
    "GatewayStatus",
    "HistoryEntry",
    "LimitEntry",
    "LimitsList",
    "Machine",
    "Mismatch",
    "PayResult",
    "PaymentFields",
    "PaymentResolved",
    "PaymentShow",
    "PaymentsList",
    "Ratios",
    "ReconcileBreak",
    "ReconcileReport",
    "ReconcileResolved",
    "RecoverReport",
    "RecoveredEntry",
    "RefundEntry",
    "RefundFields",
    "RefundResolved",
    "RefundResult",
    "RefundsList",
    "ReplayReport",
    "ReplayTiming",
    "Result",
    "StepRecord",
    "StepTimes",
    "TimelineEvent",
    "WalletBalance",
    "WalletCredit",
    "WalletHistory",
]
