"""The pay saga end to end: real paycli processes against the real mock gateway over HTTP.

Every test asserts the exit code, the ledger and what the gateway really charged. The tests
whose outcome the gateway's protocol can change run against both protocols of the mock
(`BOTH_PROTOCOLS`): the full one and the seed gateway's, which cannot look a charge up by
paycli's payment id and ignores idempotency keys. Where the two rightly differ each asserts
its own outcome: a charge whose answer was lost is found and settled under full, and under
seed stays PROCESSING, its funds held, until the settlement report (`reconcile`) or an
operator (`payments resolve`) finishes it. The breaker's tests stay on the full protocol:
it counts 503s and timeouts, which both protocols give alike.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from gateway_server import BOTH_PROTOCOLS
from helpers import check_invariants, paycli_env, reconcile_apply, run, run_json, spawn, wallet

from paycli.devtools.mock_process import MockGatewayProcess

# Every test runs paycli as real processes against the mock gateway: system-level, slow.
pytestmark = pytest.mark.slow


@pytest.fixture
def env(gateway: MockGatewayProcess) -> dict[str, str]:
    """A paycli environment pointed at the test's mock gateway."""
    return paycli_env(gateway.url)


@pytest.fixture
def funded(db_path: Path, env: dict[str, str]) -> Path:
    """A ledger where alice has 1000.00 USD."""
    code, _ = run_json(db_path, "wallet", "credit", "--user", "alice", "--amount", "1000",
                       env=env)
    assert code == 0
    return db_path


def assert_left_for_reconcile(message: str) -> None:
    """An unknown outcome's message points to what can finish it when the gateway cannot be
    asked: the settlement report, or resolving by hand."""
    assert "outcome unknown" in message
    assert "paycli reconcile" in message and "resolve" in message


