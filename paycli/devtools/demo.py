"""`paycli demo`: the seed system's scenarios, one after another, against a mock gateway
started for the run, with a verdict for each.

Credit 1,000 USD to `user_test_001`; pay 10, 50 and 500; pay 5,000 (insufficient funds);
a declined card; the gateway going down (retries, then the breaker opens and the next
payment fails at once), coming back (one half-open probe closes it); a pending charge that
settles; the same order paid twice (charged once); a partial then a full refund; a
billing run of 20 orders through `paycli batch`'s engine (group commit), run twice (the
second run charges nobody); and `replay-events` verifying the whole log. The terminal
layer draws it through the callbacks given; nothing here prints.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from paycli.config import Settings
from paycli.devtools.mock_process import MockGatewayProcess
from paycli.errors import PaycliError
from paycli.ledger import postings, wallet
from paycli.ledger.batchfile import BatchRow
from paycli.ledger.replay import replay_events
from paycli.money import Money, parse_amount
from paycli.saga import pay as saga
from paycli.saga import refund as refunds
from paycli.saga.batch import Batch, BatchOptions
from paycli.saga.core import Outcome
from paycli.saga.steps import Reporter
from paycli.saga.wiring import saga_env
from paycli.store import BreakerStore, Store

USER = "user_test_001"
BILLING_ROWS = 20
API_KEY = "demo-api-key"


@dataclass(frozen=True)
class ScenarioResult:
    """One line of the demo's summary."""

    scenario: str
    expected: str
    got: str
    payment_id: str | None
    balance: str

    @property
    def ok(self) -> bool:
        """Whether the scenario behaved as expected."""
        return self.expected == self.got


def _usd(amount: str) -> Money:
    return parse_amount(amount, "USD", 1_000_000)


def _got(outcome: Outcome) -> str:
    status = outcome.result.status or "REFUSED"
    return f"{status} (exit {outcome.error.exit_code if outcome.error else 0})"


