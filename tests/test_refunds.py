"""The refund saga end to end: real paycli processes against the real mock gateway over HTTP.

Every test asserts the exit code, the ledger (wallet, payment, refund rows) and what the
gateway really refunded. The tests that reach the gateway's refund run against both
protocols of the mock (`BOTH_PROTOCOLS`). The seed gateway's own rules show where they
rightly differ: one refund per charge (a second, even a partial one, is refused: exit 9),
and no list of a charge's refunds, so a refund whose outcome was lost is known to have gone
through only from the charge answering `refunded` while it is the payment's only refund;
one the gateway never made stays PROCESSING for an operator (`refunds resolve`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_server import API_KEY, BOTH_PROTOCOLS
from helpers import check_invariants, paycli_env, run, run_json, spawn, wallet

from paycli.devtools.mock_process import MockGatewayProcess
from paycli.records import Payment, Refund
from paycli.store import Store

# Every test runs paycli as real processes against the mock gateway: system-level, slow.
pytestmark = pytest.mark.slow

# The first draw of `random.Random(31)` is 0.012: below the mock's 10 % refund failure rate,
# so with `--seed 31` the first refund in mode `seed` after a reset is `refund_failed`.
FAILING_SEED = "31"
REFUND_FIELDS = {"refund_id", "payment_id", "amount", "currency", "status", "payment_status",
                 "balance"}


@pytest.fixture
def env(gateway: MockGatewayProcess) -> dict[str, str]:
    """A paycli environment pointed at the test's mock gateway."""
    return paycli_env(gateway.url)


def fund(db: Path, env: dict[str, str], user: str = "alice", amount: str = "1000") -> None:
    """Credit `user`'s wallet with `amount` USD."""
    code, _ = run_json(db, "wallet", "credit", "--user", user, "--amount", amount, env=env)
    assert code == 0


def pay(db: Path, env: dict[str, str], amount: str, user: str = "alice") -> str:
    """Make a COMPLETED payment of `amount` USD; returns its id."""
    code, out = run_json(db, "pay", "--user", user, "--amount", amount, env=env)
    assert code == 0 and out["status"] == "COMPLETED", out
    return str(out["payment_id"])


def payment_row(db: Path, payment_id: str) -> Payment:
    """The payment as the ledger holds it."""
    with Store(str(db)) as store:
        found = store.read.payment(payment_id)
    assert found is not None
    return found


def refund_rows(db: Path, payment_id: str) -> list[Refund]:
    """The refunds of a payment as the ledger holds them, oldest first."""
    with Store(str(db)) as store:
        return store.read.refunds(payment_id)


def gateway_refunded(gateway: MockGatewayProcess, payment_id: str) -> Decimal:
    """What the gateway has refunded of the charge made for `payment_id`."""
    [charge] = [c for c in gateway.charges() if c["payment_id"] == payment_id]
    return Decimal(charge["refunded"])


def refund_json(db: Path, env: dict[str, str], payment_id: str, *args: str
                ) -> tuple[int, Any]:
    """Run `paycli refund PAYMENT_ID ARGS --json`."""
    return run_json(db, "refund", payment_id, *args, env=env)


def settled(gateway: MockGatewayProcess, db: Path) -> None:
    """The ledger is settled and agrees with the gateway's charges and refunds."""
    check_invariants(db, gateway.charges(), gateway.refunds())


@pytest.fixture
def paid(db_path: Path, env: dict[str, str]) -> tuple[Path, str]:
    """A ledger where alice had 1000.00 USD and paid 50.00 (COMPLETED); (ledger, payment)."""
    fund(db_path, env)
    return db_path, pay(db_path, env, "50")


