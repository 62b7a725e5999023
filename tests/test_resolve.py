"""`payments resolve`, `refunds resolve` and `refunds list`: an operator settles a stuck
saga by hand, through the one settle path, with a reason and an actor on the event."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import CliCall
from helpers import ROOT, paycli_env
from test_schema import check

from paycli.gateway.protocol import (
    Answer,
    ChargeRequest,
    GatewayFailure,
    RefundAnswer,
    Rejected,
)
from paycli.gateway.resilience import Resilience
from paycli.ledger import wallet
from paycli.money import Money
from paycli.saga import pay as saga
from paycli.saga import refund as refunds
from paycli.saga.core import SagaEnv
from paycli.saga.steps import SilentReporter
from paycli.store import BreakerStore, Store


class CannotTell:
    """A gateway that approves charges (`pending` with `pending=True`), and loses every
    refund's answer while listing no refunds: what it did is never known."""

    def __init__(self, pending: bool = False) -> None:
        self.pending = pending

    def charge(self, request: ChargeRequest) -> Answer | Rejected:
        return Answer(externalId=f"ext_{request.payment_id}",
                      status="pending" if self.pending else "approved")

    def status(self, external_id: str) -> Answer | None:
        return Answer(externalId=external_id, status="pending" if self.pending else "approved")

    def find_payment(self, payment_id: str) -> Answer | None:
        return self.status(f"ext_{payment_id}")

    def refund(self, external_id: str, amount: str, reason: str,
               idempotency_key: str) -> RefundAnswer | Rejected:
        raise GatewayFailure("no answer from the gateway", sent=True)

    def close(self) -> None:
        """Nothing to close."""


def env_for(store: Store, gateway: CannotTell) -> SagaEnv:
    """A saga environment on `store` with `gateway`, one attempt, no backoff."""
    return SagaEnv(store, lambda: gateway, lambda on: Resilience(
        BreakerStore(on), failures=100, reset_s=30, attempts=1, attempt_timeout_s=1,
        backoff_s=0))


@pytest.fixture
def stuck_payment(store: Store) -> str:
    """A payment left PROCESSING (still pending at the gateway), 10.00 USD held."""
    wallet.credit(store, "alice", Money(100_00, "USD"))
    request = saga.PayRequest("alice", Money(10_00, "USD"), wait_s=0)
    outcome = saga.pay(env_for(store, CannotTell(pending=True)), request, SilentReporter())
    assert outcome.result.status == "PROCESSING"
    return str(outcome.result.payment_id)


@pytest.fixture
def stuck_refund(store: Store) -> str:
    """A refund of 4.00 USD left PROCESSING: the gateway's answer was lost, it lists none."""
    wallet.credit(store, "bob", Money(50_00, "USD"))
    env = env_for(store, CannotTell())
    paid = saga.pay(env, saga.PayRequest("bob", Money(20_00, "USD")), SilentReporter())
    assert paid.result.status == "COMPLETED"
    request = refunds.RefundRequest(str(paid.result.payment_id), "4", "damaged")
    outcome = refunds.refund(env, request, SilentReporter(), 1_000_000)
    assert outcome.result.status == "PROCESSING"
    return str(outcome.result.refund_id)


def as_json(cli: CliCall, *args: str, actor: str = "ops-anna") -> tuple[int, Any]:
    """Run a command with --json as `actor`; (exit code, the JSON object)."""
    result = cli(*args, "--json", env={"PAYCLI_ACTOR": actor})
    return result.exit_code, json.loads(result.stdout)


def balance(store: Store, user: str) -> tuple[int, int]:
    """(balance, held) of a user's USD wallet."""
    account = store.read.account("wallet", user, "USD")
    assert account is not None
    return account.balance, account.held


