"""A gateway that refuses paycli's configuration: a wrong API key (401/403) or a URL that
does not lead to the protocol (404/405 on a protocol path) is a configuration error (exit
11) that names the setting to check, releases the hold, is never retried and never counted
by the breaker; an empty API key is a usage error (exit 2) before anything is written; no
key at all is the built-in test key for a loopback gateway only, and a configuration error
(exit 11) before anything is written for a gateway anywhere else.

The HTTP client is checked over `httpx.MockTransport`; the sagas against the real mock
gateway over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from helpers import paycli_env, run, run_json, wallet

from paycli.config import BUILTIN_API_KEY, Settings, is_loopback
from paycli.devtools.mock_process import MockGatewayProcess
from paycli.errors import GatewayConfigError, UsageError
from paycli.gateway.http import HttpGateway
from paycli.gateway.protocol import ChargeRequest, Rejected
from paycli.gateway.resilience import Resilience
from paycli.records import Payment, PaymentStatus, StepStatus
from paycli.saga import calls, lookups
from paycli.saga.core import Decision, SagaEnv
from paycli.saga.steps import SilentReporter, Step, StepUpdate
from paycli.store import BreakerStore, Store

Handler = Callable[[httpx.Request], httpx.Response]
REQUEST = ChargeRequest(payment_id=f"pay_{'b' * 24}", amount="10.00", currency="USD",
                        user_id="alice", correlation_id=f"pay_{'b' * 24}",
                        idempotency_key=f"paycli-pay_{'b' * 24}", metadata={})
ROUTE_MISS = "Not Found"  # what Starlette (and many a web server) answers for an unknown path
UNKNOWN_CHARGE = json.dumps({"error": "unknown externalId ext_9"})


def answering(status: int, body: str) -> Handler:
    """A handler giving every request the same answer."""
    return lambda request: httpx.Response(status, content=body.encode())


def client(handler: Handler) -> HttpGateway:
    """An HTTP gateway client whose every request goes to `handler`."""
    return HttpGateway("http://gateway.test/v1", "a-key", 1.0,
                       transport=httpx.MockTransport(handler))


def every_call(gateway: HttpGateway) -> dict[str, Callable[[], object]]:
    """Each protocol call of the client, ready to make."""
    return {
        "process": lambda: gateway.charge(REQUEST),
        "status": lambda: gateway.status("ext_9"),
        "find": lambda: gateway.find_payment(REQUEST.payment_id),
        "refund": lambda: gateway.refund("ext_9", "1.00", "test", "paycli-ref_1"),
    }


class TestTheClientTellsConfigurationFromAnswers:
    @pytest.mark.parametrize("status", [401, 403])
    def test_a_refused_key_on_every_call_names_the_key_setting(self, status: int) -> None:
        """401 and 403 on any protocol call are configuration errors naming
        PAYCLI_GATEWAY_API_KEY, with the gateway's text trimmed, never a decline."""
        gateway = client(answering(status, "Unauthorized\n"))
        for name, call in every_call(gateway).items():
            with pytest.raises(GatewayConfigError) as caught:
                call()
            message = caught.value.message
            assert "PAYCLI_GATEWAY_API_KEY" in message, name
            assert f"(HTTP {status}: Unauthorized)" in message and "\n" not in message
            assert caught.value.exit_code == 11 and caught.value.type == "gateway_config"

    @pytest.mark.parametrize("status,body", [(405, UNKNOWN_CHARGE), (405, ""),
                                             (404, ROUTE_MISS), (404, "<html>404</html>")])
    def test_a_path_the_gateway_does_not_serve_names_the_url_setting(
            self, status: int, body: str) -> None:
        """405 on any protocol path, and a 404 that is a web server's route miss (not the
        gateway's JSON error), are configuration errors naming the URL settings."""
        gateway = client(answering(status, body))
        for name, call in every_call(gateway).items():
            with pytest.raises(GatewayConfigError) as caught:
                call()
            message = caught.value.message
            assert "PAYCLI_GATEWAY_URL / --gateway-url" in message, name
            assert "http://gateway.test/v1" in message and f"HTTP {status}" in message

    def test_process_has_no_legitimate_404(self) -> None:
        """`POST /payment/process` answering 404, even with a JSON error body, is a wrong
        URL: a charge is never "unknown"."""
        with pytest.raises(GatewayConfigError, match="POST /payment/process"):
            client(answering(404, UNKNOWN_CHARGE)).charge(REQUEST)

    def test_a_404_with_the_gateways_error_is_still_an_answer(self) -> None:
        """The gateway's own JSON 404 means an unknown charge: a look-up finds nothing, a
        refund is refused (as before)."""
        gateway = client(answering(404, UNKNOWN_CHARGE))
        assert gateway.status("ext_9") is None
        assert gateway.find_payment(REQUEST.payment_id) is None
        refused = gateway.refund("ext_9", "1.00", "test", "paycli-ref_1")
        assert refused == Rejected(404, "unknown externalId ext_9")

    def test_other_4xx_stay_answers(self) -> None:
        """A 400 or 422 is the gateway refusing the request itself: still a rejection."""
        for status in (400, 409, 422):
            answer = client(answering(status, '{"error": "bad card"}')).charge(REQUEST)
            assert answer == Rejected(status, "bad card")

    def test_the_message_shows_no_user_info_of_the_url(self) -> None:
        """Credentials written into the gateway URL never reach the message."""
        gateway = HttpGateway("http://user:secret@gateway.test", "a-key", 1.0,
                              transport=httpx.MockTransport(answering(404, ROUTE_MISS)))
        with pytest.raises(GatewayConfigError) as caught:
            gateway.charge(REQUEST)
        assert "secret" not in caught.value.message
        assert "http://gateway.test does not serve" in caught.value.message


