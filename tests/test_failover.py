"""Two gateways, failover without double charges: each test starts two mock gateways on
two ports and lists them in `PAYCLI_GATEWAYS` (`primary`, then `backup`).

- A billing run with the primary `down` for its middle third: every payment completed or
  failed with a recorded reason, both gateways' charges sum to the ledger's COMPLETED
  total, no payment charged at both, the breakers as expected.
- Lost answers at the primary, then the primary gone: those payments stay with the
  primary, PROCESSING, and settle by look-up once it is back; none is charged at the
  backup, while new payments fail over to it.
- SIGKILL at random moments of a failover, then `recover`: no double charge.
- `--gateway NAME` honoured; an unknown NAME exits 2 with nothing written.

`PAYMENTS` (300) keeps the suite fast; `PAYCLI_FAILOVER_PAYMENTS=1000` runs the issue's
figure by hand.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import paycli_env, run, run_json, spawn

from paycli.config import Settings
from paycli.devtools.mock_process import MockGatewayProcess
from paycli.gateway.protocol import Answer, ChargeRequest, Gateway, GatewayFailure, Rejected
from paycli.money import parse_amount
from paycli.records import PaymentStatus
from paycli.saga import pay as saga
from paycli.saga.core import Gateways, SagaEnv
from paycli.saga.steps import SilentReporter
from paycli.saga.wiring import saga_env
from paycli.store import Store

API_KEY = "test-api-key"
PAYMENTS = int(os.environ.get("PAYCLI_FAILOVER_PAYMENTS", "300"))
KILLS = 20
pytestmark = pytest.mark.parametrize("backend", ["sqlite", pytest.param(
    "postgresql", marks=pytest.mark.postgresql)], indirect=True)


@pytest.fixture
def mocks(tmp_path: Path) -> Iterator[tuple[MockGatewayProcess, MockGatewayProcess]]:
    """Two fresh mocks, one of each protocol: the primary speaks paycli's, the backup the
    Stripe-shaped one. The primary keeps its charges in a state file, so that it can be
    stopped and started again with what it holds."""
    primary = MockGatewayProcess(API_KEY, "--state", str(tmp_path / "primary.json"))
    backup = MockGatewayProcess(API_KEY, "--protocol", "stripe")
    with primary, backup:
        yield primary, backup


def two_env(mocks: tuple[MockGatewayProcess, MockGatewayProcess], **extra: str
            ) -> dict[str, str]:
    """paycli's environment with both mocks listed, primary first; a short breaker reset."""
    primary, backup = mocks
    return paycli_env(PAYCLI_GATEWAYS=f"primary={primary.url},backup={backup.url}|stripe",
                      PAYCLI_BREAKER_RESET_SECONDS="1", PAYCLI_GATEWAY_TIMEOUT="1", **extra)


def fund(db: Path, env: dict[str, str], amount: str) -> None:
    """Credit alice with `amount` USD."""
    code, out = run_json(db, "wallet", "credit", "--user", "alice", "--amount", amount,
                         env=env)
    assert code == 0, out


def approved(mock: MockGatewayProcess) -> dict[str, Decimal]:
    """The mock's approved charges: payment id to amount."""
    return {c["payment_id"]: Decimal(str(c["amount"])) for c in mock.charges()
            if c["status"] in ("approved", "refunded")}


def assert_no_double_charge(db: Path, mocks: tuple[MockGatewayProcess, ...]) -> dict[str, Any]:
    """No payment charged at both; the charges' sum is the ledger's COMPLETED total; every
    COMPLETED payment's recorded gateway is the one that holds its charge."""
    at = [approved(mock) for mock in mocks]
    assert not set(at[0]) & set(at[1]), "charged at both gateways"
    with Store(str(db)) as store:
        payments = store.read.payments()
    completed = {p.id: p for p in payments if p.status == PaymentStatus.COMPLETED}
    assert set(completed) == set(at[0]) | set(at[1])
    total = sum(Decimal(p.amount) / 100 for p in completed.values())
    assert total == sum(at[0].values()) + sum(at[1].values())
    for name, charged in zip(("primary", "backup"), at, strict=True):
        assert all(completed[pid].gateway == name for pid in charged)
    return {"payments": payments, "primary": len(at[0]), "backup": len(at[1])}