class TestOutcomes:
    @BOTH_PROTOCOLS
    def test_success_posts_the_hold_and_charges_once(self, funded: Path, env: dict[str, str],
                                                    gateway: MockGatewayProcess) -> None:
        """An approved charge completes the payment and moves the money exactly once."""
        code, out = run_json(funded, "pay", "--user", "alice", "--amount", "50", env=env)
        assert code == 0 and out["status"] == "COMPLETED" and out["error"] is None
        assert out["balance"] == "950.00" and out["amount"] == "50.00"
        assert [s["name"] for s in out["steps"]] == [
            "CheckWalletBalance", "CreatePayment", "ReserveFunds", "ProcessPayment",
            "SettlePayment"]
        assert all(s["status"] == "success" for s in out["steps"])
        assert wallet(funded, "alice") == (95000, 0)
        charges = gateway.charges()
        assert len(charges) == 1 and charges[0]["amount"] in ("50.00", "50")
        assert charges[0]["id"] == out["gateway_ref"]
        check_invariants(funded, charges)

    def test_insufficient_funds_never_reaches_the_gateway(
            self, funded: Path, env: dict[str, str], gateway: MockGatewayProcess) -> None:
        """Paying more than is available exits 3: nothing held, no HTTP call made."""
        before = gateway.requests()
        code, out = run_json(funded, "pay", "--user", "alice", "--amount", "5000", env=env)
        assert code == 3 and out["error"]["type"] == "insufficient_funds"
        assert "1000.00 USD available" in out["error"]["message"]
        assert gateway.requests() == before
        assert wallet(funded, "alice") == (100000, 0)

    def test_decline_releases_the_hold(self, funded: Path, env: dict[str, str],
                                       gateway: MockGatewayProcess) -> None:
        """A declined card exits 4, FAILED, with the hold voided and the balance intact."""
        gateway.set_mode("decline")
        code, out = run_json(funded, "pay", "--user", "alice", "--amount", "50", env=env)
        assert code == 4 and out["status"] == "FAILED" and out["error"]["type"] == "declined"
        assert wallet(funded, "alice") == (100000, 0)
        check_invariants(funded, gateway.charges())

    @BOTH_PROTOCOLS
    def test_flaky_gateway_is_retried_with_one_charge(
            self, funded: Path, env: dict[str, str], gateway: MockGatewayProcess) -> None:
        """Two 503s then success: attempts 3, one charge, COMPLETED."""
        gateway.set_mode("flaky", count=2)
        code, out = run_json(funded, "pay", "--user", "alice", "--amount", "50", env=env)
        assert code == 0 and out["status"] == "COMPLETED"
        process = next(s for s in out["steps"] if s["name"] == "ProcessPayment")
        assert process["attempts"] == 3
        assert len(gateway.charges()) == 1
        check_invariants(funded, gateway.charges())

    @BOTH_PROTOCOLS
    def test_slow_gateway_beyond_the_timeout_charges_nothing(
            self, funded: Path, gateway: MockGatewayProcess) -> None:
        """Every attempt times out and the gateway holds no charge. Under full, asked by
        payment id, it says so: exit 5, hold released. The seed's cannot be asked, so the
        timed-out attempt may have charged: exit 10, PROCESSING, hold kept, no retry."""
        gateway.set_mode("slow", latency_ms=800)
        env = paycli_env(gateway.url, PAYCLI_GATEWAY_TIMEOUT="0.2", PAYCLI_RETRY_ATTEMPTS="2")
        code, out = run_json(funded, "pay", "--user", "alice", "--amount", "50", env=env)
        time.sleep(1.0)  # let the mock finish the requests it was still sleeping on
        assert [c for c in gateway.charges() if c["status"] == "approved"] == []
        if gateway.is_seed:
            assert code == 10 and out["status"] == "PROCESSING"
            assert_left_for_reconcile(out["error"]["message"])
            assert wallet(funded, "alice") == (100000, 5000)
            return
        assert code == 5 and out["status"] == "FAILED"
        check_invariants(funded, gateway.charges())

    @BOTH_PROTOCOLS
    def test_malformed_answers_keep_the_hold_until_recover(
            self, funded: Path, env: dict[str, str], gateway: MockGatewayProcess) -> None:
        """200 with a non-JSON body is never taken as an answer: the outcome is unknown
        (exit 10, hold kept) until `recover` finds no charge and releases it. The seed's
        gateway cannot be asked by payment id, so there recover leaves it PROCESSING and an
        operator's `payments resolve --declined` releases it."""
        gateway.set_mode("malformed")
        code, out = run_json(funded, "pay", "--user", "alice", "--amount", "50", env=env)
        assert code == 10 and out["status"] == "PROCESSING"
        assert wallet(funded, "alice") == (100000, 5000)
        gateway.set_mode("ok")
        code, rec = run_json(funded, "recover", env=env)
        if gateway.is_seed:
            assert code == 10 and rec["resolved"] == []
            [left] = rec["unresolved"]
            assert left["payment_id"] == out["payment_id"] and "resolve" in left["reason"]
            code, resolved = run_json(funded, "payments", "resolve", out["payment_id"],
                                      "--declined", "--reason", "no charge in the report",
                                      env=env)
            assert code == 0 and resolved["status"] == "FAILED"
        else:
            assert code == 0 and rec["resolved"] == [{"payment_id": out["payment_id"],
                                                      "status": "FAILED"}]
        assert wallet(funded, "alice") == (100000, 0)
        check_invariants(funded, gateway.charges())

    @BOTH_PROTOCOLS
    def test_pending_settles_within_wait(self, funded: Path, env: dict[str, str],
                                         gateway: MockGatewayProcess) -> None:
        """A pending charge is polled (by its externalId) until it settles: COMPLETED."""
        gateway.set_mode("pending", latency_ms=300)
        code, out = run_json(funded, "pay", "--user", "alice", "--amount", "50", "--wait", "5",
                             env=env)
        assert code == 0 and out["status"] == "COMPLETED"
        check_invariants(funded, gateway.charges())

    @BOTH_PROTOCOLS
    def test_pending_beyond_wait_then_recover_completes(
            self, funded: Path, env: dict[str, str], gateway: MockGatewayProcess) -> None:
        """Still pending after --wait: exit 10, PROCESSING, held; recover completes it
        (asking by the externalId the pending answer gave, which every gateway knows)."""
        gateway.set_mode("pending", latency_ms=1500)
        code, out = run_json(funded, "pay", "--user", "alice", "--amount", "50", "--wait",
                             "0.3", env=env)
        assert code == 10 and out["status"] == "PROCESSING"
        assert out["error"]["type"] == "outcome_unknown"
        assert wallet(funded, "alice") == (100000, 5000)
        time.sleep(1.5)
        code, rec = run_json(funded, "recover", env=env)
        assert code == 0 and rec["resolved"][0]["status"] == "COMPLETED"
        assert wallet(funded, "alice") == (95000, 0)
        check_invariants(funded, gateway.charges())

    @BOTH_PROTOCOLS
    def test_lost_response_is_charged_exactly_once(
            self, funded: Path, env: dict[str, str], gateway: MockGatewayProcess) -> None:
        """The gateway charges, then drops the connection. Under full paycli finds the
        charge by payment id and completes. The seed's gateway cannot be asked: the outcome
        is never guessed nor the charge retried (that would charge twice): exit 10,
        PROCESSING, funds held, and `recover` cannot finish it either; the settlement
        report (`reconcile --apply`) does."""
        gateway.set_mode("lost-response", count=1)
        code, out = run_json(funded, "pay", "--user", "alice", "--amount", "50", env=env)
        assert len(gateway.charges()) == 1
        if gateway.is_seed:
            assert code == 10 and out["status"] == "PROCESSING"
            assert out["error"]["type"] == "outcome_unknown"
            assert_left_for_reconcile(out["error"]["message"])
            assert wallet(funded, "alice") == (100000, 5000)
            code, rec = run_json(funded, "recover", env=env)
            assert code == 10 and rec["resolved"] == []
            assert [u["payment_id"] for u in rec["unresolved"]] == [out["payment_id"]]
            assert wallet(funded, "alice") == (100000, 5000)
            reconcile_apply(funded, env)
        else:
            assert code == 0 and out["status"] == "COMPLETED"
        assert wallet(funded, "alice") == (95000, 0)
        check_invariants(funded, gateway.charges())

    def test_gateway_not_running_exits_5(self, funded: Path) -> None:
        """No gateway at the URL: connection refused is retried, then exit 5, released."""
        env = paycli_env("http://127.0.0.1:9", PAYCLI_RETRY_ATTEMPTS="2")
        code, out = run_json(funded, "pay", "--user", "alice", "--amount", "50", env=env)
        assert code == 5 and out["error"]["type"] == "gateway_unavailable"
        assert wallet(funded, "alice") == (100000, 0)


