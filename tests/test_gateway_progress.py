"""What the ProcessPayment and ProcessRefund steps tell the operator about the gateway: the
retry history on success, every poll of a pending charge with its deadline, a pending
charge that settles ending as a success, and the run on which the circuit breaker opens
saying what happened instead of claiming no call was made.

Driven against the real mock gateway over HTTP: in process where the step's own updates
are read, as `paycli` processes where the exit code and the ledger are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from gateway_server import API_KEY
from helpers import paycli_env, run_json, wallet

from paycli.devtools.mock_process import MockGatewayProcess
from paycli.gateway.http import HttpGateway
from paycli.gateway.resilience import Resilience
from paycli.ledger import wallet as wallets
from paycli.money import parse_amount
from paycli.records import Payment, PaymentStatus, Refund, RefundStatus, StepStatus
from paycli.results.payments import PayResult, RefundResult
from paycli.saga import calls
from paycli.saga import pay as saga
from paycli.saga.core import Decision, SagaEnv
from paycli.saga.steps import Step, StepUpdate
from paycli.store import BreakerStore, Store

TIMES = "\N{MULTIPLICATION SIGN}"
PAYMENT_ID = f"pay_{'c' * 24}"


class Recorder:
    """A reporter that keeps a copy of every step update it is told of."""

    def __init__(self) -> None:
        self.updates: list[StepUpdate] = []

    def started(self, details: dict[str, Any]) -> None:
        """Nothing to keep."""

    def step(self, update: StepUpdate) -> None:
        """Keep a snapshot: the saga goes on changing the same object."""
        self.updates.append(replace(update))

    def finish(self, result: PayResult | RefundResult, error: object) -> None:
        """Nothing to keep."""

    def details(self, name: str, status: StepStatus) -> list[str]:
        """The details shown for step `name` while in `status`, in order."""
        return [u.detail for u in self.updates if u.name == name and u.status == status]


@pytest.fixture
def env(store: Store, gateway: MockGatewayProcess) -> Iterator[SagaEnv]:
    """A saga environment on the test's ledger and the mock gateway: 3 attempts, no
    backoff, a breaker that opens after 5 failures."""
    saga_env = environment(store, gateway, failures=5)
    yield saga_env
    saga_env.close()


def environment(store: Store, gateway: MockGatewayProcess, failures: int) -> SagaEnv:
    """A saga environment whose breaker opens after `failures` failed attempts."""
    return SagaEnv(
        store, gateway=lambda: HttpGateway(gateway.url, API_KEY, 2.0),
        resilience=lambda on: Resilience(BreakerStore(on), failures=failures, reset_s=30.0,
                                      attempts=3, attempt_timeout_s=2.0, backoff_s=0.0,
                                      max_backoff_s=0.0))


def step_of(name: str, reporter: Recorder | None = None) -> Step:
    """A running step reporting to `reporter`."""
    return Step(StepUpdate(name, StepStatus.RUNNING), reporter or Recorder())


def payment_record() -> Payment:
    """A payment as the saga hands it to `calls.charge`."""
    return Payment(id=PAYMENT_ID, user_id="alice", currency="USD", amount=1000,
                   order_id=None, idempotency_key=None, gateway_key=f"paycli-{PAYMENT_ID}",
                   status=PaymentStatus.PROCESSING, gateway_ref=None, hold_id=None, refunded=0,
                   refund_reserved=0, error_type=None, error_message=None, owner=None,
                   created_at="now", updated_at="now")


def refund_record(gateway_ref: str) -> Refund:
    """A refund of 1.00 of the charge `gateway_ref`, as the saga hands it to `calls.refund`."""
    return Refund(id=f"ref_{'d' * 24}", payment_id=PAYMENT_ID, currency="USD", amount=100,
                  reason=None, idempotency_key=None, gateway_key=f"paycli-ref_{'d' * 24}",
                  status=RefundStatus.PROCESSING, gateway_ref=gateway_ref, transfer_id=None,
                  error_type=None, error_message=None, owner=None, created_at="now",
                  updated_at="now")


class TestRetryHistory:
    def test_an_approved_charge_keeps_its_failed_attempts(
            self, env: SagaEnv, gateway: MockGatewayProcess) -> None:
        """Two 503s then approval: the step's final text says on which attempt, after
        what (identical reasons counted), not just "approved"."""
        gateway.set_mode("flaky", count=2)
        step = step_of("ProcessPayment")
        verdict = calls.charge(env, payment_record(), step, 1.0)
        assert verdict.decision == Decision.SUCCEEDED
        assert step.update.detail == (f"approved ({verdict.gateway_ref}) on attempt 3/3 "
                                      f"after 2 {TIMES} gateway error (HTTP 503)")

    def test_a_first_time_approval_says_only_that(self, env: SagaEnv) -> None:
        """No retries: `approved (ext_…)`, with no attempt count."""
        step = step_of("ProcessPayment")
        verdict = calls.charge(env, payment_record(), step, 1.0)
        assert step.update.detail == f"approved ({verdict.gateway_ref})"

    def test_a_refund_keeps_its_failed_attempts(
            self, env: SagaEnv, gateway: MockGatewayProcess) -> None:
        """One 503 then the refund: `refunded (rf_…) on attempt 2/3 after 1 (times) gateway
        error (HTTP 503)`."""
        charged = calls.charge(env, payment_record(), step_of("ProcessPayment"), 1.0)
        gateway.set_mode("flaky", count=1)
        step = step_of("ProcessRefund")
        verdict = calls.refund(env, refund_record(str(charged.gateway_ref)), step)
        assert verdict.decision == Decision.SUCCEEDED
        assert step.update.detail == (f"refunded ({verdict.gateway_ref}) on attempt 2/3 "
                                      f"after 1 {TIMES} gateway error (HTTP 503)")

    @pytest.mark.slow  # paycli as real processes
    def test_the_command_line_shows_the_history(
            self, db_path: Path, gateway: MockGatewayProcess, tmp_path: Path) -> None:
        """`pay` through two 503s logs the ProcessPayment step with its history (needs
        the pay saga to keep the text `calls.charge` leaves on the step)."""
        log = tmp_path / "paycli.jsonl"
        env = paycli_env(gateway.url, PAYCLI_LOG_FILE=str(log))
        run_json(db_path, "wallet", "credit", "--user", "alice", "--amount", "100", env=env)
        gateway.set_mode("flaky", count=2)
        code, out = run_json(db_path, "pay", "--user", "alice", "--amount", "10", env=env)
        assert code == 0
        [detail] = [line["detail"] for line in map(json.loads, log.read_text().splitlines())
                    if line.get("event") == "step" and line.get("name") == "ProcessPayment"]
        assert detail == (f"approved ({out['gateway_ref']}) on attempt 3/3 "
                          f"after 2 {TIMES} gateway error (HTTP 503)")


POLL = re.compile(r"pending at the gateway \(ext_\w+\): poll (\d+), waiting up to (\d+) s more")


class TestPending:
    def test_every_poll_is_shown_with_its_deadline_and_the_step_succeeds(
            self, store: Store, env: SagaEnv, gateway: MockGatewayProcess) -> None:
        """While a charge is pending, each poll updates the step (`poll N, waiting up to
        S s more`, S falling); once approved the step ends a success, not PENDING, and
        says how long it was pending."""
        wallets.credit(store, "alice", parse_amount("100", "USD"))
        gateway.set_mode("pending", latency_ms=1200)
        reporter = Recorder()
        outcome = saga.pay(env, saga.PayRequest("alice", parse_amount("10", "USD"),
                                                wait_s=20.0), reporter)
        assert outcome.error is None
        polls = [POLL.fullmatch(d) for d in reporter.details("ProcessPayment",
                                                              StepStatus.PENDING)]
        numbers = [int(m.group(1)) for m in polls if m]  # a poll's number, then its countdown
        assert len(set(numbers)) >= 3 and sorted(set(numbers)) == list(range(1, max(numbers) + 1))
        assert numbers == sorted(numbers)
        seconds = [int(m.group(2)) for m in polls if m]
        assert seconds[0] in (19, 20) and seconds == sorted(seconds, reverse=True)
        process = next(s for s in outcome.result.steps if s.name == "ProcessPayment")
        assert process.status == "success"
        ref = outcome.result.gateway_ref
        assert any(re.fullmatch(rf"approved \({ref}\) after 1\.\d s pending", u.detail)
                   for u in reporter.updates if u.name == "ProcessPayment")

    @pytest.mark.slow  # paycli as real processes
    def test_the_command_line_step_ends_a_success(
            self, db_path: Path, gateway: MockGatewayProcess) -> None:
        """`pay --json` of a charge that was pending, then approved: ProcessPayment is
        `success` in the steps, the payment COMPLETED."""
        env = paycli_env(gateway.url)
        run_json(db_path, "wallet", "credit", "--user", "alice", "--amount", "100", env=env)
        gateway.set_mode("pending", latency_ms=300)
        code, out = run_json(db_path, "pay", "--user", "alice", "--amount", "10", env=env)
        assert code == 0 and out["status"] == "COMPLETED"
        assert {s["name"]: s["status"] for s in out["steps"]}["ProcessPayment"] == "success"


class TestTheBreakerOpeningMidRun:
    @pytest.mark.slow  # paycli as real processes
    def test_the_run_that_opens_it_says_what_happened(
            self, db_path: Path, gateway: MockGatewayProcess) -> None:
        """Attempts 1 and 2 fail and open the breaker, attempt 3 is refused: the message
        says 2 attempts were made, the last one's failure, and that the breaker opened;
        the next run, refused before any call, keeps "no call was made"."""
        env = paycli_env(gateway.url, PAYCLI_BREAKER_FAILURES="2")
        run_json(db_path, "wallet", "credit", "--user", "alice", "--amount", "100", env=env)
        gateway.set_mode("down")
        code, out = run_json(db_path, "pay", "--user", "alice", "--amount", "10", env=env)
        message = out["error"]["message"]
        assert code == 5 and gateway.requests() == 2
        assert "2 attempts made" in message and "gateway error (HTTP 503)" in message
        assert "circuit breaker opened" in message and "no call was made" not in message
        assert wallet(db_path, "alice") == (10000, 0)
        code, out = run_json(db_path, "pay", "--user", "alice", "--amount", "10", env=env)
        assert code == 5 and "no call was made" in out["error"]["message"]
        assert gateway.requests() == 2

    def test_a_refund_says_it_too(self, store: Store, gateway: MockGatewayProcess) -> None:
        """A refund whose retries open the breaker tells the same story."""
        env = environment(store, gateway, failures=2)
        try:
            charged = calls.charge(env, payment_record(), step_of("ProcessPayment"), 1.0)
            gateway.set_mode("down")
            verdict = calls.refund(env, refund_record(str(charged.gateway_ref)),
                                   step_of("ProcessRefund"))
        finally:
            env.close()
        assert verdict.decision == Decision.UNAVAILABLE and verdict.message is not None
        assert verdict.message.startswith("gateway unavailable: 2 attempts made, the last "
                                          "failed with gateway error (HTTP 503), and the "
                                          "circuit breaker opened")
        assert verdict.message.endswith("nothing was refunded")
