"""paycli against a gateway that behaves like the seed's: no idempotency, no look-up by
payment id, late-settling pendings. It works, and an unknown outcome is never guessed."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import paycli_env, run_json, wallet
from seed_gateway import SeedGateway

# Every test runs paycli as real processes against the double over HTTP: system-level, slow.
pytestmark = pytest.mark.slow


def _funded(db: Path, url: str) -> dict[str, str]:
    env = paycli_env(url, PAYCLI_GATEWAY_TIMEOUT="0.5")
    assert run_json(db, "wallet", "credit", "--user", "alice", "--amount", "100", env=env)[0] == 0
    return env


class TestSeedLikeGateway:
    def test_pay_works(self, db_path: Path, seed_gateway: tuple[SeedGateway, str]) -> None:
        """An approving seed gateway: COMPLETED, one charge."""
        double, url = seed_gateway
        env = _funded(db_path, url)
        code, out = run_json(db_path, "pay", "--user", "alice", "--amount", "10", env=env)
        assert code == 0 and out["status"] == "COMPLETED"
        assert len(double.charges) == 1 and wallet(db_path, "alice") == (9000, 0)

    def test_pending_settles_through_status_by_external_id(
            self, db_path: Path, seed_gateway: tuple[SeedGateway, str]) -> None:
        """A pending charge is polled by its externalId until approved."""
        double, url = seed_gateway
        double.mode = "pending"
        env = _funded(db_path, url)
        code, out = run_json(db_path, "pay", "--user", "alice", "--amount", "10", "--wait", "5",
                             env=env)
        assert code == 0 and out["status"] == "COMPLETED"

    def test_unknown_outcome_is_left_processing_never_guessed(
            self, db_path: Path, seed_gateway: tuple[SeedGateway, str]) -> None:
        """The answer never comes and the gateway cannot be asked by payment id: the
        payment stays PROCESSING with its funds held (exit 10), it is not retried (that
        could charge twice), and `recover` leaves it unresolved rather than guess."""
        double, url = seed_gateway
        double.mode = "hang"
        env = _funded(db_path, url)
        code, out = run_json(db_path, "pay", "--user", "alice", "--amount", "10", env=env)
        assert code == 10 and out["status"] == "PROCESSING"
        assert out["error"]["type"] == "outcome_unknown"
        assert len(double.charges) == 1, "a retry without idempotency would charge twice"
        assert wallet(db_path, "alice") == (10000, 1000)
        code, rec = run_json(db_path, "recover", env=env)
        assert code == 10 and rec["resolved"] == []
        assert rec["unresolved"][0]["payment_id"] == out["payment_id"]
        assert wallet(db_path, "alice") == (10000, 1000)
