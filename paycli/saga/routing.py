"""Routing a new payment among several gateways, and failing it over safely.

    choose   the gateway a new payment opens at: the first of the environment's choices
             (priority order, or the one `--gateway NAME` names) whose shared breaker lets
             a call through; the first choice when none does (its call then says so)
    after    the gateways a payment may still move to: the choices after its own
    move     the move itself, durable before anything is sent to the new gateway: the
             payment's `gateway` changes with its `payment.gateway_changed` event (citing
             both gateways and why), in one transaction

Invariants: a payment moves only when nothing sent to its gateway could have reached it
(every attempt failed to connect, or the breaker refused the call: `calls` decides); a
charge whose answer was lost, or that is pending, stays where it is until its outcome is
known. A payment outside the choices (an older one taken over by a billing run that names
another gateway) never moves.
"""

from __future__ import annotations

from typing import Any

from paycli.records import Payment, PaymentStatus
from paycli.saga.core import SagaEnv, read_payment, set_payment


def choose(env: SagaEnv) -> str:
    """The gateway a new payment goes to (see the module docstring). With one gateway
    there is nothing to choose, and no breaker to read: the charge reads it."""
    if len(env.choices) == 1:
        return env.choices[0]
    for name in env.choices:
        if env.at(name).resilience.lets_through():
            return name
    return env.choices[0]


def after(env: SagaEnv, payment: Payment) -> tuple[str, ...]:
    """The gateways `payment` may still move to, in priority order."""
    if payment.gateway not in env.choices:
        return ()
    return env.choices[env.choices.index(payment.gateway) + 1:]


def move(env: SagaEnv, payment: Payment, to: str, why: dict[str, Any]) -> Payment:
    """Record, durably, that `payment` now goes to gateway `to` (see the module
    docstring); the payment as it now stands. Only a PROCESSING payment at the gateway the
    caller saw is moved (compare-and-set under the payment's transaction)."""
    with env.store.transaction(payment.id) as tx:
        current = tx.payment(payment.id)
        assert current is not None, payment.id
        if current.status != PaymentStatus.PROCESSING or current.gateway != payment.gateway:
            return current
        set_payment(tx, payment.id, "payment.gateway_changed", {"gateway": to},
                    moved_from=payment.gateway, why=why)
    env.log("gateway_failover", correlation_id=payment.id, moved_from=payment.gateway,
            moved_to=to)
    return read_payment(env, payment.id)