class TestNeitherRetriedNorCounted:
    def test_one_attempt_and_the_breaker_untouched(self, store: Store) -> None:
        """A configuration error ends the call on its first attempt and adds no failure to
        the shared breaker, even one failure away from opening."""
        shared = BreakerStore(store)
        shared.add_failure()
        resilience = Resilience(shared, failures=2, reset_s=30.0, attempts=3,
                                attempt_timeout_s=1.0, backoff_s=0.0, max_backoff_s=0.0)
        made: list[int] = []

        def attempt(number: int) -> None:
            made.append(number)
            raise GatewayConfigError("the gateway refused paycli's API key (HTTP 401)")

        with pytest.raises(GatewayConfigError):
            resilience.call(attempt)
        assert made == [1]
        assert shared.read().state == "closed" and shared.read().failures <= 1


def payment_record() -> Payment:
    """A payment as the saga hands it to `calls.charge` (not stored: an approved or
    refused charge never writes the ledger from there)."""
    return Payment(id=REQUEST.payment_id, user_id="alice", currency="USD", amount=1000,
                   order_id=None, idempotency_key=None, gateway_key=REQUEST.idempotency_key,
                   status=PaymentStatus.PROCESSING, gateway_ref=None, hold_id=None, refunded=0,
                   refund_reserved=0, error_type=None, error_message=None, owner=None,
                   created_at="now", updated_at="now")


def env_with(store: Store, gateway: HttpGateway) -> SagaEnv:
    """A saga environment on `store` whose gateway is `gateway`."""
    return SagaEnv(store, gateway=lambda: gateway, resilience=lambda on: Resilience(
        BreakerStore(on), failures=5, reset_s=30.0, attempts=3, attempt_timeout_s=1.0,
        backoff_s=0.0, max_backoff_s=0.0))