class TestFullAndPartial:
    @BOTH_PROTOCOLS
    def test_full_refund_gives_everything_back(self, paid: tuple[Path, str],
                                               env: dict[str, str],
                                               gateway: MockGatewayProcess) -> None:
        """A refund without --amount refunds all: REFUNDED, wallet whole, gateway agrees."""
        db, payment_id = paid
        code, out = refund_json(db, env, payment_id)
        assert code == 0 and out["status"] == "COMPLETED", out
        assert out["payment_status"] == "REFUNDED" and out["amount"] == "50.00"
        assert out["balance"] == "1000.00"
        assert wallet(db, "alice") == (100000, 0)
        assert payment_row(db, payment_id).refunded == 5000
        assert gateway_refunded(gateway, payment_id) == Decimal("50")
        assert [r["status"] for r in gateway.refunds()] == ["refunded"]
        settled(gateway, db)

    @BOTH_PROTOCOLS
    def test_partial_refunds_add_up_to_the_payment(self, paid: tuple[Path, str],
                                                   env: dict[str, str],
                                                   gateway: MockGatewayProcess) -> None:
        """20 then 30 of 50: PARTIALLY_REFUNDED, then REFUNDED, each credited once. The
        seed's gateway refunds a charge once: the second is refused (exit 9), nothing more
        moves and the reservation is released."""
        db, payment_id = paid
        code, first = refund_json(db, env, payment_id, "--amount", "20")
        assert code == 0 and first["payment_status"] == "PARTIALLY_REFUNDED"
        assert first["balance"] == "970.00"
        assert gateway_refunded(gateway, payment_id) == Decimal("20")
        code, second = refund_json(db, env, payment_id, "--amount", "30.00")
        if gateway.is_seed:
            assert code == 9 and second["error"]["type"] == "refund_refused", second
            assert "HTTP 400" in second["error"]["message"]
            assert (second["status"], second["payment_status"]) == (
                "FAILED", "PARTIALLY_REFUNDED")
            assert payment_row(db, payment_id).refund_reserved == 0
            assert wallet(db, "alice") == (97000, 0)
            settled(gateway, db)
            return
        assert code == 0 and second["payment_status"] == "REFUNDED"
        assert second["balance"] == "1000.00" and second["refund_id"] != first["refund_id"]
        assert gateway_refunded(gateway, payment_id) == Decimal("50")
        assert wallet(db, "alice") == (100000, 0)
        settled(gateway, db)

    def test_without_amount_refunds_what_is_left(self, paid: tuple[Path, str],
                                                 env: dict[str, str],
                                                 gateway: MockGatewayProcess) -> None:
        """After a partial refund of 12.34, a refund without --amount takes the 37.66 left."""
        db, payment_id = paid
        assert refund_json(db, env, payment_id, "--amount", "12.34")[0] == 0
        code, out = refund_json(db, env, payment_id)
        assert code == 0 and out["amount"] == "37.66" and out["payment_status"] == "REFUNDED"
        assert gateway_refunded(gateway, payment_id) == Decimal("50.00")
        settled(gateway, db)

    def test_json_object_carries_the_contract_fields(self, paid: tuple[Path, str],
                                                     env: dict[str, str]) -> None:
        """`refund --json` prints one object with every contract field, amounts as strings."""
        db, payment_id = paid
        done = run(db, "refund", payment_id, "--amount", "5", "--json", env=env)
        assert done.returncode == 0
        out = json.loads(done.stdout)
        assert set(out) >= REFUND_FIELDS, REFUND_FIELDS - set(out)
        assert out["refund_id"].startswith("ref_") and out["payment_id"] == payment_id
        assert (out["amount"], out["currency"], out["balance"]) == ("5.00", "USD", "955.00")
        assert (out["status"], out["payment_status"]) == ("COMPLETED", "PARTIALLY_REFUNDED")


