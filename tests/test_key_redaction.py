"""The gateway's API key is kept out of every output without rewriting the gateway's
words: it is cut out only where it stands as itself, and a key too short to be a secret
is refused (exit 11) before anything is written or sent."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from helpers import paycli_env, run, run_json

from paycli.config import MIN_API_KEY_LENGTH, Settings
from paycli.errors import GatewayConfigError
from paycli.gateway.http import HttpGateway
from paycli.gateway.protocol import ChargeRequest

REQUEST = ChargeRequest(payment_id=f"pay_{'a' * 24}", amount="12.50", currency="USD",
                        user_id="alice", correlation_id="c-1", idempotency_key="paycli-c-1",
                        metadata={})
KEY = "sk_test_4eC39HqLyjWD"


def declined_with(message: str) -> str:
    """The decline message the client passes on when the gateway says `message`."""
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"externalId": "ext_1", "status": "declined",
                                         "message": message})

    gateway = HttpGateway("http://gateway.test", KEY, 1.0, transport=httpx.MockTransport(handler))
    return str(gateway.charge(REQUEST))


class TestOnlyTheKeyItself:
    """Redaction touches the key, not the words around it."""

    def test_the_key_standing_alone_is_cut(self) -> None:
        """`key sk_test_… is revoked`: the key is gone, the sentence stays."""
        shown = declined_with(f"key {KEY} is revoked")
        assert KEY not in shown and "key [redacted] is revoked" in shown

    def test_a_longer_token_that_contains_it_is_left_alone(self) -> None:
        """A different, longer id that happens to start with the key is not the key."""
        longer = KEY + "extra9"
        assert f"card {longer} declined" in declined_with(f"card {longer} declined")


class TestShortKeys:
    """A key shorter than any real gateway's is refused as configuration."""

    def test_the_built_in_key_is_long_enough(self) -> None:
        """`test-api-key`, the default for the local mock, is still accepted."""
        assert Settings(env={}).gateway_api_key == "test-api-key"
        assert len("test-api-key") >= MIN_API_KEY_LENGTH == 8

    @pytest.mark.parametrize("key", ["wrong", "k", "1234567"])
    def test_refused_as_configuration(self, key: str) -> None:
        """Shorter than 8: `GatewayConfigError` (exit 11) naming the setting, not the key."""
        with pytest.raises(GatewayConfigError) as refused:
            _ = Settings(env={"PAYCLI_GATEWAY_API_KEY": key}).gateway_api_key
        assert refused.value.exit_code == 11
        assert refused.value.message == (
            f"PAYCLI_GATEWAY_API_KEY is {len(key)} characters, too short to be a gateway's "
            "API key (at least 8); nothing was sent")

    def test_pay_with_a_short_key_writes_nothing(self, tmp_path: Path) -> None:
        """`PAYCLI_GATEWAY_API_KEY=wrong paycli pay`: exit 11, the reason in words (not
        `missing or [redacted] X-API-Key`), no payment, no event."""
        db = tmp_path / "ledger.db"
        assert run_json(db, "wallet", "credit", "--user", "alice", "--amount", "50")[0] == 0
        env = paycli_env("http://127.0.0.1:9", PAYCLI_GATEWAY_API_KEY="wrong")
        done = run(db, "pay", "--user", "alice", "--amount", "5", env=env)
        assert (done.returncode, done.stdout) == (11, "")
        assert done.stderr == ("Error: PAYCLI_GATEWAY_API_KEY is 5 characters, too short to "
                               "be a gateway's API key (at least 8); nothing was sent\n")
        code, listed = run_json(db, "payments", "list")
        assert (code, listed["payments"]) == (0, [])