class TestTheVerdicts:
    def test_a_refused_key_voids_the_hold(self, store: Store) -> None:
        """The charge's verdict is UNAVAILABLE (the settle path voids the hold) with the
        error type `gateway_config`, after exactly one request."""
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(401, content=b"Unauthorized\n")

        step = Step(StepUpdate("ProcessPayment", StepStatus.RUNNING), SilentReporter())
        verdict = calls.charge(env_with(store, client(handler)), payment_record(), step, 1.0)
        assert verdict.decision == Decision.UNAVAILABLE and verdict.error_type == "gateway_config"
        assert verdict.message is not None and "PAYCLI_GATEWAY_API_KEY" in verdict.message
        assert "nothing was charged" in verdict.message
        assert len(seen) == 1

    def test_recover_keeps_the_hold_when_it_cannot_ask(self, store: Store) -> None:
        """`recover` asking with a refused key learns nothing: the outcome stays unknown
        (the hold kept), it is never taken for "no charge"."""
        gateway = client(answering(401, "Unauthorized\n"))
        pending = payment_record()._replace(gateway_ref="ext_9")
        verdict = lookups.ask_about_payment(env_with(store, gateway), pending)
        assert verdict.decision == Decision.UNKNOWN
        assert verdict.message is not None and "PAYCLI_GATEWAY_API_KEY" in verdict.message

    def test_a_route_miss_on_lookup_is_not_taken_for_no_charge(self, store: Store) -> None:
        """A wrong URL answering a plain 404 to a look-up never releases a hold as if the
        gateway held no charge."""
        gateway = client(answering(404, ROUTE_MISS))
        verdict = lookups.ask_about_payment(env_with(store, gateway), payment_record())
        assert verdict.decision == Decision.UNKNOWN


@pytest.fixture
def funded(db_path: Path, gateway: MockGatewayProcess) -> Path:
    """A ledger where alice has 100.00 USD."""
    env = paycli_env(gateway.url)
    assert run_json(db_path, "wallet", "credit", "--user", "alice", "--amount", "100",
                    env=env)[0] == 0
    return db_path


@pytest.mark.slow  # paycli as real processes against the mock gateway
class TestThroughTheCommandLine:
    """These need the saga's error maps to know `gateway_config` (exit 11)."""

    def test_a_wrong_key_exits_11_and_releases_the_hold(
            self, funded: Path, gateway: MockGatewayProcess) -> None:
        """paycli with a key the gateway refuses: exit 11, FAILED, the hold released, the
        message names PAYCLI_GATEWAY_API_KEY, one request made and no breaker failure."""
        env = paycli_env(gateway.url, PAYCLI_GATEWAY_API_KEY="not-the-key")
        before = gateway.requests()
        code, out = run_json(funded, "pay", "--user", "alice", "--amount", "10", env=env)
        assert out["error"]["type"] == "gateway_config" and out["status"] == "FAILED"
        assert "PAYCLI_GATEWAY_API_KEY" in out["error"]["message"]
        assert wallet(funded, "alice") == (10000, 0)
        assert gateway.requests() - before == 1 and gateway.charges() == []
        assert run_json(funded, "gateway", "status", env=env)[1]["failures"] == 0
        assert code == 11

    def test_a_wrong_path_exits_11_naming_the_url(
            self, funded: Path, gateway: MockGatewayProcess) -> None:
        """A gateway URL with a wrong path (the server answers a plain 404): exit 11 and
        the message names PAYCLI_GATEWAY_URL / --gateway-url; nothing charged or held."""
        env = paycli_env(gateway.url)
        done = run(funded, "--gateway-url", f"{gateway.url}/v2", "pay", "--user", "alice",
                   "--amount", "10", env=env)
        assert "PAYCLI_GATEWAY_URL / --gateway-url" in done.stderr
        assert "decline" not in done.stderr
        assert wallet(funded, "alice") == (10000, 0) and gateway.charges() == []
        assert done.returncode == 11

    def test_a_refund_with_a_wrong_key_exits_11_and_releases_the_reservation(
            self, funded: Path, gateway: MockGatewayProcess) -> None:
        """A refund the gateway refuses for the key: exit 11, the refund FAILED, the
        payment still refundable in full."""
        good = paycli_env(gateway.url)
        paid = run_json(funded, "pay", "--user", "alice", "--amount", "10", env=good)[1]
        bad = paycli_env(gateway.url, PAYCLI_GATEWAY_API_KEY="not-the-key")
        code, out = run_json(funded, "refund", paid["payment_id"], env=bad)
        assert out["status"] == "FAILED" and out["error"]["type"] == "gateway_config"
        assert out["payment_status"] == "COMPLETED" and gateway.refunds() == []
        assert run_json(funded, "refund", paid["payment_id"], env=good)[0] == 0
        assert code == 11


