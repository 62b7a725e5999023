"""What a billing run says of each row: how it ended (`RowOutcome`, from its payment) and
the step records kept with its settlement, the same names and shape as `pay`'s steps.

Invariants: an outcome is read from the payment as the ledger has it, never assumed; a
row counts as `completed` only when this run completed it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from paycli.errors import OutcomeUnknown, PaycliError
from paycli.ledger import orders
from paycli.ledger.batchfile import BatchRow
from paycli.records import Payment, StepStatus
from paycli.saga import pay as paying
from paycli.saga.group import PHASES, Opening


@dataclass(frozen=True)
class RowOutcome:
    """How one row of the file ended: `completed`, `failed`, `unknown` (PROCESSING, its
    funds held) or `skipped` (done by an earlier run)."""

    line: int
    order_id: str | None
    status: str
    error: PaycliError | None
    raw: Any
    payment_id: str | None = None
    attempt: int = 1  # which attempt of its order the payment is (`orders`)
    earlier: bool = False  # the row's payment ended before this run (or in another run)



def ended(row: BatchRow, payment: Payment, here: bool = True) -> RowOutcome:
    """How a row ended, by its payment: `completed` only if it is this run's (`here`:
    opened by this run, whoever settled it, or completed by this run's commit), else
    `skipped`; a FAILED one is `failed` whoever failed it (the order is
    not paid: `--retry-failed` tries it again)."""
    error = paying.exit_error(payment)
    status = ("unknown" if isinstance(error, OutcomeUnknown) else "failed" if error else
              "completed" if here else "skipped")
    return RowOutcome(row.line, row.order_id, status, error, row.raw, payment.id,
                      orders.number_of(payment), earlier=not here)


def opening_steps(opening: Opening, started: float) -> list[dict[str, Any]]:
    """Each opened payment's CheckWalletBalance, CreatePayment and ReserveFunds: the time
    the group's phase took shared out among its payments (the transaction's begin and
    commit counted in ReserveFunds, as `pay` counts its commit)."""
    share = max(len(opening.accepted), 1)
    whole = (time.perf_counter() - started) * 1000
    phases = {name: opening.timings.get(name, 0.0) for name in PHASES}
    phases["ReserveFunds"] += max(whole - sum(phases.values()), 0.0)
    return [step_record(name, round(ms / share, 3)) for name, ms in phases.items()]


def step_record(name: str, duration_ms: float = 0.0) -> dict[str, Any]:
    """A step that succeeded at its first attempt, as `pay` records one."""
    return {"name": name, "status": str(StepStatus.SUCCESS), "attempts": 1,
            "duration_ms": duration_ms}
