"""An in-process card gateway whose answers the test scripts, and a ledger with every kind of
history (credits, payments that complete, are declined, find the gateway down or stay
pending until `recover`, partial, full and refused refunds) built through the real sagas.

No network and no waits, so replay, query and export tests can build rich ledgers fast.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Literal

from paycli.gateway.protocol import Answer, ChargeRequest, GatewayFailure, RefundAnswer, Rejected
from paycli.gateway.resilience import Resilience
from paycli.ledger import wallet
from paycli.money import Money, parse_amount
from paycli.saga import pay as saga
from paycli.saga import recover as recovery
from paycli.saga import refund as refunds
from paycli.saga.core import Outcome, SagaEnv
from paycli.saga.pay import PayRequest
from paycli.saga.steps import SilentReporter
from paycli.store import BreakerStore, Store

CHARGE_STATUSES: dict[str, Literal["approved", "declined", "pending"]] = {
    "approved": "approved", "declined": "declined", "pending": "pending"}


class ScriptedGateway:
    """Answers charges as `mode` says: approved, declined, down (503) or pending.

    Pending charges stay pending until `settle_pending()`; refunds fail while
    `refunds_fail` is set.
    """

    def __init__(self) -> None:
        self.mode = "approved"
        self.refunds_fail = False
        self._ids = itertools.count(1)
        self._charges: dict[str, Answer] = {}
        self._by_payment: dict[str, str] = {}

    def charge(self, request: ChargeRequest) -> Answer | Rejected:
        """One charge, answered as scripted."""
        if self.mode == "down":
            raise GatewayFailure("gateway error (HTTP 503)", sent=False)
        external_id = f"ch_{next(self._ids)}"
        status = CHARGE_STATUSES[self.mode]
        answer = Answer(externalId=external_id, status=status, message="scripted")
        self._charges[external_id] = answer
        self._by_payment[request.payment_id] = external_id
        return answer

    def status(self, external_id: str) -> Answer | None:
        """The charge as it stands now."""
        return self._charges.get(external_id)

    def find_payment(self, payment_id: str) -> Answer | None:
        """The charge made for a payment."""
        external_id = self._by_payment.get(payment_id)
        return self._charges.get(external_id) if external_id else None

    def refund(self, external_id: str, amount: str, reason: str,
               idempotency_key: str) -> RefundAnswer | Rejected:
        """Refund, or fail to, as scripted."""
        status: Literal["refunded", "refund_failed"] = (
            "refund_failed" if self.refunds_fail else "refunded")
        return RefundAnswer(externalId=external_id, status=status,
                            refundId=f"rf_{next(self._ids)}")

    def settle_pending(self) -> None:
        """Every pending charge is approved."""
        for external_id, answer in self._charges.items():
            if answer.status == "pending":
                self._charges[external_id] = Answer(externalId=external_id, status="approved")

    def close(self) -> None:
        """Nothing to close."""


def saga_env(store: Store, gateway: ScriptedGateway) -> SagaEnv:
    """A saga environment on `store` with `gateway`, one attempt per call, no backoff."""
    return SagaEnv(store, gateway=lambda: gateway, resilience=lambda: Resilience(
        BreakerStore(store), failures=1000, reset_s=30.0, attempts=2, attempt_timeout_s=1.0,
        backoff_s=0.0, max_backoff_s=0.0))


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
    gateway, history = ScriptedGateway(), History()
    env = saga_env(store, gateway)
    credit(store, "alice", "1000")
    credit(store, "bob", "250.50")
    credit(store, "carol", "5000", "JPY")
    for case, user, amount, currency, mode in (
        ("completed", "alice", "100", "USD", "approved"),
        ("to_refund", "alice", "200.25", "USD", "approved"),
        ("declined", "alice", "30", "USD", "declined"),
        ("down", "bob", "40", "USD", "down"),
        ("pending", "bob", "50.50", "USD", "pending"),
        ("yen", "carol", "1200", "JPY", "approved"),
    ):
        gateway.mode = mode
        order_id = ORDER_ID if case == "completed" else None
        outcome = pay(env, user, amount, currency, order_id)
        history.payments[case] = str(outcome.result.payment_id)
    gateway.settle_pending()
    recovery.recover(env)
    to_refund = history.payments["to_refund"]
    history.refunds["partial"] = str(refund(env, to_refund, "0.25", REASON).result.refund_id)
    gateway.refunds_fail = True
    history.refunds["refused"] = str(refund(env, to_refund, "100").result.refund_id)
    gateway.refunds_fail = False
    history.refunds["rest"] = str(refund(env, to_refund).result.refund_id)
    history.refunds["yen"] = str(refund(env, history.payments["yen"], "200").result.refund_id)
    return history