def billing_file(path: Path, start: int, count: int) -> Path:
    """A CSV billing run of `count` 1.00 USD rows for alice, orders start..start+count-1."""
    path.write_text("user,amount,currency,order_id\n" + "".join(
        f"alice,1.00,USD,o-{number}\n" for number in range(start, start + count)))
    return path


class TestPrimaryDownForTheMiddleThird:
    @pytest.mark.slow
    def test_every_payment_ends_once_and_the_charges_add_up(
            self, db_path: Path, tmp_path: Path,
            mocks: tuple[MockGatewayProcess, MockGatewayProcess]) -> None:
        """Three billing runs of PAYMENTS/3 rows; the primary `down` during the second:
        each row completed (at one gateway) or failed with its reason recorded."""
        primary = mocks[0]
        env = two_env(mocks)
        fund(db_path, env, str(PAYMENTS))
        third = PAYMENTS // 3
        for number, mode in enumerate(("ok", "down", "ok")):
            primary.set_mode(mode)
            if number == 2:
                time.sleep(1.2)  # the primary's breaker may probe again
            count = third if number < 2 else PAYMENTS - 2 * third
            rows = billing_file(tmp_path / f"run{number}.csv", number * third, count)
            done = run(db_path, "batch", str(rows), "--json", env=env, timeout=600)
            assert done.returncode in (0, 5), done.stderr
        found = assert_no_double_charge(db_path, mocks)
        payments = found["payments"]
        assert len(payments) == PAYMENTS
        assert all(p.status in (PaymentStatus.COMPLETED, PaymentStatus.FAILED)
                   for p in payments)
        assert all(p.error_type for p in payments if p.status == PaymentStatus.FAILED)
        # The first run and most of the last at the primary; in the middle one, the few
        # charges in flight as it went down fail (a 503 never moves a charge), the rest
        # fail over once its breaker opens.
        assert found["primary"] >= third and found["backup"] >= third // 2
        status = run_json(db_path, "gateway", "status", env=env)[1]
        assert [g["state"] for g in status["gateways"]] == ["closed", "closed"]
        # `stats --by gateway` counts each payment at the gateway that took its charge.
        code, stats = run_json(db_path, "stats", "--by", "gateway", env=env)
        completed = {group["key"]: group["completed"] for group in stats["groups"]}
        assert code == 0 and completed == {"primary": found["primary"],
                                           "backup": found["backup"]}, stats["groups"]
        print(f"\n{len(payments)} payments: {found['primary']} at the primary, "
              f"{found['backup']} at the backup, "
              f"{sum(p.status == 'FAILED' for p in payments)} failed")


