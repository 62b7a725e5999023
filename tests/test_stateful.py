"""Model-based test of the money core: random runs of credits, payments, refunds, crashes,
recoveries and gateway misbehaviour, checked against a simple model after every step.

The state machine drives the library API (`wallet.credit`, `saga.pay`, `refunds.refund`,
`recovery.recover`) on a real SQLite ledger with the in-process `ScriptedGateway`
(tests/doubles.py), which approves, fails, declines, times out before or after charging,
loses answers, leaves charges pending, lacks look-ups, ignores idempotency keys, or
"kills the process" (a `Crash` BaseException) before or after acting. Crashes are also
injected at the start of every saga step through the reporter, and a crashed saga's owner
may be set to a dead process, as after a real SIGKILL.

After every step (see `PaycliMachine.ledger_agrees`):
- every currency's balances sum to zero, no wallet's available balance is negative;
- each wallet's held amount is the sum of the holds of its non-final payments, and its
  balance is what the model credited, less captured payments, plus completed refunds;
- the gateway charged each payment at most once; a captured payment has the approved
  charge it names, a failed one has none (or a declined one), and an approved charge
  belongs to a captured or still unfinished payment;
- each refund key was refunded at most once at the gateway, exactly once for a completed
  refund; refunds never exceed the captured amount, in the ledger or at the gateway.
At the end of a run the gateway heals, pending charges settle and `recover` must finish
everything: then the gateway's captured and refunded money equals the ledger's.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from doubles import MODES, Crash, ScriptedGateway
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from paycli.errors import IdempotencyConflict, InsufficientFunds, RefundRefused
from paycli.gateway.resilience import Resilience
from paycli.ledger import wallet
from paycli.money import Money, format_minor
from paycli.saga import pay as saga
from paycli.saga import recover as recovery
from paycli.saga import refund as refunds
from paycli.saga.steps import SilentReporter, StepUpdate
from paycli.store import BreakerStore, Store

USERS = ("alice", "bob")
CURRENCIES = ("USD", "JPY")
CAPTURED = frozenset({"COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED"})
UNFINISHED = frozenset({"PENDING", "PROCESSING"})
# The ledger is real SQLite, but on tmpfs where there is one: every commit is fsynced
# (synchronous=FULL) and durability is not what this test is about.
SCRATCH = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
DEAD_OWNER = "999999999:0"  # no such pid: `owner_alive` is False, as after a SIGKILL
PAY_CRASH_POINTS = ("CreatePayment", "ReserveFunds", "ProcessPayment", "SettlePayment",
                    "gateway-before", "gateway-after")
REFUND_CRASH_POINTS = ("ReserveRefund", "ProcessRefund", "SettleRefund", "gateway-before",
                       "gateway-after")
PAY_ERRORS = {"COMPLETED": {None}, "FAILED": {"declined", "gateway_unavailable"},
              "PROCESSING": {"outcome_unknown"}}


class CrashingReporter(SilentReporter):
    """Raises `Crash` as the named step starts: the process dies at that boundary."""

    def __init__(self, step: str) -> None:
        self.at = step

    def step(self, update: StepUpdate) -> None:
        """Die when the chosen step starts running."""
        if update.name == self.at and update.status == "running":
            raise Crash(f"killed as {self.at} started")


class PaycliMachine(RuleBasedStateMachine):
    """The ledger, the gateway double and the model, driven by Hypothesis."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="paycli-stateful-", dir=SCRATCH))
        self.store = Store(str(self.folder / "ledger.db"))
        self.gateway = ScriptedGateway()
        self.credited: Counter[tuple[str, str]] = Counter()
        self.payments: list[str] = []
        self.pay_keys: dict[str, tuple[str, Money, str]] = {}
        self.credit_keys: dict[str, tuple[str, Money, str]] = {}
        self.refund_keys: dict[str, tuple[str, str | None, str]] = {}
        self.names = itertools.count(1)

    # -- wiring --------------------------------------------------------------------------

    def env(self) -> saga.SagaEnv:
        """A fresh saga environment, as a new paycli process would build it.

        The breaker never opens: its reset timeout and probe lease run on the wall clock,
        which would make a run's outcome depend on timing and Hypothesis' replays flaky
        (the breaker has its own tests in test_saga.py). The long attempt timeout only
        widens the retry deadline, for the same reason.
        """
        return saga.SagaEnv(self.store, gateway=lambda: self.gateway,
                            resilience=lambda on: Resilience(
                                BreakerStore(on), failures=1_000_000, reset_s=30,
                                attempts=3, attempt_timeout_s=5,
                                backoff_s=0.001, max_backoff_s=0.002))

    def pay_now(self, user: str, money: Money, key: str | None,
                reporter: SilentReporter | None = None) -> saga.Outcome:
        """Run the pay saga without waiting for pending charges."""
        request = saga.PayRequest(user=user, money=money, idempotency_key=key, wait_s=0)
        return saga.pay(self.env(), request, reporter or SilentReporter())

    def refund_now(self, payment_id: str, amount: str | None, key: str | None,
                   reporter: SilentReporter | None = None) -> saga.Outcome:
        """Run the refund saga."""
        request = refunds.RefundRequest(payment_id, amount, "model test", key)
        return refunds.refund(self.env(), request, reporter or SilentReporter(), 1_000_000)

    def events(self) -> int:
        """How many events the ledger holds."""
        return self.store.read.event_count()

    def orphan(self, table: str) -> None:
        """Hand this process's unfinished sagas to a dead owner (a SIGKILLed process)."""
        read = self.store.read
        rows: list[Any] = (read.unfinished_payments() if table == "payments"
                           else read.unfinished_refunds())
        for row in rows:
            if row.owner and row.owner != DEAD_OWNER:
                with self.store.transaction(row.id) as tx:
                    assert tx.claim(table, row.id, row.owner, DEAD_OWNER)

    # -- rules -----------------------------------------------------------------------------

    @rule(user=st.sampled_from(USERS), currency=st.sampled_from(CURRENCIES),
          minor=st.integers(1, 40_000), keyed=st.booleans())
    def credit(self, user: str, currency: str, minor: int, keyed: bool) -> None:
        """Credit a wallet; the model remembers every unit credited."""
        key = f"credit-{next(self.names)}" if keyed else None
        money = Money(minor, currency)
        result = wallet.credit(self.store, user, money, key)
        self.credited[(user, currency)] += minor
        if key is not None:
            self.credit_keys[key] = (user, money, result.transaction_id)

    @rule(user=st.sampled_from(USERS), currency=st.sampled_from(CURRENCIES),
          minor=st.integers(1, 30_000), keyed=st.booleans())
    def pay(self, user: str, currency: str, minor: int, keyed: bool) -> None:
        """Pay: refused without funds (no gateway call), else an outcome that fits its status."""
        account = self.store.read.account("wallet", user, currency)
        available = account.available if account else 0
        mode = None if self.gateway.script else self.gateway.mode
        calls = sum(self.gateway.calls.values())
        key = f"pay-{next(self.names)}" if keyed else None
        outcome = self.pay_now(user, Money(minor, currency), key)
        error = outcome.result.error
        if available < minor:
            assert isinstance(outcome.error, InsufficientFunds)
            assert outcome.result.payment_id is None
            assert sum(self.gateway.calls.values()) == calls
            return
        payment_id, status = outcome.result.payment_id, outcome.result.status
        assert payment_id is not None
        self.payments.append(payment_id)
        assert (error and error.type) in PAY_ERRORS[status], outcome.result
        if mode == "decline":
            assert status == "FAILED"
        if mode == "approve":
            assert status == "COMPLETED", outcome.result
        if key is not None:
            self.pay_keys[key] = (user, Money(minor, currency), payment_id)

    @precondition(lambda self: self.payments)
    @rule(index=st.integers(0, 10_000), part=st.sampled_from(["all", "half", "one", "over"]),
          keyed=st.booleans())
    def refund(self, index: int, part: str, keyed: bool) -> None:
        """Refund: refused (nothing written) unless the payment is captured with enough left."""
        payment = self.store.read.payment(self.payments[index % len(self.payments)])
        assert payment is not None
        left = payment.refundable
        minor = {"all": left, "half": max(1, left // 2), "one": 1,
                 "over": payment.amount - payment.refunded + 1}[part]
        text = None if part == "all" else format_minor(minor, payment.currency)
        key = f"refund-{next(self.names)}" if keyed else None
        before = self.events()
        try:
            outcome = self.refund_now(payment.id, text, key)
        except RefundRefused:
            assert left <= 0 or minor > left
            assert self.events() == before
            return
        assert 0 < minor <= left
        status, error = outcome.result.status, outcome.result.error
        expected = {"COMPLETED": {None},
                    "FAILED": {"refund_refused", "gateway_unavailable"},
                    "PROCESSING": {"outcome_unknown"}}[status]
        assert (error and error.type) in expected, outcome.result
        if key is not None:
            self.refund_keys[key] = (payment.id, text, outcome.result.refund_id)

    @rule(user=st.sampled_from(USERS), currency=st.sampled_from(CURRENCIES),
          minor=st.integers(1, 5_000), point=st.sampled_from(PAY_CRASH_POINTS),
          dead=st.booleans())
    def crash_paying(self, user: str, currency: str, minor: int, point: str,
                     dead: bool) -> None:
        """A payment whose process dies at a step boundary or inside the gateway call."""
        reporter = None
        if point.startswith("gateway-"):
            self.gateway.crash_next(after_acting=point == "gateway-after")
        else:
            reporter = CrashingReporter(point)
        try:
            outcome = self.pay_now(user, Money(minor, currency), None, reporter)
        except Crash:
            pass
        else:  # no funds, or the gateway failed (or the breaker refused) before the crash
            status, error = outcome.result.status, outcome.result.error
            assert status is None or (error and error.type) in PAY_ERRORS[status], outcome
        finally:
            self.gateway.disarm()
        self.payments.extend(p.id for p in self.store.read.payments()
                             if p.id not in self.payments)
        if dead:
            self.orphan("payments")

    @precondition(lambda self: self.payments)
    @rule(index=st.integers(0, 10_000), point=st.sampled_from(REFUND_CRASH_POINTS),
          dead=st.booleans())
    def crash_refunding(self, index: int, point: str, dead: bool) -> None:
        """A refund whose process dies at a step boundary or inside the gateway call."""
        payment_id = self.payments[index % len(self.payments)]
        reporter = None
        if point.startswith("gateway-"):
            self.gateway.crash_next(after_acting=point == "gateway-after")
        else:
            reporter = CrashingReporter(point)
        try:
            self.refund_now(payment_id, "1" if index % 2 else None, None, reporter)
        except (Crash, RefundRefused):
            pass
        finally:
            self.gateway.disarm()
        if dead:
            self.orphan("refunds")

    @rule()
    def recover(self) -> None:
        """`recover` reports final states as resolved and the rest as unresolved."""
        result = recovery.recover(self.env()).to_json()
        read = self.store.read
        for entry in result["resolved"]:
            found = (read.refund(entry["refund_id"]) if entry.get("refund_id")
                     else read.payment(entry["payment_id"]))
            assert found is not None and found.is_final, entry
            assert found.status == entry["status"]
        for entry in result["unresolved"]:
            assert entry["status"] in UNFINISHED, entry

    @rule(mode=st.sampled_from(MODES), script=st.lists(st.sampled_from(MODES), max_size=4),
          lookup=st.booleans(), honour_keys=st.booleans())
    def gateway_changes(self, mode: str, script: list[str], lookup: bool,
                        honour_keys: bool) -> None:
        """The gateway starts behaving differently (a few calls scripted, then `mode`)."""
        self.gateway.set_mode(mode, script)
        self.gateway.lookup, self.gateway.honour_keys = lookup, honour_keys

    @rule(approve=st.booleans())
    def gateway_settles(self, approve: bool) -> None:
        """Pending charges settle at the gateway, approved or declined."""
        self.gateway.settle(approve)

    @precondition(lambda self: self.pay_keys)
    @rule(index=st.integers(0, 10_000), same=st.booleans())
    def repeat_pay(self, index: int, same: bool) -> None:
        """A pay key again: the first payment, nothing written; other arguments: exit 6."""
        key = sorted(self.pay_keys)[index % len(self.pay_keys)]
        user, money, payment_id = self.pay_keys[key]
        before, calls = self.events(), self.gateway.calls["charge"]
        if same:
            assert self.pay_now(user, money, key).result.payment_id == payment_id
        else:
            with pytest.raises(IdempotencyConflict):
                self.pay_now(user, Money(money.minor + 1, money.currency), key)
        assert (self.events(), self.gateway.calls["charge"]) == (before, calls)

    @precondition(lambda self: self.credit_keys)
    @rule(index=st.integers(0, 10_000), same=st.booleans())
    def repeat_credit(self, index: int, same: bool) -> None:
        """A credit key again: the first transaction, no money; other arguments: exit 6."""
        key = sorted(self.credit_keys)[index % len(self.credit_keys)]
        user, money, transaction_id = self.credit_keys[key]
        before = self.events()
        if same:
            assert wallet.credit(self.store, user, money, key).transaction_id == transaction_id
        else:
            with pytest.raises(IdempotencyConflict):
                wallet.credit(self.store, user, Money(money.minor + 1, money.currency), key)
        assert self.events() == before

    @precondition(lambda self: self.refund_keys)
    @rule(index=st.integers(0, 10_000), same=st.booleans())
    def repeat_refund(self, index: int, same: bool) -> None:
        """A refund key again: the first refund, nothing written; other arguments: exit 6."""
        key = sorted(self.refund_keys)[index % len(self.refund_keys)]
        payment_id, amount, refund_id = self.refund_keys[key]
        before, calls = self.events(), self.gateway.calls["refund"]
        if same:
            assert self.refund_now(payment_id, amount, key).result.refund_id == refund_id
        else:
            with pytest.raises(IdempotencyConflict):
                self.refund_now(payment_id, "0.01" if amount != "0.01" else "0.02", key)
        assert (self.events(), self.gateway.calls["refund"]) == (before, calls)

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def ledger_agrees(self) -> None:
        """The ledger agrees with itself, with the model and with the gateway's records."""
        self.check_money()
        self.check_charges()
        self.check_refunds()

    def check_money(self) -> None:
        read = self.store.read
        assert all(total == 0 for total in read.currency_sums().values()), read.currency_sums()
        wallets = {(a.user_id, a.currency): a for a in read.accounts() if a.kind == "wallet"}
        holds: Counter[tuple[str, str]] = Counter()
        spent: Counter[tuple[str, str]] = Counter()
        for payment in read.payments():
            owner = (payment.user_id, payment.currency)
            if payment.status in UNFINISHED and payment.hold_id:
                holds[owner] += payment.amount
            if payment.status in CAPTURED:
                spent[owner] += payment.amount - payment.refunded
                assert 0 <= payment.refunded + payment.refund_reserved <= payment.amount
            else:
                assert payment.refunded == payment.refund_reserved == 0, payment
        for owner in set(wallets) | set(self.credited):
            account = wallets.get(owner)
            balance, held = (account.balance, account.held) if account else (0, 0)
            assert balance - held >= 0, owner
            assert held == holds[owner], (owner, held, holds[owner])
            assert balance == self.credited[owner] - spent[owner], owner
        assert not set(holds) - set(wallets)

    def check_charges(self) -> None:
        read = self.store.read
        statuses = {p.id: p for p in read.payments()}
        for charge in self.gateway.charges.values():
            payment = statuses.get(charge.payment_id)
            assert payment is not None, f"a charge for an unknown payment: {charge}"
            if charge.status == "approved":
                assert payment.status in CAPTURED | UNFINISHED, (payment, charge)
        for payment in statuses.values():
            charges = self.gateway.charges_of(payment.id)
            assert len(charges) <= 1, f"charged more than once: {charges}"
            if payment.status in CAPTURED:
                assert charges and charges[0].status == "approved", payment
                assert payment.gateway_ref == charges[0].external_id
            elif payment.status == "FAILED":
                assert not charges or charges[0].status == "declined", (payment, charges)

    def check_refunds(self) -> None:
        read = self.store.read
        keys = self.gateway.refunded_keys()
        assert all(n == 1 for n in keys.values()), f"refunded twice: {keys}"
        for payment in read.payments():
            done = [r for r in read.refunds(payment.id) if r.status == "COMPLETED"]
            open_ = [r for r in read.refunds(payment.id) if r.status in UNFINISHED]
            assert payment.refunded == sum(r.amount for r in done)
            assert payment.refund_reserved == sum(r.amount for r in open_)
            for found in read.refunds(payment.id):
                if found.status == "COMPLETED":
                    assert keys[found.gateway_key] == 1, found
                elif found.status == "FAILED":
                    assert keys[found.gateway_key] == 0, found
            charges = self.gateway.charges_of(payment.id)
            if charges:
                charge = charges[0]
                assert charge.refunded <= charge.amount, charge
                if not open_:
                    shown = Decimal(format_minor(payment.refunded, payment.currency))
                    assert charge.refunded == shown, (payment, charge)
            else:
                assert payment.refunded == 0

    def teardown(self) -> None:
        """Heal the gateway, settle, recover: everything ends final and agreed."""
        try:
            self.gateway.heal()
            self.gateway.settle(approve=True)
            result = recovery.recover(self.env()).to_json()
            assert result["unresolved"] == [], result
            assert not self.store.read.unfinished_payments()
            assert not self.store.read.unfinished_refunds()
            self.ledger_agrees()
            captured = {p.id for p in self.store.read.payments() if p.status in CAPTURED}
            approved = {c.payment_id for c in self.gateway.charges.values()
                        if c.status == "approved"}
            assert captured == approved, captured ^ approved
        finally:
            self.store.close()
            shutil.rmtree(self.folder, ignore_errors=True)


PaycliMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=80, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.mark.slow  # hundreds of generated runs of the sagas, each on a fresh ledger
class TestMoneyModel(PaycliMachine.TestCase):  # type: ignore[misc, valid-type]
    """Random runs of the sagas against the model (see the module docstring)."""
