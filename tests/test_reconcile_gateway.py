"""`reconcile --from-gateway` against the mock gateway as real processes: the seed's
gateway, which cannot look a lost charge up, leaves a payment PROCESSING that only its
settlement report can finish; a refund whose answer was lost is credited exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_server import API_KEY, BOTH_PROTOCOLS
from helpers import run, run_json, wallet

SEED = pytest.mark.parametrize("protocol", ["seed"], indirect=True)


def reconcile(db: Path, env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    """`paycli reconcile --from-gateway ARGS --json`."""
    return run_json(db, "reconcile", "--from-gateway", *args, env=env)


def consistent(db: Path, env: dict[str, str]) -> bool:
    """Whether `replay-events` finds the ledger consistent and its chain whole."""
    return run(db, "replay-events", env=env).returncode == 0


@pytest.mark.slow
class TestSeedGateway:
    @SEED
    def test_a_lost_charge_is_finished_by_the_report(self, funded: Path, env: dict[str, str],
                                                     gateway: Any) -> None:
        """The answer is lost and the seed's gateway cannot be asked: PROCESSING (exit 10),
        30.00 held; reconcile --apply completes it with the hold posted; a second run has
        nothing to do; the ledger replays consistent; one charge at the gateway."""
        gateway.set_mode("lost-response", count=1)
        code, paid = run_json(funded, "pay", "--user", "alice", "--amount", "30", env=env)
        assert (code, paid["status"]) == (10, "PROCESSING")
        assert "paycli reconcile --from-gateway --apply" in paid["error"]["message"]
        assert wallet(funded, "alice") == (10000, 3000)
        code, first = reconcile(funded, env, "--apply")
        assert code == 0, first
        assert first["resolved"] == [{"payment_id": paid["payment_id"], "refund_id": None,
                                      "status": "COMPLETED", "line": 2}]
        assert wallet(funded, "alice") == (7000, 0)
        code, second = reconcile(funded, env, "--apply")
        assert (code, second["resolved"], second["breaks"]) == (0, [], [])
        assert consistent(funded, env)
        assert len(gateway.charges()) == 1

    @SEED
    def test_a_lost_refund_answer_credits_the_wallet_once(
            self, funded: Path, env: dict[str, str], gateway: Any) -> None:
        """The refund's answer is lost; looking the charge up answers `refunded`: the
        refund completes, the wallet is credited once, and reconcile agrees."""
        code, paid = run_json(funded, "pay", "--user", "alice", "--amount", "30", env=env)
        assert code == 0
        gateway.set_mode("lost-response", count=1)
        code, refunded = run_json(funded, "refund", paid["payment_id"], env=env)
        assert (code, refunded["status"]) == (0, "COMPLETED"), refunded
        assert wallet(funded, "alice") == (10000, 0)
        code, report = reconcile(funded, env, "--apply")
        assert (code, report["resolved"], report["breaks"]) == (0, [], [])
        assert report["matched"] == 2
        assert [r["status"] for r in gateway.refunds()] == ["refunded"]

    @SEED
    def test_a_refund_cut_off_after_the_gateway_refunded(
            self, funded: Path, env: dict[str, str], gateway: Any) -> None:
        """paycli dies right after the gateway refunded: the refund is PROCESSING with its
        amount reserved; reconcile --apply credits the wallet, once, and only once."""
        code, paid = run_json(funded, "pay", "--user", "alice", "--amount", "30", env=env)
        assert code == 0
        killed = run(funded, "refund", paid["payment_id"], "--amount", "12", "--json",
                     env={**env, "FAULT_AT": "after:ProcessRefund"})
        assert killed.returncode == -9
        code, listed = run_json(funded, "refunds", "list", "--status", "PROCESSING", env=env)
        [stuck] = listed["refunds"]
        code, first = reconcile(funded, env, "--apply")
        assert code == 0, first
        assert first["resolved"] == [{"payment_id": paid["payment_id"],
                                      "refund_id": stuck["refund_id"], "status": "COMPLETED",
                                      "line": 3}]
        assert wallet(funded, "alice") == (8200, 0)
        code, second = reconcile(funded, env, "--apply")
        assert (code, second["resolved"]) == (0, [])
        assert wallet(funded, "alice") == (8200, 0)
        assert consistent(funded, env)


@pytest.mark.slow
class TestBreaksAtTheGateway:
    @BOTH_PROTOCOLS
    def test_a_charge_for_an_unknown_payment(self, funded: Path, env: dict[str, str],
                                             gateway: Any) -> None:
        """Money taken at the gateway for a payment id paycli never had: missing_in_ledger,
        exit 8, and --apply changes nothing."""
        stranger = "pay_" + "f" * 24
        answer = httpx.post(f"{gateway.url}/payment/process", headers={"X-API-Key": API_KEY},
                            json={"paymentId": stranger, "amount": 12.5, "currency": "USD",
                                  "userId": "mallory", "correlationId": "x", "metadata": {}})
        assert answer.json()["status"] == "approved"
        code, report = reconcile(funded, env, "--apply")
        assert code == 8
        [found] = report["breaks"]
        assert (found["kind"], found["payment_id"], found["gateway_amount"]) == (
            "missing_in_ledger", stranger, "12.50")
        assert report["resolved"] == []

    def test_a_wrong_api_key_is_a_configuration_error(self, funded: Path,
                                                      env: dict[str, str]) -> None:
        """The report refused for paycli's key: exit 11, one line naming the setting."""
        done = run(funded, "reconcile", "--from-gateway",
                   env={**env, "PAYCLI_GATEWAY_API_KEY": "wrong-key"})
        assert done.returncode == 11
        assert done.stderr.count("\n") == 1 and "PAYCLI_GATEWAY_API_KEY" in done.stderr
