"""A ledger with every kind of history (credits, payments that complete, are declined, find
the gateway down or stay pending until `recover`, partial, full and refused refunds) built
through the real sagas on the in-process `ScriptedGateway` (tests/doubles.py).

No network and no waits, so replay, query and export tests can build rich ledgers fast;
`conftest.py` builds it once per session and copies it into each test's ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from doubles import ScriptedGateway, saga_env

from paycli.ledger import wallet
from paycli.money import Money, parse_amount
from paycli.saga import pay as saga
from paycli.saga import recover as recovery
from paycli.saga import refund as refunds
from paycli.saga.core import Outcome, SagaEnv
from paycli.saga.pay import PayRequest
from paycli.saga.steps import SilentReporter
from paycli.store import Store


def credit(store: Store, user: str, amount: str, currency: str = "USD") -> None:
    """Credit a wallet."""
    wallet.credit(store, user, parse_amount(amount, currency))


def pay(env: SagaEnv, user: str, amount: str, currency: str = "USD",
        order_id: str | None = None) -> Outcome:
    """Run the pay saga without waiting for pending charges."""
    money: Money = parse_amount(amount, currency)
    return saga.pay(env, PayRequest(user, money, order_id=order_id, wait_s=0.0),
                    SilentReporter())


def refund(env: SagaEnv, payment_id: str, amount: str | None = None, reason: str = ""
           ) -> Outcome:
    """Run the refund saga."""
    request = refunds.RefundRequest(payment_id, amount, reason)
    return refunds.refund(env, request, SilentReporter(), 1_000_000)


# Free text that a spreadsheet would take for a formula, for the export's CSV guard.
ORDER_ID = "+1-555-0100"
REASON = "=damaged"


@dataclass
class History:
    """The ids of what `build_history` did, by case."""

    payments: dict[str, str] = field(default_factory=dict)
    refunds: dict[str, str] = field(default_factory=dict)


def build_history(store: Store) -> History:
    """Credits, payments of every outcome, and refunds, in USD and JPY."""
    gateway, history = ScriptedGateway(settle_after=None), History()
    env = saga_env(store, gateway)
    credit(store, "alice", "1000")
    credit(store, "bob", "250.50")
    credit(store, "carol", "5000", "JPY")
    for case, user, amount, currency, mode in (
        ("completed", "alice", "100", "USD", "approve"),
        ("to_refund", "alice", "200.25", "USD", "approve"),
        ("declined", "alice", "30", "USD", "decline"),
        ("down", "bob", "40", "USD", "fail"),
        ("pending", "bob", "50.50", "USD", "pending"),
        ("yen", "carol", "1200", "JPY", "approve"),
    ):
        gateway.set_mode(mode)
        order_id = ORDER_ID if case == "completed" else None
        outcome = pay(env, user, amount, currency, order_id)
        history.payments[case] = str(outcome.result.payment_id)
    gateway.settle()
    recovery.recover(env)
    to_refund = history.payments["to_refund"]
    history.refunds["partial"] = str(refund(env, to_refund, "0.25", REASON).result.refund_id)
    gateway.set_mode("decline")  # the gateway refuses this one
    history.refunds["refused"] = str(refund(env, to_refund, "100").result.refund_id)
    gateway.set_mode("approve")
    history.refunds["rest"] = str(refund(env, to_refund).result.refund_id)
    history.refunds["yen"] = str(refund(env, history.payments["yen"], "200").result.refund_id)
    return history