class _StopsAfterLostAnswer:
    """The primary's client, which stops the primary right after a charge's answer was
    lost: the charge is there, and nothing can ask about it until it is started again."""

    def __init__(self, inner: Gateway, mock: MockGatewayProcess) -> None:
        self.inner, self.mock = inner, mock

    def charge(self, request: ChargeRequest) -> Answer | Rejected:
        """The charge; on a lost answer the primary goes away."""
        try:
            return self.inner.charge(request)
        except GatewayFailure as exc:
            if exc.sent:
                self.mock._end_child()
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class TestALostAnswerStaysWithItsGateway:
    def test_lost_answers_stay_processing_at_the_primary_then_settle_by_look_up(
            self, db_path: Path, mocks: tuple[MockGatewayProcess, MockGatewayProcess]
            ) -> None:
        """The primary loses a charge's answer, then is gone: that payment stays with the
        primary, PROCESSING, funds held; the next payment fails over to the backup; once
        the primary is back `recover` completes the first by look-up; nothing of the
        first is ever sent to the backup."""
        primary, backup = mocks
        env = two_env(mocks)
        fund(db_path, env, "10")
        primary.set_mode("lost-response", count=1)
        settings = Settings(env=env)
        with Store(str(db_path)) as store:
            made = saga_env(store, settings)
            assert made.gateways is not None
            real = made.gateways

            def client(name: str) -> Gateway:
                inner = real.client(name)
                return _StopsAfterLostAnswer(inner, primary) if name == "primary" else inner

            gateways = Gateways(real.names, client, real.resilience)
            env_two = SagaEnv(store, lambda: client("primary"),
                              lambda on: real.resilience("primary", on),
                              gateways=gateways, route="primary")
            first = saga.pay(env_two, saga.PayRequest("alice", parse_amount("3", "USD")),
                             SilentReporter())
            second = saga.pay(env_two, saga.PayRequest("alice", parse_amount("2", "USD")),
                              SilentReporter())
            env_two.close()
        assert first.result.status == PaymentStatus.PROCESSING
        assert second.result.status == PaymentStatus.COMPLETED
        assert backup.requests() >= 1 and first.result.payment_id not in approved(backup)
        code, out = run_json(db_path, "payments", "show", str(first.result.payment_id),
                             env=env)
        assert out["gateway"] == "primary" and out["status"] == "PROCESSING"
        code, out = run_json(db_path, "recover", env=env)
        assert code == 10 and out["unresolved"]  # the primary cannot be asked yet
        primary.start()
        code, out = run_json(db_path, "recover", env=env)
        assert code == 0, out
        assert out["resolved"] == [{"payment_id": first.result.payment_id,
                                    "status": "COMPLETED"}]
        found = assert_no_double_charge(db_path, mocks)
        assert (found["primary"], found["backup"]) == (1, 1)


class TestFailoverIsDurable:
    def test_a_refused_connection_moves_the_payment_with_its_event(
            self, db_path: Path, mocks: tuple[MockGatewayProcess, MockGatewayProcess]
            ) -> None:
        """The primary refuses connections: the payment moves to the backup (its event
        names both), is charged there, and the live view says so."""
        primary = mocks[0]
        env = two_env(mocks)
        fund(db_path, env, "10")
        primary._end_child()
        done = run(db_path, "pay", "--user", "alice", "--amount", "4", env=env)
        assert done.returncode == 0, done.stderr
        assert "failing over to backup" in done.stdout and "at backup" in done.stdout
        code, out = run_json(db_path, "payments", "list", "--gateway", "backup", env=env)
        [payment] = out["payments"]
        assert code == 0
        assert payment["gateway"] == "backup" and payment["status"] == "COMPLETED"
        _, shown = run_json(db_path, "payments", "show", payment["payment_id"], env=env)
        moved = [e for e in shown["events"] if e["type"] == "payment.gateway_changed"]
        assert len(moved) == 1 and moved[0]["moved_from"] == "primary"
        assert run_json(db_path, "replay-events", env=env)[0] == 0
        primary.start()
        assert_no_double_charge(db_path, mocks)

    def test_a_5xx_never_moves_the_payment(
            self, db_path: Path, mocks: tuple[MockGatewayProcess, MockGatewayProcess]
            ) -> None:
        """A 503 may follow a charge made behind a proxy: the payment fails at the primary
        (nothing charged there, hold released), and the backup never hears of it."""
        primary, backup = mocks
        env = two_env(mocks, PAYCLI_BREAKER_FAILURES="50")
        fund(db_path, env, "10")
        primary.set_mode("down")
        done = run(db_path, "pay", "--user", "alice", "--amount", "4", env=env)
        assert done.returncode == 5 and backup.requests() == 0