class TestBreaker:
    def test_down_opens_the_breaker_across_processes(
            self, funded: Path, gateway: MockGatewayProcess) -> None:
        """5 consecutive failed attempts over two processes open the shared breaker; the
        next payment fails at once with no HTTP call; after the reset one probe closes it."""
        env = paycli_env(gateway.url, PAYCLI_BREAKER_RESET_SECONDS="4")
        gateway.set_mode("down")
        first = run_json(funded, "pay", "--user", "alice", "--amount", "1", env=env)
        assert first[0] == 5 and first[1]["error"]["type"] == "gateway_unavailable"
        status = run_json(funded, "gateway", "status", env=env)[1]
        breaker = {"state": "closed", "failures": 3, "opened_at": None, "probe_at": None}
        [only] = status.pop("gateways")  # the one gateway, `default`, listed with its breaker
        assert status == breaker and only == {**breaker, "name": "default",
                                              "url": gateway.url, "protocol": "paycli"}
        second = run_json(funded, "pay", "--user", "alice", "--amount", "1", env=env)
        assert second[0] == 5 and second[1]["error"]["type"] == "breaker_open"
        assert gateway.requests() == 5
        assert run_json(funded, "gateway", "status", env=env)[1]["state"] == "open"
        third = run_json(funded, "pay", "--user", "alice", "--amount", "1", env=env)
        assert third[0] == 5 and third[1]["error"]["type"] == "breaker_open"
        assert gateway.requests() == 5, "an open breaker must not touch the network"
        gateway.set_mode("ok")
        opened = run_json(funded, "gateway", "status", env=env)[1]["opened_at"]
        assert opened is not None
        time.sleep(4.1)
        probe = run_json(funded, "pay", "--user", "alice", "--amount", "1", env=env)
        assert probe[0] == 0 and probe[1]["status"] == "COMPLETED"
        assert run_json(funded, "gateway", "status", env=env)[1]["state"] == "closed"
        check_invariants(funded, gateway.charges())

    def test_exactly_one_process_gets_the_half_open_probe(
            self, funded: Path, gateway: MockGatewayProcess) -> None:
        """After the reset timeout, of two processes at once only one calls the gateway."""
        env = paycli_env(gateway.url, PAYCLI_BREAKER_RESET_SECONDS="0.5",
                         PAYCLI_BREAKER_FAILURES="1", PAYCLI_RETRY_ATTEMPTS="1")
        gateway.set_mode("down")
        assert run_json(funded, "pay", "--user", "alice", "--amount", "1", env=env)[0] == 5
        gateway.set_mode("slow", latency_ms=700)
        time.sleep(0.6)
        before = gateway.requests()
        procs = [spawn(funded, "pay", "--user", "alice", "--amount", "1", "--json", env=env)
                 for _ in range(2)]
        outs = [json.loads(p.communicate(timeout=30)[0]) for p in procs]
        codes = sorted(p.returncode for p in procs)
        assert codes == [0, 5], outs
        assert gateway.requests() - before == 1
        assert run_json(funded, "gateway", "status", env=env)[1]["state"] == "closed"

    def test_declines_never_count_as_failures(self, funded: Path, env: dict[str, str],
                                              gateway: MockGatewayProcess) -> None:
        """Many declines in a row leave the breaker closed with no failures."""
        gateway.set_mode("decline")
        for _ in range(6):
            assert run_json(funded, "pay", "--user", "alice", "--amount", "1", env=env)[0] == 4
        assert run_json(funded, "gateway", "status", env=env)[1]["failures"] == 0

    def test_reset_closes_an_open_breaker(self, funded: Path, gateway: MockGatewayProcess) -> None:
        """`gateway reset` closes the breaker at once."""
        env = paycli_env(gateway.url, PAYCLI_BREAKER_FAILURES="1", PAYCLI_RETRY_ATTEMPTS="1")
        gateway.set_mode("down")
        run_json(funded, "pay", "--user", "alice", "--amount", "1", env=env)
        assert run_json(funded, "gateway", "status", env=env)[1]["state"] == "open"
        done = run(funded, "gateway", "reset", env=env)
        assert done.returncode == 0 and "closed" in done.stdout
        assert run_json(funded, "gateway", "status", env=env)[1]["state"] == "closed"


