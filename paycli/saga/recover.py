"""`paycli recover`: finish the sagas whose process died, from what ledger and gateway know.

A payment or refund is taken over only when the process that owns it is gone, by
compare-and-set on its owner, so two recovers (or a recover and a live saga) never act on
one payment. One that another live process holds is waited for (briefly): if that process
finishes it, it is no concern of this run; if not, it is reported unresolved. For each:

    PENDING       the gateway was never called: release the hold (reservation), FAILED
    PROCESSING    ask the gateway (`lookups.ask_about_payment` / `ask_about_refund`):
                  a final answer settles it; pending, unreachable or no lookup keeps it
                  PROCESSING, reported unresolved

Every verdict goes through the one settle path, so running it again changes nothing more:
every action is conditional on the state it found.
"""

from __future__ import annotations

from paycli.records import Payment, PaymentStatus, Refund, RefundStatus
from paycli.results import RecoveredEntry, RecoverReport, messages
from paycli.saga import lookups
from paycli.saga.core import (
    Decision,
    SagaEnv,
    Verdict,
    claim_orphan,
    read_payment,
    read_refund,
)
from paycli.saga.owner import owner_alive, wait_for_owner
from paycli.saga.settle import settle_payment, settle_refund


def _held_elsewhere(row: Payment | Refund) -> str:
    """Why a saga another process touched is still unfinished, and what finishes it."""
    if owner_alive(row.owner):
        return messages.IN_PROGRESS
    return _why(row)


def _why(row: Payment | Refund) -> str:
    """Why a saga is still unfinished, and what can finish it (never "run recover" alone)."""
    kind = "refund" if isinstance(row, Refund) else "payment"
    return messages.still_unfinished(kind, row.id, row.error_message)


# How long to wait for a saga another live process holds (another recover takes one
# gateway look-up; a live pay or refund may take longer, and is then reported unresolved).
OTHER_OWNER_WAIT_S = 5.0


def recover(env: SagaEnv) -> RecoverReport:
    """Finish every orphaned payment and refund; report what was and was not resolved."""
    resolved: list[RecoveredEntry] = []
    unresolved: list[RecoveredEntry] = []
    for payment in env.store.read.unfinished_payments():
        entry = recover_payment(env, payment)
        if entry is not None:
            (unresolved if entry.reason is not None else resolved).append(entry)
    for found in env.store.read.unfinished_refunds():
        entry = _recover_refund(env, found)
        if entry is not None:
            (unresolved if entry.reason is not None else resolved).append(entry)
    return RecoverReport(resolved=resolved, unresolved=unresolved)


def recover_payment(env: SagaEnv, payment: Payment) -> RecoveredEntry | None:
    """The payment's entry (with a reason when unresolved); None if another process
    finished it meanwhile."""
    if not claim_orphan(env, "payments", payment):
        other = wait_for_owner(lambda: read_payment(env, payment.id), OTHER_OWNER_WAIT_S)
        if other.is_final:
            return None
        return RecoveredEntry(payment_id=payment.id, status=other.status,
                              reason=_held_elsewhere(other))
    current = read_payment(env, payment.id)
    if not current.is_final:
        if current.status == PaymentStatus.PENDING:
            verdict = Verdict(Decision.UNAVAILABLE, None, "not_charged",
                              {"code": "interrupted_before_call", "released": "hold"})
        else:
            verdict = lookups.ask_about_payment(env, current)
        current = settle_payment(env, current.id, verdict, [])
    return RecoveredEntry(payment_id=current.id, status=current.status,
                          reason=None if current.is_final else _why(current))


def _recover_refund(env: SagaEnv, found: Refund) -> RecoveredEntry | None:
    """The refund's entry, as `recover_payment`'s."""
    if not claim_orphan(env, "refunds", found):
        other = wait_for_owner(lambda: read_refund(env, found.id), OTHER_OWNER_WAIT_S)
        if other.is_final:
            return None
        return RecoveredEntry(payment_id=found.payment_id, refund_id=found.id,
                              status=other.status,
                              reason=_held_elsewhere(other))
    current = read_refund(env, found.id)
    if not current.is_final:
        if current.status == RefundStatus.PENDING:
            verdict = Verdict(Decision.UNAVAILABLE, None, "not_refunded",
                              {"code": "interrupted_before_call", "released": "reservation"})
        else:
            verdict = lookups.ask_about_refund(env, current) or Verdict(
                Decision.UNAVAILABLE, None, "not_refunded", {"code": "no_such_refund"})
        current = settle_refund(env, found.id, verdict, [])
    return RecoveredEntry(payment_id=found.payment_id, refund_id=found.id,
                          status=current.status,
                          reason=None if current.is_final else _why(current))