class Demo:
    """Runs the scenarios against one ledger and one mock gateway."""

    def __init__(self, store: Store, mock: MockGatewayProcess, fast: bool,
                 reporter: Callable[[str], Reporter],
                 announce: Callable[[str, str | None], None]) -> None:
        self.store, self.mock, self.fast = store, mock, fast
        self.reset_s = 1.0 if fast else 3.0
        self.settings = Settings(overrides={
            "gateway_url": mock.url, "gateway_api_key": API_KEY, "gateway_timeout": 2.0,
            "retry_attempts": 3, "breaker_failures": 5, "breaker_reset_seconds": self.reset_s,
            "log_file": None,
        }, env={})
        self.reporter, self.announce = reporter, announce
        self.results: list[ScenarioResult] = []
        self.payments: dict[str, str] = {}

    def _balance(self) -> str:
        return wallet.balance(self.store.read, USER, "USD").balance

    def _record(self, scenario: str, expected: str, got: str, payment_id: str | None) -> None:
        self.results.append(ScenarioResult(scenario, expected, got, payment_id, self._balance()))

    def pay(self, scenario: str, amount: str, expected: str, order_id: str | None = None,
            repeat: bool = False) -> Outcome:
        """Run one payment with the live view and record its verdict; a repeated order
        draws no panel, so its heading comes after, over the stored result."""
        if not repeat:
            self.announce(scenario, None)
        env = saga_env(self.store, self.settings)
        reporter = self.reporter("Payment")
        request = saga.PayRequest(USER, _usd(amount), order_id,
                                  wait_s=10)
        try:
            outcome = saga.pay(env, request, reporter)
        finally:
            env.close()
        reporter.finish(outcome.result, outcome.error)
        if repeat:
            self.announce(scenario, f"already paid: {outcome.result.payment_id} "
                                    f"{outcome.result.status} (no new charge)")
        self._record(scenario, expected, _got(outcome), outcome.result.payment_id)
        return outcome

    def refund(self, scenario: str, payment_id: str, amount: str | None, expected: str
               ) -> None:
        """Run one refund with the live view and record its verdict."""
        self.announce(scenario, None)
        env = saga_env(self.store, self.settings)
        reporter = self.reporter("Refund")
        try:
            outcome = refunds.refund(env, refunds.RefundRequest(payment_id, amount, "demo"),
                                     reporter, 1_000_000)
        finally:
            env.close()
        reporter.finish(outcome.result, outcome.error)
        self._record(scenario, expected, _got(outcome), payment_id)

    def run(self) -> list[ScenarioResult]:
        """Every scenario, in order."""
        credited = wallet.credit(self.store, USER, _usd("1000"))
        self.announce("Credit 1,000.00 USD to user_test_001",
                      f"balance {credited.balance} USD ({credited.transaction_id})")
        self._record("Credit 1,000 USD", "1000.00", self._balance(), None)
        self._happy_path()
        self._gateway_trouble()
        self._pending_and_duplicates()
        self._refunds()
        self._billing_run()
        self._replay()
        return self.results

    def _happy_path(self) -> None:
        for amount in ("10", "50", "500"):
            outcome = self.pay(f"Pay {amount} USD", amount, "COMPLETED (exit 0)")
            self.payments[amount] = str(outcome.result.payment_id)
        self.pay("Pay 5,000 USD (more than the wallet holds)", "5000", "REFUSED (exit 3)")
        self.mock.set_mode("decline")
        self.pay("A declined card", "20", "FAILED (exit 4)")

    def _gateway_trouble(self) -> None:
        self.mock.set_mode("down")
        self.pay("Gateway down: retries, then gives up", "20", "FAILED (exit 5)")
        self.pay("Gateway still down: the breaker opens", "20", "FAILED (exit 5)")
        before = self.mock.requests()
        self.pay("Breaker open: fails at once, no call made", "20", "FAILED (exit 5)")
        calls = self.mock.requests() - before
        self._record("No HTTP call while the breaker is open", "0 calls", f"{calls} calls", None)
        self.mock.set_mode("ok")
        # No heading of its own: the probe's scenario below says what the wait was for.
        time.sleep(self.reset_s + 0.1)
        self.pay("Gateway back: one half-open probe", "20", "COMPLETED (exit 0)")
        state = BreakerStore(self.store).read().state
        self._record("The probe closed the breaker", "closed", state, None)

    def _pending_and_duplicates(self) -> None:
        self.mock.set_mode("pending", latency_ms=500 if self.fast else 2000)
        self.pay("A pending charge that settles", "30", "COMPLETED (exit 0)")
        self.mock.set_mode("ok")
        first = self.pay("Order demo-order-1", "40", "COMPLETED (exit 0)", "demo-order-1")
        again = self.pay("The same order again (charged once)", "40", "COMPLETED (exit 0)",
                         "demo-order-1", repeat=True)
        payment_id = first.result.payment_id
        charged = sum(1 for c in self.mock.charges() if c["payment_id"] == payment_id)
        same = "same payment" if again.result.payment_id == payment_id else "a new payment"
        self._record("Paid twice, charged once", "same payment, 1 charge",
                     f"{same}, {charged} charge{'s' if charged != 1 else ''}", payment_id)

    def _refunds(self) -> None:
        payment_id = self.payments["500"]
        self.refund("Partial refund: 100 of the 500", payment_id, "100",
                    "COMPLETED (exit 0)")
        self.refund("Full refund of the rest", payment_id, None, "COMPLETED (exit 0)")
        payment = self.store.read.payment(payment_id)
        self._record("The 500 payment is refunded", "REFUNDED",
                     payment.status if payment else "missing", payment_id)

    def _billing_run(self) -> None:
        rows = [BatchRow(number + 2, USER, _usd("1"), f"demo-bill-{number + 1}", None)
                for number in range(BILLING_ROWS)]
        runs = []
        for scenario, expected in ((f"Billing run of {BILLING_ROWS} orders",
                                    f"{BILLING_ROWS} completed"),
                                   ("The same billing run again", f"{BILLING_ROWS} skipped")):
            ended = self._run_batch(rows)
            got = ", ".join(f"{count} {status}" for status, count in sorted(ended.items()))
            self._record(scenario, expected, got, None)
            runs.append(got)
        self.announce(f"A billing run: {BILLING_ROWS} orders of 1 USD charged together "
                      "(group commit), then the same file again",
                      f"first run: {runs[0]}; again: {runs[1]}")

    def _run_batch(self, rows: list[BatchRow]) -> Counter[str]:
        """Run the rows through the batch engine; how many ended in each status."""
        ended: Counter[str] = Counter()
        env = saga_env(self.store, self.settings)
        try:
            Batch(env, postings.new_id("bat"), BatchOptions(concurrency=4, wait_s=10),
                  lambda outcome: ended.update([outcome.status])).run(rows)
        finally:
            env.close()
        return ended

    def _replay(self) -> None:
        try:
            result = replay_events(self.store)
            got = "consistent" if result.consistent and result.chain_ok else "MISMATCH"
        except PaycliError as exc:
            got = f"error: {exc.message}"
        self.announce("replay-events: rebuild the ledger from its event log and compare", got)
        self._record("replay-events verifies the whole log", "consistent", got, None)


def run_demo(store: Store, fast: bool, reporter: Callable[[str], Reporter],
             announce: Callable[[str, str | None], None]) -> list[ScenarioResult]:
    """Start the mock gateway, run every scenario on `store`, stop the gateway."""
    with MockGatewayProcess(API_KEY) as mock:
        return Demo(store, mock, fast, reporter, announce).run()