class TestIdempotency:
    def test_same_key_same_arguments_charges_once(
            self, funded: Path, env: dict[str, str], gateway: MockGatewayProcess) -> None:
        """Repeating a payment with its key returns the first result and charges nothing."""
        args = ("pay", "--user", "alice", "--amount", "50", "--idempotency-key", "k-1")
        first = run_json(funded, *args, env=env)
        again = run_json(funded, *args, env=env)
        assert first[0] == again[0] == 0
        assert again[1]["payment_id"] == first[1]["payment_id"]
        assert len(gateway.charges()) == 1 and wallet(funded, "alice") == (95000, 0)

    def test_order_id_derives_the_key(self, funded: Path, env: dict[str, str],
                                      gateway: MockGatewayProcess) -> None:
        """The same order paid twice is charged once."""
        args = ("pay", "--user", "alice", "--amount", "50", "--order-id", "order-7")
        assert run_json(funded, *args, env=env)[0] == 0
        assert run_json(funded, *args, env=env)[0] == 0
        assert len(gateway.charges()) == 1

    def test_same_key_other_arguments_exits_6(self, funded: Path, env: dict[str, str],
                                             gateway: MockGatewayProcess) -> None:
        """A key reused with another amount is refused with exit 6 and moves nothing."""
        assert run_json(funded, "pay", "--user", "alice", "--amount", "50",
                        "--idempotency-key", "k-2", env=env)[0] == 0
        code, out = run_json(funded, "pay", "--user", "alice", "--amount", "60",
                             "--idempotency-key", "k-2", env=env)
        assert code == 6 and out["error"]["type"] == "idempotency_conflict"
        assert len(gateway.charges()) == 1

    def test_a_declined_result_is_repeated_with_its_exit_code(
            self, funded: Path, env: dict[str, str], gateway: MockGatewayProcess) -> None:
        """The first result's exit code comes back too (4 for a decline)."""
        gateway.set_mode("decline")
        args = ("pay", "--user", "alice", "--amount", "5", "--idempotency-key", "k-3")
        assert run_json(funded, *args, env=env)[0] == 4
        gateway.set_mode("ok")
        code, out = run_json(funded, *args, env=env)
        assert code == 4 and out["status"] == "FAILED"

    @BOTH_PROTOCOLS
    def test_two_processes_racing_with_one_key_create_one_payment(
            self, funded: Path, env: dict[str, str], gateway: MockGatewayProcess) -> None:
        """Concurrent processes with one key: one payment, one charge, the same result,
        even at a gateway that ignores the key."""
        gateway.set_mode("slow", latency_ms=300)
        args = ("pay", "--user", "alice", "--amount", "50", "--idempotency-key", "race", "--json")
        procs = [spawn(funded, *args, env=env) for _ in range(3)]
        outs = [json.loads(p.communicate(timeout=30)[0]) for p in procs]
        assert all(p.returncode == 0 for p in procs), outs
        assert len({o["payment_id"] for o in outs}) == 1
        assert len(gateway.charges()) == 1 and wallet(funded, "alice") == (95000, 0)