class TestPaymentsResolve:
    def test_declined_releases_the_hold_and_records_actor_and_reason(
            self, cli: CliCall, store: Store, stuck_payment: str) -> None:
        """FAILED, the hold voided (nothing left the wallet), the event has both."""
        code, out = as_json(cli, "payments", "resolve", stuck_payment, "--declined",
                            "--reason", "support: never charged")
        assert code == 0, out
        check("payments resolve", out)
        assert out["status"] == "FAILED" and out["actor"] == "ops-anna"
        assert out["reason"] == "support: never charged"
        assert balance(store, "alice") == (100_00, 0)
        [settled] = [e for e in store.read.events_of(stuck_payment)
                     if e.type == "payment.failed"]
        assert settled.actor == "ops-anna"
        assert json.loads(settled.payload)["resolution"]["reason"] == "support: never charged"

    def test_approved_posts_the_hold(self, cli: CliCall, store: Store,
                                     stuck_payment: str) -> None:
        """COMPLETED, the money left the wallet once, the gateway reference kept."""
        code, out = as_json(cli, "payments", "resolve", stuck_payment, "--approved",
                            "--reason", "dashboard: captured", "--gateway-ref", "ext_manual")
        assert code == 0 and out["status"] == "COMPLETED"
        assert out["gateway_ref"] == "ext_manual"
        assert balance(store, "alice") == (90_00, 0)
        assert as_json(cli, "replay-events")[1]["consistent"] is True

    def test_a_final_payment_is_refused(self, cli: CliCall, stuck_payment: str) -> None:
        """Resolving a COMPLETED payment exits 9 and changes nothing."""
        assert as_json(cli, "payments", "resolve", stuck_payment, "--approved",
                       "--reason", "first")[0] == 0
        code, out = as_json(cli, "payments", "resolve", stuck_payment, "--declined",
                            "--reason", "second")
        assert code == 9 and out["error"]["type"] == "refused_in_state"
        assert "COMPLETED" in out["error"]["message"]

    @pytest.mark.parametrize(("args", "code"), [
        (("--declined",), 2),                                   # no reason
        (("--declined", "--approved", "--reason", "x"), 2),     # both
        (("--reason", "x"), 2),                                 # neither
    ])
    def test_bad_input_is_a_usage_error(self, cli: CliCall, stuck_payment: str,
                                        args: tuple[str, ...], code: int) -> None:
        """A missing reason or decision is one line, exit 2, nothing written."""
        result = cli("payments", "resolve", stuck_payment, *args)
        assert result.exit_code == code and result.stderr.count("\n") == 1

    def test_an_unknown_payment_is_not_found(self, cli: CliCall, store: Store) -> None:
        """A well-formed id that is not in the ledger exits 7."""
        code, out = as_json(cli, "payments", "resolve", "pay_" + "0" * 24, "--declined",
                            "--reason", "x")
        assert code == 7 and out["error"]["type"] == "not_found"

    @pytest.mark.slow
    def test_two_operators_at_once_one_wins(self, db_path: Path, stuck_payment: str) -> None:
        """Two processes resolving one payment at the same time: one exits 0, one exits 9."""
        runs = [subprocess.Popen(
            [sys.executable, "-m", "paycli", "--db", str(db_path), "payments", "resolve",
             stuck_payment, decision, "--reason", "race", "--json"],
            env=paycli_env(PAYCLI_ACTOR=f"op{n}"), cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True) for n, decision in
            enumerate(("--approved", "--declined"))]
        outputs = [run.communicate(timeout=60) for run in runs]
        codes = sorted(run.returncode for run in runs)
        assert codes == [0, 9], outputs
        with Store(str(db_path)) as store:
            assert store.read.payment(stuck_payment).status in ("COMPLETED", "FAILED")
            assert balance(store, "alice")[1] == 0


class TestRefunds:
    def test_list_shows_stuck_refunds(self, cli: CliCall, stuck_refund: str) -> None:
        """`refunds list --status PROCESSING` shows the stuck refund with its payment."""
        code, out = as_json(cli, "refunds", "list", "--status", "processing")
        assert code == 0
        assert [r["refund_id"] for r in out["refunds"]] == [stuck_refund]
        assert set(out["refunds"][0]) >= {"refund_id", "payment_id", "amount", "currency",
                                          "status", "reason", "created_at"}
        assert out["refunds"][0]["amount"] == "4.00"

    def test_refunded_credits_the_wallet_once(self, cli: CliCall, store: Store,
                                              stuck_refund: str) -> None:
        """The wallet gets the 4.00 back exactly once; a second resolve is refused."""
        before = balance(store, "bob")
        code, out = as_json(cli, "refunds", "resolve", stuck_refund, "--refunded",
                            "--reason", "dashboard: refunded")
        assert code == 0 and out["status"] == "COMPLETED"
        check("refunds resolve", out)
        assert out["payment_status"] == "PARTIALLY_REFUNDED" and out["actor"] == "ops-anna"
        assert out["refund_reason"] == "damaged" and out["reason"] == "dashboard: refunded"
        assert balance(store, "bob") == (before[0] + 4_00, 0)
        assert as_json(cli, "refunds", "resolve", stuck_refund, "--failed",
                       "--reason", "again")[0] == 9
        assert balance(store, "bob") == (before[0] + 4_00, 0)
        assert as_json(cli, "replay-events")[1]["consistent"] is True

    def test_failed_releases_the_reservation(self, cli: CliCall, store: Store,
                                             stuck_refund: str) -> None:
        """The wallet is untouched and the payment can be refunded again in full."""
        before = balance(store, "bob")
        code, out = as_json(cli, "refunds", "resolve", stuck_refund, "--failed",
                            "--reason", "support: refund bounced")
        assert code == 0 and out["status"] == "FAILED"
        assert balance(store, "bob") == before
        payment = store.read.payment(store.read.refund(stuck_refund).payment_id)
        assert payment is not None and payment.refundable == 20_00
