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
every action is conditional on the state it found. What this run's own commits settled is
reported `resolved`; what another process (a live saga, another recover, `reconcile
--apply`, `payments resolve`) settled meanwhile is reported `settled_elsewhere`, never
claimed.
"""

from __future__ import annotations

from typing import Literal

from paycli.records import Payment, PaymentStatus, Refund, RefundStatus
from paycli.results import messages
from paycli.results.recover import RecoveredEntry, RecoverReport
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


# Where a recovered saga's entry goes: settled by this run, by another process, or not yet.
Where = Literal["resolved", "settled_elsewhere", "unresolved"]


def recover(env: SagaEnv) -> RecoverReport:
    """Finish every orphaned payment and refund; report what was and was not resolved."""
    lists: dict[Where, list[RecoveredEntry]] = {
        "resolved": [], "settled_elsewhere": [], "unresolved": []}
    for payment in env.store.read.unfinished_payments():
        where, entry = recover_payment(env, payment)
        lists[where].append(entry)
    for found in env.store.read.unfinished_refunds():
        where, entry = _recover_refund(env, found)
        lists[where].append(entry)
    return RecoverReport(**lists)


def recover_payment(env: SagaEnv, payment: Payment) -> tuple[Where, RecoveredEntry]:
    """The payment's entry (with a reason when unresolved) and where it goes."""
    if not claim_orphan(env, "payments", payment):
        other = wait_for_owner(lambda: read_payment(env, payment.id), OTHER_OWNER_WAIT_S)
        return _placed(other, False, _held_elsewhere(other))
    current = read_payment(env, payment.id)
    if current.is_final:
        return _placed(current, False)
    if current.status == PaymentStatus.PENDING:
        verdict = Verdict(Decision.UNAVAILABLE, None, "not_charged",
                          {"code": "interrupted_before_call", "released": "hold"})
    else:
        verdict = lookups.ask_about_payment(env, current)
    here: set[str] = set()
    current = settle_payment(env, current.id, verdict, [], settled_here=here)
    return _placed(current, current.id in here, _why(current))


def _recover_refund(env: SagaEnv, found: Refund) -> tuple[Where, RecoveredEntry]:
    """The refund's entry and where it goes, as `recover_payment`'s."""
    if not claim_orphan(env, "refunds", found):
        other = wait_for_owner(lambda: read_refund(env, found.id), OTHER_OWNER_WAIT_S)
        return _placed(other, False, _held_elsewhere(other))
    current = read_refund(env, found.id)
    if current.is_final:
        return _placed(current, False)
    if current.status == RefundStatus.PENDING:
        verdict = Verdict(Decision.UNAVAILABLE, None, "not_refunded",
                          {"code": "interrupted_before_call", "released": "reservation"})
    else:
        verdict = lookups.ask_about_refund(env, current) or Verdict(
            Decision.UNAVAILABLE, None, "not_refunded", {"code": "no_such_refund"})
    here: set[str] = set()
    current = settle_refund(env, found.id, verdict, [], settled_here=here)
    return _placed(current, current.id in here, _why(current))


def _placed(row: Payment | Refund, here: bool, reason: str = "") -> tuple[Where, RecoveredEntry]:
    """A saga's entry as it now stands: unresolved (with `reason`) while not final, else
    resolved if this run's commit settled it (`here`), else settled elsewhere."""
    refund_id = row.id if isinstance(row, Refund) else None
    payment_id = row.payment_id if isinstance(row, Refund) else row.id
    if not row.is_final:
        return "unresolved", RecoveredEntry(payment_id=payment_id, refund_id=refund_id,
                                            status=row.status, reason=reason)
    return ("resolved" if here else "settled_elsewhere"), RecoveredEntry(
        payment_id=payment_id, refund_id=refund_id, status=row.status)