class TestRefused:
    def test_over_refund_says_what_is_left_and_moves_nothing(
            self, paid: tuple[Path, str], env: dict[str, str], gateway: MockGatewayProcess) -> None:
        """Refunding more than is left exits 9 naming what is left; nothing reaches the
        gateway and nothing moves."""
        db, payment_id = paid
        assert refund_json(db, env, payment_id, "--amount", "20")[0] == 0
        before = gateway.requests()
        code, out = refund_json(db, env, payment_id, "--amount", "30.01")
        assert code == 9 and out["error"]["type"] == "refund_refused"
        assert "30.00 USD" in out["error"]["message"]
        assert gateway.requests() == before
        assert wallet(db, "alice") == (97000, 0)
        assert payment_row(db, payment_id).refund_reserved == 0
        assert len(refund_rows(db, payment_id)) == 1
        settled(gateway, db)

    def test_over_refund_in_human_mode_prints_the_reason(self, paid: tuple[Path, str],
                                                         env: dict[str, str]) -> None:
        """Without --json the refusal is an `Error:` line naming what is left, exit 9."""
        db, payment_id = paid
        done = run(db, "refund", payment_id, "--amount", "60", env=env)
        assert done.returncode == 9
        assert "Error:" in done.stderr and "50.00 USD" in done.stderr
        assert "Traceback" not in done.stderr

    def test_refund_of_a_refunded_payment_exits_9(self, paid: tuple[Path, str],
                                                  env: dict[str, str],
                                                  gateway: MockGatewayProcess) -> None:
        """Once REFUNDED, another refund exits 9 and the gateway is not asked."""
        db, payment_id = paid
        assert refund_json(db, env, payment_id)[0] == 0
        before = gateway.requests()
        code, out = refund_json(db, env, payment_id, "--amount", "1")
        assert code == 9 and "REFUNDED" in out["error"]["message"]
        assert gateway.requests() == before
        assert wallet(db, "alice") == (100000, 0)

    def test_refund_of_a_failed_payment_exits_9(self, db_path: Path, env: dict[str, str],
                                                gateway: MockGatewayProcess) -> None:
        """A declined (FAILED) payment cannot be refunded: exit 9, no wallet change."""
        fund(db_path, env)
        gateway.set_mode("decline")
        code, out = run_json(db_path, "pay", "--user", "alice", "--amount", "50", env=env)
        assert code == 4 and out["status"] == "FAILED"
        gateway.set_mode("ok")
        code, refused = refund_json(db_path, env, out["payment_id"])
        assert code == 9 and refused["error"]["type"] == "refund_refused"
        assert "FAILED" in refused["error"]["message"]
        assert wallet(db_path, "alice") == (100000, 0)
        assert refund_rows(db_path, out["payment_id"]) == []
        assert gateway.refunds() == []

    def test_refund_of_a_processing_payment_exits_9(self, db_path: Path, env: dict[str, str],
                                                    gateway: MockGatewayProcess) -> None:
        """A payment whose outcome is still unknown (PROCESSING) cannot be refunded."""
        fund(db_path, env)
        gateway.set_mode("pending", latency_ms=5000)
        code, out = run_json(db_path, "pay", "--user", "alice", "--amount", "50", "--wait",
                             "0.1", env=env)
        assert code == 10 and out["status"] == "PROCESSING"
        code, refused = refund_json(db_path, env, out["payment_id"])
        assert code == 9 and "PROCESSING" in refused["error"]["message"]
        assert wallet(db_path, "alice") == (100000, 5000)
        assert gateway.refunds() == []

    def test_unknown_payment_exits_7(self, db_path: Path, env: dict[str, str]) -> None:
        """A well-formed id that names no payment exits 7 (not found)."""
        fund(db_path, env)
        code, out = refund_json(db_path, env, "pay_" + "0" * 24)
        assert code == 7 and out["error"]["type"] == "not_found"
        assert "pay_" + "0" * 24 in out["error"]["message"]

    @pytest.mark.parametrize("bad_id", ["bogus", "pay_123", "ref_" + "0" * 24, ""])
    def test_malformed_payment_id_exits_2(self, db_path: Path, env: dict[str, str],
                                          bad_id: str) -> None:
        """An id not in paycli's `pay_` + 24 hex shape is a usage error (exit 2)."""
        code, out = refund_json(db_path, env, bad_id)
        assert code == 2 and out["error"]["type"] == "usage_error"

    @pytest.mark.parametrize("amount", ["0", "-5", "1.234", "1e1", "abc"])
    def test_invalid_amount_exits_2_and_moves_nothing(self, paid: tuple[Path, str],
                                                      env: dict[str, str], amount: str) -> None:
        """A zero, negative, too precise or non-decimal amount is a usage error."""
        db, payment_id = paid
        code, out = refund_json(db, env, payment_id, "--amount", amount)
        assert code == 2 and out["error"]["type"] == "usage_error"
        assert refund_rows(db, payment_id) == []
        assert wallet(db, "alice") == (95000, 0)