class TestAnEmptyKey:
    @pytest.mark.parametrize("source", ["env", "file"])
    @pytest.mark.parametrize("value", ["", "   "])
    def test_is_a_usage_error(self, source: str, value: str) -> None:
        """An empty (or blank) API key, from the environment or paycli.toml, is a usage
        error naming PAYCLI_GATEWAY_API_KEY."""
        settings = (Settings(env={"PAYCLI_GATEWAY_API_KEY": value}) if source == "env"
                    else Settings(env={}, _file={"gateway_api_key": value}))
        with pytest.raises(UsageError, match="PAYCLI_GATEWAY_API_KEY is empty"):
            _ = settings.gateway_api_key

    @pytest.mark.slow  # paycli as a real process
    def test_pay_writes_nothing(self, funded: Path, gateway: MockGatewayProcess,
                                event_count: Callable[[Path], int]) -> None:
        """`pay` with an empty key exits 2 before anything is written or sent (needs the
        saga's settings check to read the key up front)."""
        env = paycli_env(gateway.url, PAYCLI_GATEWAY_API_KEY="")
        events, requests = event_count(funded), gateway.requests()
        code, out = run_json(funded, "pay", "--user", "alice", "--amount", "10", env=env)
        assert (code, out["error"]["type"]) == (2, "usage_error")
        assert "PAYCLI_GATEWAY_API_KEY" in out["error"]["message"]
        assert event_count(funded) == events and gateway.requests() == requests
        assert wallet(funded, "alice") == (10000, 0)


ELSEWHERE = "http://192.0.2.1:3000"  # TEST-NET-1: never reached by these tests
NO_KEY = "PAYCLI_GATEWAY_API_KEY is not set"


class TestTheBuiltInKey:
    @pytest.mark.parametrize("url", ["http://127.0.0.1:3000", "http://127.8.9.10",
                                     "http://localhost:3000", "http://LOCALHOST.",
                                     "http://[::1]:3000", "https://api.localhost",
                                     "http://[::ffff:127.0.0.1]:3000"])
    def test_is_the_default_for_a_loopback_gateway(self, url: str) -> None:
        """With no key set, a gateway on this machine gets the mock's built-in key."""
        settings = Settings(overrides={"gateway_url": url}, env={})
        assert settings.gateway_api_key == BUILTIN_API_KEY == "test-api-key"

    @pytest.mark.parametrize("url", ["http://192.0.2.1:3000", "https://pay.example.com",
                                     "http://128.0.0.1", "http://localhost.example.com",
                                     "http://[2001:db8::1]", "http://10.0.0.1"])
    def test_is_never_sent_anywhere_else(self, url: str) -> None:
        """With no key set, any other gateway is a configuration error (exit 11) naming
        PAYCLI_GATEWAY_API_KEY."""
        settings = Settings(overrides={"gateway_url": url}, env={})
        with pytest.raises(GatewayConfigError, match=NO_KEY) as raised:
            _ = settings.gateway_api_key
        assert raised.value.exit_code == 11 and not is_loopback(url.split("//")[1])

    @pytest.mark.parametrize("source", ["env", "file"])
    def test_a_configured_key_goes_anywhere(self, source: str) -> None:
        """A key from the environment or paycli.toml is sent to whatever gateway is set."""
        settings = (Settings(overrides={"gateway_url": ELSEWHERE},
                             env={"PAYCLI_GATEWAY_API_KEY": "live-key"}) if source == "env"
                    else Settings(overrides={"gateway_url": ELSEWHERE}, env={},
                                  _file={"gateway_api_key": "live-key"}))
        assert settings.gateway_api_key == "live-key"