class TestConcurrency:
    def test_four_processes_never_overdraw(self, db_path: Path, env: dict[str, str],
                                           gateway: MockGatewayProcess) -> None:
        """Four processes paying 30 each from a 100 wallet: at most 3 succeed, no
        overdraft, and no "database is locked" reaches anybody."""
        run_json(db_path, "wallet", "credit", "--user", "bob", "--amount", "100", env=env)
        gateway.set_mode("slow", latency_ms=50)
        procs = [spawn(db_path, "pay", "--user", "bob", "--amount", "30", "--json", env=env)
                 for _ in range(4) for _ in range(2)]
        results = [(p.communicate(timeout=60), p.returncode) for p in procs]
        codes = sorted(code for _, code in results)
        assert codes.count(0) == 3 and set(codes) <= {0, 3}, results
        assert not any("locked" in err for (_, err), _ in results)
        assert wallet(db_path, "bob") == (1000, 0)
        check_invariants(db_path, gateway.charges())


class TestLogs:
    def test_log_file_has_every_step_and_attempt_without_the_key(
            self, funded: Path, gateway: MockGatewayProcess, tmp_path: Path) -> None:
        """JSON log lines carry steps and gateway attempts with the payment id; the API
        key appears nowhere."""
        log = tmp_path / "paycli.log"
        env = paycli_env(gateway.url, PAYCLI_GATEWAY_API_KEY="test-api-key",
                         PAYCLI_LOG_FILE=str(log))
        gateway.set_mode("flaky", count=1)
        code, out = run_json(funded, "pay", "--user", "alice", "--amount", "5", env=env)
        assert code == 0
        lines = [json.loads(line) for line in log.read_text().splitlines()]
        steps = [x["name"] for x in lines if x["event"] == "step"]
        assert steps == ["CheckWalletBalance", "CreatePayment", "ReserveFunds",
                         "ProcessPayment", "SettlePayment"]
        attempts = [x for x in lines if x["event"] == "gateway_attempt"]
        assert len(attempts) == 2
        assert all(x["correlation_id"] == out["payment_id"] for x in attempts)
        assert "test-api-key" not in log.read_text()


class TestRefusals:
    def test_limit_refusals_under_concurrency_write_nothing_and_pay_later(
            self, db_path: Path, env: dict[str, str], gateway: MockGatewayProcess) -> None:
        """Issue 27, item 2: six `pay --order-id` at once against a daily count of 3: three
        pay, three exit 12 and leave no payment, event or key (whichever moment the limit
        was found); raised to 10, each refused order pays (exit 0), never a stored FAILED."""
        run_json(db_path, "wallet", "credit", "--user", "l2", "--amount", "100", env=env)
        code, _ = run_json(db_path, "limits", "set", "--user", "l2", "--daily-count", "3",
                           env=env)
        assert code == 0
        gateway.set_mode("slow", latency_ms=50)
        procs = {n: spawn(db_path, "pay", "--user", "l2", "--amount", "1", "--order-id",
                          f"lq-{n}", "--json", env=env) for n in range(6)}
        outs = {n: (json.loads(p.communicate(timeout=60)[0]), p.returncode)
                for n, p in procs.items()}
        refused = [n for n, (_, code) in outs.items() if code == 12]
        assert len(refused) == 3 and all(code in (0, 12) for _, code in outs.values()), outs
        for n in refused:
            out = outs[n][0]
            assert out["payment_id"] is None and out["error"]["type"] == "limit_exceeded"
        code, listed = run_json(db_path, "payments", "list", "--user", "l2", env=env)
        assert code == 0
        assert sorted(p["order_id"] for p in listed["payments"]) == sorted(
            f"lq-{n}" for n in outs if n not in refused)
        assert {p["status"] for p in listed["payments"]} == {"COMPLETED"}

        run_json(db_path, "limits", "set", "--user", "l2", "--daily-count", "10", env=env)
        for n in refused:
            code, out = run_json(db_path, "pay", "--user", "l2", "--amount", "1",
                                 "--order-id", f"lq-{n}", env=env)
            assert code == 0 and out["status"] == "COMPLETED", out
        assert len(gateway.charges()) == 6 and wallet(db_path, "l2") == (9400, 0)
        check_invariants(db_path, gateway.charges())