@pytest.fixture(scope="module")
def seeded_full() -> Iterator[MockGatewayProcess]:
    """A full-protocol mock gateway of its own whose random draws are fixed by `--seed 31`."""
    with MockGatewayProcess(API_KEY, "--seed", FAILING_SEED) as server:
        yield server


@pytest.fixture(scope="module")
def seeded_seed() -> Iterator[MockGatewayProcess]:
    """A seed-protocol mock gateway of its own whose random draws are fixed by `--seed 31`
    (each restart, as a mode change is, draws afresh from it)."""
    with MockGatewayProcess(API_KEY, "--seed", FAILING_SEED, protocol="seed") as server:
        yield server


@pytest.fixture
def seeded_gateway(protocol: str, request: pytest.FixtureRequest) -> MockGatewayProcess:
    """The `--seed 31` mock gateway of the test's protocol."""
    server: MockGatewayProcess = request.getfixturevalue(f"seeded_{protocol}")
    return server


class TestGatewayRefuses:
    @BOTH_PROTOCOLS
    def test_refund_failed_keeps_the_wallet_and_releases_the_reservation(
            self, db_path: Path, seeded_gateway: MockGatewayProcess) -> None:
        """The gateway answers `refund_failed`: exit 9, refund FAILED, wallet untouched and
        the reservation released (so the whole amount can still be refunded)."""
        seeded_gateway.reset(mode="ok")
        env = paycli_env(seeded_gateway.url)
        fund(db_path, env)
        payment_id = pay(db_path, env, "50")
        seeded_gateway.set_mode("seed")
        code, out = refund_json(db_path, env, payment_id)
        assert code == 9 and out["error"]["type"] == "refund_refused", out
        assert out["status"] == "FAILED" and out["payment_status"] == "COMPLETED"
        assert [r["status"] for r in seeded_gateway.refunds()] == ["refund_failed"]
        assert wallet(db_path, "alice") == (95000, 0)
        payment = payment_row(db_path, payment_id)
        assert (payment.refunded, payment.refund_reserved) == (0, 0)
        seeded_gateway.set_mode("ok")
        code, again = refund_json(db_path, env, payment_id)
        assert code == 0 and again["payment_status"] == "REFUNDED"
        check_invariants(db_path, seeded_gateway.charges(), seeded_gateway.refunds())

    @BOTH_PROTOCOLS
    def test_gateway_400_keeps_the_wallet_and_releases_the_reservation(
            self, paid: tuple[Path, str], env: dict[str, str], gateway: MockGatewayProcess) -> None:
        """When the gateway has less left than the ledger (30 of 50 refunded behind paycli's
        back) it answers 400: exit 9, the wallet untouched, the reservation released. A
        smaller refund then goes through, except at the seed's gateway, where that refund
        behind paycli's back used up the charge's one refund."""
        db, payment_id = paid
        gateway_ref = payment_row(db, payment_id).gateway_ref
        outside = httpx.post(f"{gateway.url}/payment/refund", headers={"X-API-Key": API_KEY},
                             json={"externalId": gateway_ref, "amount": 30, "reason": "outside"})
        assert outside.status_code == 200
        code, out = refund_json(db, env, payment_id, "--amount", "40")
        assert code == 9 and out["error"]["type"] == "refund_refused", out
        assert "400" in out["error"]["message"]
        assert out["status"] == "FAILED" and out["payment_status"] == "COMPLETED"
        assert wallet(db, "alice") == (95000, 0)
        payment = payment_row(db, payment_id)
        assert (payment.status, payment.refunded, payment.refund_reserved) == (
            "COMPLETED", 0, 0)
        assert gateway_refunded(gateway, payment_id) == Decimal("30")
        check_invariants(db)
        code, smaller = refund_json(db, env, payment_id, "--amount", "20")
        if gateway.is_seed:
            assert code == 9 and smaller["payment_status"] == "COMPLETED", smaller
        else:
            assert code == 0 and smaller["payment_status"] == "PARTIALLY_REFUNDED"

    def test_gateway_down_exits_5_and_releases_the_reservation(
            self, paid: tuple[Path, str], gateway: MockGatewayProcess) -> None:
        """A gateway that answers 503 to every attempt: exit 5, refund FAILED, nothing
        refunded anywhere, the reservation released."""
        db, payment_id = paid
        env = paycli_env(gateway.url, PAYCLI_RETRY_ATTEMPTS="2")
        gateway.set_mode("down")
        code, out = refund_json(db, env, payment_id)
        assert code == 5 and out["status"] == "FAILED", out
        assert payment_row(db, payment_id).refund_reserved == 0
        assert wallet(db, "alice") == (95000, 0)
        gateway.set_mode("ok")
        assert gateway.refunds() == []
        settled(gateway, db)