class TestChoosingTheGateway:
    def test_gateway_name_is_honoured_and_an_unknown_one_writes_nothing(
            self, db_path: Path, mocks: tuple[MockGatewayProcess, MockGatewayProcess]
            ) -> None:
        """--gateway backup charges at the backup; --gateway nowhere exits 2, nothing
        written; an open primary breaker sends a new payment to the backup."""
        primary, backup = mocks
        env = two_env(mocks)
        fund(db_path, env, "10")
        code, out = run_json(db_path, "pay", "--user", "alice", "--amount", "1",
                             "--gateway", "backup", env=env)
        assert code == 0 and out["payment_id"] in approved(backup)
        done = run(db_path, "pay", "--user", "alice", "--amount", "1", "--gateway",
                   "nowhere", env=env)
        assert done.returncode == 2 and "no such gateway" in done.stderr
        with Store(str(db_path)) as store:
            assert len(store.read.payments()) == 1
        assert run_json(db_path, "gateway", "status", env=env)[0] == 0
        code, out = run_json(db_path, "pay", "--user", "alice", "--amount", "1", env=env)
        assert code == 0 and out["payment_id"] in approved(primary)


class TestKilledDuringFailover:
    @pytest.mark.slow
    def test_no_double_charge_after_recover(
            self, db_path: Path, mocks: tuple[MockGatewayProcess, MockGatewayProcess]
            ) -> None:
        """KILLS payments killed (SIGKILL) at random moments while the primary refuses
        connections; with the primary back, `recover` leaves none charged twice."""
        primary = mocks[0]
        env = two_env(mocks)
        fund(db_path, env, str(KILLS * 2))
        primary._end_child()
        chance = random.Random(24)
        for _ in range(KILLS):
            process = spawn(db_path, "pay", "--user", "alice", "--amount", "1", "--json",
                            env=env)
            time.sleep(chance.uniform(0.2, 1.6))
            process.send_signal(signal.SIGKILL)
            process.communicate()
        primary.start()
        code, out = run_json(db_path, "recover", env=env)
        assert code == 0, out
        found = assert_no_double_charge(db_path, mocks)
        assert all(p.is_final for p in found["payments"])
        with Store(str(db_path)) as store:
            assert all(a.held == 0 for a in store.read.accounts())


class TestReconcileEveryGateway:
    def test_every_gateways_report_is_read_and_each_break_named(
            self, db_path: Path, mocks: tuple[MockGatewayProcess, MockGatewayProcess]
            ) -> None:
        """One payment at each gateway match their own reports; a charge the backup took
        for nobody is `missing_in_ledger`, named `backup`, with its line in backup's own
        report; --gateway NAME reads that one report against that gateway's payments."""
        primary, backup = mocks
        env = two_env(mocks)
        fund(db_path, env, "10")
        for name in ("primary", "backup"):
            assert run_json(db_path, "pay", "--user", "alice", "--amount", "1",
                            "--gateway", name, env=env)[0] == 0
        stranger = "pay_" + "f" * 24
        answer = httpx.post(f"{backup.url}/v1/payment_intents",  # the Stripe-shaped API
                            headers={"Authorization": f"Bearer {API_KEY}"},
                            data={"amount": "200", "currency": "usd", "confirm": "true",
                                  "metadata[payment_id]": stranger})
        assert answer.status_code == 200
        code, out = run_json(db_path, "reconcile", "--from-gateway", env=env)
        assert code == 8 and out["matched"] == 2
        [found] = out["breaks"]
        assert (found["kind"], found["payment_id"], found["gateway"]) == (
            "missing_in_ledger", stranger, "backup")
        assert found["line"] == 3  # the header, then the backup's own payment, then this
        code, out = run_json(db_path, "reconcile", "--from-gateway", "--gateway", "primary",
                             env=env)
        assert code == 0 and out["matched"] == 1 and out["breaks"] == []
        assert primary.requests() >= 2
