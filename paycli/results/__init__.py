"""The contract's `--json` result objects, typed once, one module per command group
(`base`, `wallet`, `payments`, `operations`, `reconcile`, `guards`), all offered here
and loaded on first use: `wallet balance` imports the wallet's models, not the other forty
(start-up).

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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        Growth,
        Machine,
        Mismatch,
        Ratios,
        RecoveredEntry,
        RecoverReport,
        ReplayReport,
        ReplayTiming,
        Startup,
        StepTimes,
        Target,
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

# Which module defines each model.
_HOMES = {
    "BackupResult": "guards",
    "Baselines": "operations",
    "BatchFailure": "guards",
    "BatchReport": "guards",
    "BenchReport": "operations",
    "ChainBreakInfo": "operations",
    "DbCopyResult": "operations",
    "ErrorInfo": "base",
    "FixtureFailure": "guards",
    "FixturesLoaded": "guards",
    "GatewayStatus": "operations",
    "Growth": "operations",
    "HistoryEntry": "wallet",
    "Startup": "operations",
    "Target": "operations",
    "LimitEntry": "guards",
    "LimitsList": "guards",
    "Machine": "operations",
    "Mismatch": "operations",
    "PayResult": "payments",
    "PaymentFields": "payments",
    "PaymentResolved": "payments",
    "PaymentShow": "payments",
    "PaymentsList": "payments",
    "Ratios": "operations",
    "ReconcileBreak": "reconcile",
    "ReconcileReport": "reconcile",
    "ReconcileResolved": "reconcile",
    "RecoverReport": "operations",
    "RecoveredEntry": "operations",
    "RefundEntry": "payments",
    "RefundFields": "payments",
    "RefundResolved": "payments",
    "RefundResult": "payments",
    "RefundsList": "payments",
    "ReplayReport": "operations",
    "ReplayTiming": "operations",
    "Result": "base",
    "StepRecord": "base",
    "StepTimes": "operations",
    "TimelineEvent": "payments",
    "WalletBalance": "wallet",
    "WalletCredit": "wallet",
    "WalletHistory": "wallet",
}

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
    "Growth",
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
    "Startup",
    "StepRecord",
    "StepTimes",
    "Target",
    "TimelineEvent",
    "WalletBalance",
    "WalletCredit",
    "WalletHistory",
]


def __getattr__(name: str) -> Any:
    """A model, imported from its module when first asked for (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