class TestGatewayTrouble:
    @BOTH_PROTOCOLS
    def test_flaky_gateway_is_retried_with_one_refund(
            self, paid: tuple[Path, str], env: dict[str, str], gateway: MockGatewayProcess) -> None:
        """Two 503s then success: three attempts under one key, one refund, COMPLETED (a 503
        did nothing, so even a gateway that ignores the key refunds once)."""
        db, payment_id = paid
        gateway.set_mode("flaky", count=2)
        code, out = refund_json(db, env, payment_id, "--amount", "10")
        assert code == 0 and out["status"] == "COMPLETED", out
        process = next(s for s in out["steps"] if s["name"] == "ProcessRefund")
        assert process["attempts"] == 3
        assert len(gateway.refunds()) == 1
        settled(gateway, db)

    @BOTH_PROTOCOLS
    def test_malformed_answers_keep_the_reservation_until_recover(
            self, paid: tuple[Path, str], env: dict[str, str], gateway: MockGatewayProcess) -> None:
        """200 with a non-JSON body is no answer: exit 10, PROCESSING, reservation kept and
        the wallet untouched; `recover` then finds no refund and releases it. The seed's
        gateway lists no refunds and the charge is not `refunded`, which does not prove a
        partial refund failed: recover leaves it, and `refunds resolve --failed` releases
        it."""
        db, payment_id = paid
        gateway.set_mode("malformed")
        code, out = refund_json(db, env, payment_id, "--amount", "10")
        assert code == 10 and out["status"] == "PROCESSING", out
        assert out["error"]["type"] == "outcome_unknown"
        assert payment_row(db, payment_id).refund_reserved == 1000
        assert wallet(db, "alice") == (95000, 0)
        gateway.set_mode("ok")
        code, rec = run_json(db, "recover", env=env)
        if gateway.is_seed:
            assert code == 10 and rec["resolved"] == []
            [left] = rec["unresolved"]
            assert left["refund_id"] == out["refund_id"] and "refunds resolve" in left["reason"]
            code, done = run_json(db, "refunds", "resolve", out["refund_id"], "--failed",
                                  "--reason", "not in the settlement report", env=env)
            assert code == 0 and done["status"] == "FAILED", done
        else:
            assert code == 0 and rec["resolved"] == [{"refund_id": out["refund_id"],
                                                      "payment_id": payment_id,
                                                      "status": "FAILED"}]
        assert payment_row(db, payment_id).refund_reserved == 0
        settled(gateway, db)

    def test_zero_decimal_currency_refunds_whole_units(self, db_path: Path,
                                                       env: dict[str, str],
                                                       gateway: MockGatewayProcess) -> None:
        """A JPY payment refunds in whole yen: 0.5 is a usage error, 1000 goes through."""
        fund(db_path, env, amount="10000")
        code, _ = run_json(db_path, "wallet", "credit", "--user", "alice", "--amount",
                           "10000", "--currency", "jpy", env=env)
        assert code == 0
        code, out = run_json(db_path, "pay", "--user", "alice", "--amount", "5000",
                             "--currency", "JPY", env=env)
        assert code == 0
        payment_id = out["payment_id"]
        assert refund_json(db_path, env, payment_id, "--amount", "0.5")[0] == 2
        code, done = refund_json(db_path, env, payment_id, "--amount", "1000")
        assert code == 0 and (done["amount"], done["balance"]) == ("1000", "6000")
        assert gateway_refunded(gateway, payment_id) == Decimal("1000")
        assert wallet(db_path, "alice", "JPY") == (6000, 0)
        settled(gateway, db_path)


