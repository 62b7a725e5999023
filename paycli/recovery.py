"""`paycli recover`: finish the sagas whose process died, from what ledger and gateway know.

A payment or refund is taken over only when the process that owns it is gone, by
compare-and-set on its owner, so two recovers (or a recover and a live saga) never act on
one payment. One that another live process holds is waited for (briefly): if that process
finishes it, it is no concern of this run; if not, it is reported unresolved. For each:

    PENDING       the gateway was never called: release the hold, FAILED
    PROCESSING    ask the gateway (by its reference, else by paycli's payment id):
                  approved -> post, COMPLETED; declined or no such charge -> void, FAILED;
                  pending, unreachable or no lookup -> keep the hold, unresolved

Running it again changes nothing more: every action is conditional on the state it found.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

from paycli.gateway import Answer, GatewayFailure, LookupUnsupported
from paycli.models import Payment, Refund
from paycli.saga import SagaEnv, Verdict, _unknown, claim_orphan, settle
from paycli.steps import owner_alive

# How long to wait for a saga another live process holds (another recover takes one
# gateway look-up; a live pay or refund may take longer, and is then reported unresolved).
OTHER_OWNER_WAIT_S = 5.0

Saga = TypeVar("Saga", Payment, Refund)


def wait_for_owner(read: Callable[[], Saga]) -> Saga:
    """The saga as it stands once the live process holding it lets go (or the wait ends)."""
    deadline = time.monotonic() + OTHER_OWNER_WAIT_S
    current = read()
    while not current.is_final and owner_alive(current.owner) and time.monotonic() < deadline:
        time.sleep(0.05)
        current = read()
    return current


def recover(env: SagaEnv) -> dict[str, Any]:
    """Finish every orphaned payment (and refund); report what was and was not resolved."""
    resolved: list[dict[str, Any]] = []
    unresolved: list[dict[str, Any]] = []
    for payment in env.store.read.unfinished_payments():
        if not claim_orphan(env, "payments", payment):
            current = wait_for_owner(functools.partial(_read, env, payment.id))
            if not current.is_final:  # else another process finished it: not ours to report
                unresolved.append({"payment_id": payment.id, "status": current.status,
                                   "reason": held_elsewhere(current.owner,
                                                             current.error_message)})
            continue
        after = _finish_payment(env, payment)
        entry = {"payment_id": after.id, "status": after.status}
        if after.is_final:
            resolved.append(entry)
        else:
            unresolved.append({**entry, "reason": after.error_message or "outcome unknown"})
    from paycli.refunds import recover_refunds

    refunds_resolved, refunds_unresolved = recover_refunds(env)
    return {"resolved": resolved + refunds_resolved,
            "unresolved": unresolved + refunds_unresolved}


def _read(env: SagaEnv, payment_id: str) -> Payment:
    found = env.store.read.payment(payment_id)
    assert found is not None, payment_id
    return found


def held_elsewhere(owner: str | None, message: str | None) -> str:
    """Why a saga another process touched is still unfinished."""
    if owner_alive(owner):
        return "in progress in another process"
    return message or "outcome unknown"


def _finish_payment(env: SagaEnv, payment: Payment) -> Payment:
    current = env.store.read.payment(payment.id)
    assert current is not None
    if current.is_final:
        return current
    if current.status == "PENDING":
        verdict = Verdict("unavailable", None, "not_charged",
                          "interrupted before the gateway was called; the hold was released")
    else:
        verdict = ask_gateway(env, current)
    return settle(env, current.id, current.hold_id, verdict, [])


def ask_gateway(env: SagaEnv, payment: Payment) -> Verdict:
    """What the gateway knows of a payment's charge, as a verdict."""
    try:
        if payment.gateway_ref:
            found = env.gateway.status(payment.gateway_ref)
        else:
            found = env.gateway.find_payment(payment.id)
    except LookupUnsupported:
        return _unknown("the gateway cannot look charges up by payment id",
                        payment.gateway_ref)
    except GatewayFailure as exc:
        return _unknown(f"the gateway could not be asked ({exc.reason})", payment.gateway_ref)
    if found is None:
        return Verdict("unavailable", None, "not_charged",
                       "the gateway holds no charge for this payment; the hold was released")
    return _from_answer(found)


def _from_answer(answer: Answer) -> Verdict:
    if answer.status == "approved":
        return Verdict("approved", answer.externalId)
    if answer.status == "declined":
        return Verdict("declined", answer.externalId, "declined",
                       f"declined by the gateway{': ' + answer.message if answer.message else ''}")
    return _unknown("still pending at the gateway", answer.externalId)