@pytest.mark.slow  # paycli as real processes
class TestNoKeyForARemoteGateway:
    @staticmethod
    def events(db: Path) -> int:
        """How many events the ledger holds."""
        with Store(str(db)) as store:
            return store.read.event_count()

    def assert_refused(self, db: Path, *args: str) -> None:
        """`args` with a remote gateway and no key: exit 11, one line naming the key's
        variable, no traceback, and not one event written."""
        before = self.events(db)
        done = run(db, "--gateway-url", ELSEWHERE, *args, env=paycli_env())
        assert done.returncode == 11, done.stderr
        assert NO_KEY in done.stderr and "192.0.2.1" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
        assert self.events(db) == before

    def test_every_command_that_calls_the_gateway_stops_first(
            self, funded: Path, gateway: MockGatewayProcess, tmp_path: Path) -> None:
        """pay, refund, batch, recover and reconcile --from-gateway write nothing."""
        paid = run_json(funded, "pay", "--user", "alice", "--amount", "10",
                        env=paycli_env(gateway.url))[1]
        billing = tmp_path / "run.jsonl"
        billing.write_text('{"user": "alice", "amount": "1", "order_id": "o-1"}\n')
        self.assert_refused(funded, "pay", "--user", "alice", "--amount", "5")
        self.assert_refused(funded, "refund", paid["payment_id"])
        self.assert_refused(funded, "batch", str(billing))
        self.assert_refused(funded, "recover")
        self.assert_refused(funded, "reconcile", "--from-gateway")
        assert wallet(funded, "alice") == (9000, 0)

    def test_commands_that_do_not_call_it_still_work(self, funded: Path,
                                                     tmp_path: Path) -> None:
        """`wallet balance`, and `reconcile` from a report file, with a remote gateway and
        no key work as ever."""
        done = run(funded, "--gateway-url", ELSEWHERE, "wallet", "balance", "--user", "alice",
                   env=paycli_env())
        assert done.returncode == 0 and "Balance    100.00" in done.stdout
        report = tmp_path / "settlement.csv"  # the gateway settled nothing, as the ledger says
        report.write_text("external_id,payment_id,type,status,amount,currency,created_at\n")
        done = run(funded, "--gateway-url", ELSEWHERE, "reconcile", "--report", str(report),
                   env=paycli_env())
        assert done.returncode == 0, done.stderr

    def test_the_loopback_default_still_pays(self, funded: Path,
                                             gateway: MockGatewayProcess) -> None:
        """No key set and the mock gateway on 127.0.0.1: the built-in key pays."""
        assert gateway.url.startswith("http://127.0.0.1:")
        code, out = run_json(funded, "pay", "--user", "alice", "--amount", "10",
                             env=paycli_env(gateway.url))
        assert (code, out["status"]) == (0, "COMPLETED")

    def test_with_a_key_it_goes_to_the_gateway(self, funded: Path) -> None:
        """With a key set, a remote gateway is called: here it cannot be reached (exit 5,
        the payment FAILED and its hold released), so the key check let it through."""
        env = paycli_env(ELSEWHERE, PAYCLI_GATEWAY_API_KEY="live-key",
                         PAYCLI_GATEWAY_TIMEOUT="0.3", PAYCLI_RETRY_ATTEMPTS="1")
        code, out = run_json(funded, "pay", "--user", "alice", "--amount", "10", env=env)
        assert out["error"]["type"] != "gateway_config" and code == 5, out
        assert wallet(funded, "alice") == (10000, 0)