class TestLostResponse:
    @BOTH_PROTOCOLS
    def test_lost_refund_answer_completes_with_one_refund(
            self, paid: tuple[Path, str], env: dict[str, str], gateway: MockGatewayProcess) -> None:
        """The gateway refunds, then drops the connection: paycli learns the outcome (from
        the charge's refunds under full; under seed from the charge answering `refunded`)
        and ends COMPLETED with exactly one refund at the gateway."""
        db, payment_id = paid
        gateway.set_mode("lost-response", count=1)
        code, out = refund_json(db, env, payment_id)
        assert code == 0 and out["status"] == "COMPLETED", out
        assert out["payment_status"] == "REFUNDED"
        assert [r["status"] for r in gateway.refunds()] == ["refunded"]
        assert gateway_refunded(gateway, payment_id) == Decimal("50")
        assert wallet(db, "alice") == (100000, 0)
        settled(gateway, db)


class TestConcurrency:
    def test_two_full_refunds_at_once_refund_once(
            self, paid: tuple[Path, str], env: dict[str, str], gateway: MockGatewayProcess) -> None:
        """Two processes refunding the whole payment at once: one succeeds, the other exits
        9; the money comes back once."""
        db, payment_id = paid
        gateway.set_mode("slow", latency_ms=300)
        procs = [spawn(db, "refund", payment_id, "--json", env=env) for _ in range(2)]
        outs = [p.communicate(timeout=60) for p in procs]
        codes = sorted(p.returncode for p in procs)
        assert codes == [0, 9], outs
        assert gateway_refunded(gateway, payment_id) == Decimal("50")
        assert wallet(db, "alice") == (100000, 0)
        assert [r.status for r in refund_rows(db, payment_id)] == ["COMPLETED"]
        settled(gateway, db)

    def test_many_partial_refunds_at_once_never_exceed_the_payment(
            self, paid: tuple[Path, str], env: dict[str, str], gateway: MockGatewayProcess) -> None:
        """Eight processes refunding 10 of a 50 payment at once: exactly five succeed, the
        rest exit 9, and neither ledger nor gateway refunds more than 50."""
        db, payment_id = paid
        gateway.set_mode("slow", latency_ms=200)
        procs = [spawn(db, "refund", payment_id, "--amount", "10", "--json", env=env)
                 for _ in range(8)]
        outs = [p.communicate(timeout=60) for p in procs]
        codes = sorted(p.returncode for p in procs)
        assert codes == [0] * 5 + [9] * 3, outs
        assert not any("locked" in err for _, err in outs)
        payment = payment_row(db, payment_id)
        assert (payment.status, payment.refunded, payment.refund_reserved) == (
            "REFUNDED", 5000, 0)
        assert gateway_refunded(gateway, payment_id) == Decimal("50")
        assert wallet(db, "alice") == (100000, 0)
        settled(gateway, db)


class TestIdempotency:
    def test_same_key_twice_refunds_once(self, paid: tuple[Path, str], env: dict[str, str],
                                         gateway: MockGatewayProcess) -> None:
        """The same refund key and arguments twice: the same refund_id back, refunded once."""
        db, payment_id = paid
        args = ("--amount", "10", "--idempotency-key", "rk-1")
        first = refund_json(db, env, payment_id, *args)
        again = refund_json(db, env, payment_id, *args)
        assert first[0] == again[0] == 0
        assert again[1]["refund_id"] == first[1]["refund_id"]
        assert len(refund_rows(db, payment_id)) == 1
        assert gateway_refunded(gateway, payment_id) == Decimal("10")
        assert wallet(db, "alice") == (96000, 0)
        settled(gateway, db)

    @BOTH_PROTOCOLS
    def test_same_key_at_once_refunds_once(self, paid: tuple[Path, str], env: dict[str, str],
                                           gateway: MockGatewayProcess) -> None:
        """Three processes racing with one refund key: one refund, one refund_id for all,
        even at a gateway that ignores the key."""
        db, payment_id = paid
        gateway.set_mode("slow", latency_ms=300)
        procs = [spawn(db, "refund", payment_id, "--amount", "10", "--idempotency-key",
                       "rk-race", "--json", env=env) for _ in range(3)]
        outs = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
        assert all(p.returncode == 0 for p in procs), outs
        assert len({o["refund_id"] for o in outs}) == 1
        assert len(refund_rows(db, payment_id)) == 1
        assert gateway_refunded(gateway, payment_id) == Decimal("10")
        settled(gateway, db)

    def test_same_key_other_amount_exits_6(self, paid: tuple[Path, str], env: dict[str, str],
                                           gateway: MockGatewayProcess) -> None:
        """A refund key reused with another amount exits 6 and refunds nothing more."""
        db, payment_id = paid
        assert refund_json(db, env, payment_id, "--amount", "10", "--idempotency-key",
                           "rk-2")[0] == 0
        code, out = refund_json(db, env, payment_id, "--amount", "11", "--idempotency-key",
                                "rk-2")
        assert code == 6 and out["error"]["type"] == "idempotency_conflict"
        assert gateway_refunded(gateway, payment_id) == Decimal("10")

    def test_a_refused_result_is_repeated_with_its_exit_code(
            self, db_path: Path, seeded_gateway: MockGatewayProcess) -> None:
        """A refund the gateway refused, repeated with its key, gives back the same FAILED
        refund and exit 9 without asking the gateway again."""
        seeded_gateway.reset(mode="ok")
        env = paycli_env(seeded_gateway.url)
        fund(db_path, env)
        payment_id = pay(db_path, env, "50")
        seeded_gateway.set_mode("seed")
        args = ("--idempotency-key", "rk-3")
        code, first = refund_json(db_path, env, payment_id, *args)
        assert code == 9 and first["status"] == "FAILED"
        seeded_gateway.set_mode("ok")
        before = seeded_gateway.requests()
        code, again = refund_json(db_path, env, payment_id, *args)
        assert code == 9 and again["refund_id"] == first["refund_id"]
        assert again["status"] == "FAILED"
        assert seeded_gateway.requests() == before


def killed(db: Path, payment_id: str, fault: str, *args: str,
           env: dict[str, str]) -> None:
    """Run a refund that SIGKILLs itself at `fault`; assert it died by the signal."""
    crash_env = {**env, "FAULT_AT": fault}
    done = run(db, "refund", payment_id, *args, "--json", env=crash_env)
    assert done.returncode == -9, (done.returncode, done.stdout, done.stderr)


def recover(db: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run `paycli recover --json`; assert it resolved everything."""
    code, out = run_json(db, "recover", env=env)
    assert code == 0 and out["unresolved"] == [], out
    return dict(out)


class TestCrashMidRefund:
    def test_killed_after_reserve_recover_releases(
            self, paid: tuple[Path, str], env: dict[str, str], gateway: MockGatewayProcess) -> None:
        """Killed after ReserveRefund (gateway never called): the amount stays reserved,
        then `recover` fails the refund and releases it; nothing was refunded."""
        db, payment_id = paid
        killed(db, payment_id, "after:ReserveRefund", env=env)
        [pending] = refund_rows(db, payment_id)
        assert pending.status == "PENDING"
        assert payment_row(db, payment_id).refund_reserved == 5000
        out = recover(db, env)
        assert out["resolved"] == [{"refund_id": pending.id, "payment_id": payment_id,
                                    "status": "FAILED"}]
        payment = payment_row(db, payment_id)
        assert (payment.status, payment.refunded, payment.refund_reserved) == (
            "COMPLETED", 0, 0)
        assert gateway.refunds() == [] and wallet(db, "alice") == (95000, 0)
        settled(gateway, db)

    @BOTH_PROTOCOLS
    def test_killed_before_settle_recover_completes(
            self, paid: tuple[Path, str], env: dict[str, str], gateway: MockGatewayProcess) -> None:
        """Killed before SettleRefund (the gateway refunded): `recover` finds the refund at
        the gateway and credits the wallet once."""
        db, payment_id = paid
        killed(db, payment_id, "before:SettleRefund", "--amount", "20", env=env)
        [processing] = refund_rows(db, payment_id)
        assert processing.status == "PROCESSING"
        assert wallet(db, "alice") == (95000, 0)
        assert gateway_refunded(gateway, payment_id) == Decimal("20")
        out = recover(db, env)
        assert out["resolved"] == [{"refund_id": processing.id, "payment_id": payment_id,
                                    "status": "COMPLETED"}]
        payment = payment_row(db, payment_id)
        assert (payment.status, payment.refunded, payment.refund_reserved) == (
            "PARTIALLY_REFUNDED", 2000, 0)
        assert wallet(db, "alice") == (97000, 0)
        settled(gateway, db)
        assert recover(db, env)["resolved"] == []

    @BOTH_PROTOCOLS
    def test_killed_during_a_slow_gateway_call_recover_fails_it(
            self, paid: tuple[Path, str], env: dict[str, str], gateway: MockGatewayProcess) -> None:
        """Killed while the gateway sits on the refund: the mock drops it, so `recover`
        finds no refund at the gateway, fails it and releases the reservation. The seed's
        gateway lists no refunds: recover leaves it PROCESSING (exit 10) and the operator's
        `refunds resolve --failed` releases it."""
        db, payment_id = paid
        gateway.set_mode("slow", latency_ms=1000)
        killed(db, payment_id, "during:ProcessRefund:0.3", env=env)
        [processing] = refund_rows(db, payment_id)
        assert processing.status == "PROCESSING"
        time.sleep(0.2)  # the mock notices the dropped client and records nothing
        gateway.set_mode("ok")
        if gateway.is_seed:
            code, left = run_json(db, "recover", env=env)
            assert code == 10 and [u["refund_id"] for u in left["unresolved"]] == [
                processing.id]
            assert payment_row(db, payment_id).refund_reserved == 5000
            code, done = run_json(db, "refunds", "resolve", processing.id, "--failed",
                                  "--reason", "not in the settlement report", env=env)
            assert code == 0 and done["status"] == "FAILED", done
        else:
            out = recover(db, env)
            assert out["resolved"][0]["status"] == "FAILED"
        assert gateway.refunds() == [] and wallet(db, "alice") == (95000, 0)
        payment = payment_row(db, payment_id)
        assert (payment.status, payment.refund_reserved) == ("COMPLETED", 0)
        settled(gateway, db)
        code, out = refund_json(db, env, payment_id)
        assert code == 0 and out["payment_status"] == "REFUNDED"
        settled(gateway, db)
