"""The Stripe-shaped protocol, both ends: `StripeGateway` against a real mock gateway
process started with `--protocol stripe`, and the mock's own PaymentIntents API.

A charge approved, declined, pending then settled by a look-up, a lost answer found by
searching its metadata, partial then full refunds, a wrong key refused as configuration
(exit 11), amounts exact through minor units (JPY 0 decimals, KWD 3, USD 2; an amount finer
than its currency refused), an idempotent retry answered with the same intent, failures
told apart by whether the request could have arrived, and the API key never in anything
the client returns. Then paycli's own pay and refund sagas, unchanged, over it, and `paycli`
itself as processes with a `stripe` gateway in `PAYCLI_GATEWAYS`, alone and beside a
full-protocol one that fails over to it or takes its traffic (those marked slow)."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from helpers import paycli_env, run, run_json
from test_failover import assert_no_double_charge, billing_file, fund

from paycli.devtools.mock_process import MockGatewayProcess, free_port
from paycli.errors import GatewayConfigError
from paycli.gateway.clients import PROTOCOLS, client
from paycli.gateway.http import HttpGateway
from paycli.gateway.protocol import Answer, ChargeRequest, GatewayFailure, RefundAnswer, Rejected
from paycli.gateway.resilience import Resilience
from paycli.gateway.stripe import StripeGateway, to_major, to_minor
from paycli.ledger import wallet
from paycli.money import parse_amount
from paycli.records import PaymentStatus, RefundStatus
from paycli.results.payments import PayResult, RefundResult
from paycli.saga import pay as saga
from paycli.saga import refund as refunds
from paycli.saga.core import SagaEnv
from paycli.saga.steps import SilentReporter
from paycli.store import BreakerStore, Store

KEY = "sk_test_stripe_4eC39HqLyjWD"
FULL_KEY = "test-api-key"  # the full-protocol mock's, when a test runs both


def request(payment_id: str, amount: str, currency: str = "USD",
            key: str | None = None) -> ChargeRequest:
    """A charge request as the saga builds one."""
    return ChargeRequest(payment_id=payment_id, amount=amount, currency=currency,
                         user_id="alice", correlation_id=payment_id,
                         idempotency_key=key or f"paycli-{payment_id}",
                         metadata={"orderId": "order-1", "source": "paycli"})


@pytest.fixture(scope="module")
def stripe_server() -> Iterator[MockGatewayProcess]:
    """One Stripe-protocol mock gateway for this module."""
    with MockGatewayProcess(KEY, protocol="stripe") as server:
        yield server


@pytest.fixture
def mock(stripe_server: MockGatewayProcess) -> MockGatewayProcess:
    """The module's Stripe mock, reset to mode `ok` with nothing in it."""
    stripe_server.reset(mode="ok")
    return stripe_server


@pytest.fixture
def gateway(mock: MockGatewayProcess) -> Iterator[StripeGateway]:
    """paycli's Stripe client pointed at the mock."""
    stripe = StripeGateway(mock.url, KEY, 2.0)
    yield stripe
    stripe.close()


def approved(answer: Answer | Rejected) -> Answer:
    assert isinstance(answer, Answer) and answer.status == "approved", answer
    return answer


class TestCharges:
    def test_an_approved_charge_is_one_intent_at_the_gateway(
            self, mock: MockGatewayProcess, gateway: StripeGateway) -> None:
        """12.34 USD is approved as one intent of 1234 cents, held by the mock as 12.34."""
        answer = approved(gateway.charge(request("pay_ok", "12.34")))
        assert answer.externalId.startswith("pi_")
        [charge] = mock.charges()
        assert (charge["id"], charge["payment_id"], charge["amount"], charge["currency"],
                charge["idempotency_key"]) == (answer.externalId, "pay_ok", "12.34", "USD",
                                               "paycli-pay_ok")

    def test_a_decline_carries_its_code_and_message(
            self, mock: MockGatewayProcess, gateway: StripeGateway) -> None:
        """A 402 card_error is a decline (an answer, not a rejection), and so is the intent
        looked up afterwards (`requires_payment_method`)."""
        mock.set_mode("decline")
        answer = gateway.charge(request("pay_no", "5.00"))
        assert isinstance(answer, Answer) and answer.status == "declined"
        assert answer.message == "Your card was declined. (generic_decline)"
        looked_up = gateway.status(answer.externalId)
        assert looked_up is not None and looked_up.status == "declined"
        assert "declined" in looked_up.message

    def test_pending_then_settled_by_a_look_up(
            self, mock: MockGatewayProcess, gateway: StripeGateway) -> None:
        """`processing` reads as pending; once the mock settles it, `succeeded` as approved."""
        mock.set_mode("pending", latency_ms=200)
        answer = gateway.charge(request("pay_wait", "7.00"))
        assert isinstance(answer, Answer) and answer.status == "pending"
        still = gateway.status(answer.externalId)
        assert still is not None and still.status == "pending"
        settled = _eventually_approved(gateway, answer.externalId)
        assert settled.externalId == answer.externalId

    def test_a_lost_answer_is_found_by_its_metadata(
            self, mock: MockGatewayProcess, gateway: StripeGateway) -> None:
        """The mock charges, then drops the connection: the attempt may have arrived
        (`sent`), and a search by `metadata['payment_id']` finds the one intent."""
        mock.set_mode("lost-response", count=1)
        with pytest.raises(GatewayFailure) as lost:
            gateway.charge(request("pay_lost", "9.99"))
        assert lost.value.sent is True
        found = gateway.find_payment("pay_lost")
        assert found is not None and found.status == "approved"
        assert [c["id"] for c in mock.charges()] == [found.externalId]
        assert gateway.find_payment("pay_never") is None

    def test_an_idempotent_retry_returns_the_same_intent(
            self, mock: MockGatewayProcess, gateway: StripeGateway) -> None:
        """The same `Idempotency-Key` and body: the same intent, one charge; the same key
        with another amount: refused (409), nothing more charged."""
        first = approved(gateway.charge(request("pay_twice", "3.00")))
        again = approved(gateway.charge(request("pay_twice", "3.00")))
        assert again.externalId == first.externalId
        other = gateway.charge(request("pay_twice", "4.00"))
        assert isinstance(other, Rejected) and other.http_status == 409
        assert len(mock.charges()) == 1

    def test_unknown_intents_are_none(self, gateway: StripeGateway) -> None:
        """A look-up of an intent the gateway never made answers None (its 404 is the
        gateway's own error object, not a wrong URL)."""
        assert gateway.status("pi_unknown") is None


def _eventually_approved(gateway: StripeGateway, external_id: str) -> Answer:
    """The intent looked up until it is approved (the mock settles it after 200 ms)."""
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        answer = gateway.status(external_id)
        if answer is not None and answer.status == "approved":
            return answer
        time.sleep(0.05)
    raise AssertionError(f"{external_id} never settled")


class TestRefunds:
    def test_partial_then_full_refunds(self, mock: MockGatewayProcess,
                                       gateway: StripeGateway) -> None:
        """4.00 then 6.00 of 10.00: both refunded, listed on the intent with paycli's
        idempotency keys and the refunded total; a third is refused (400)."""
        charge = approved(gateway.charge(request("pay_rf", "10.00")))
        first = gateway.refund(charge.externalId, "4.00", "customer asked", "rf-key-1")
        second = gateway.refund(charge.externalId, "6.00", "customer asked", "rf-key-2")
        for answer in (first, second):
            assert isinstance(answer, RefundAnswer) and answer.status == "refunded"
            assert answer.externalId == charge.externalId and answer.refundId
        state = gateway.status(charge.externalId)
        assert state is not None and state.refundedAmount == to_major(1000, "USD")
        assert [(r.status, r.idempotencyKey) for r in state.refunds or []] == [
            ("refunded", "rf-key-1"), ("refunded", "rf-key-2")]
        third = gateway.refund(charge.externalId, "0.01", "again", "rf-key-3")
        assert isinstance(third, Rejected) and third.http_status == 400
        assert "refunded already" in third.message or "exceeds" in third.message
        assert [r["amount"] for r in mock.refunds()] == ["4.00", "6.00"]

    def test_a_refund_of_an_unknown_intent_is_rejected(self, gateway: StripeGateway) -> None:
        """404 with Stripe's `resource_missing`: a rejection, not a configuration error."""
        answer = gateway.refund("pi_unknown", "1.00", "r", "rf-unknown")
        assert isinstance(answer, Rejected) and answer.http_status == 404
        assert "resource_missing" in answer.message


class TestExactMoney:
    @pytest.mark.parametrize(("amount", "currency", "minor", "held"), [
        ("1234", "JPY", 1234, "1234"), ("1.234", "KWD", 1234, "1.234"),
        ("12.30", "USD", 1230, "12.30")])
    def test_amounts_travel_in_minor_units(self, mock: MockGatewayProcess,
                                           gateway: StripeGateway, amount: str,
                                           currency: str, minor: int, held: str) -> None:
        """1234 JPY is `amount=1234`, 1.234 KWD is 1234 fils: the mock reads them back
        exactly, and a refund of all of it is exact too."""
        assert to_minor(amount, currency) == minor
        charge = approved(gateway.charge(request(f"pay_{currency}", amount, currency)))
        [record] = mock.charges()
        assert (record["amount"], record["currency"]) == (held, currency)
        refund = gateway.refund(charge.externalId, amount, "all of it", f"rf-{currency}")
        assert isinstance(refund, RefundAnswer) and refund.status == "refunded"
        state = gateway.status(charge.externalId)
        assert state is not None and state.refundedAmount == to_major(minor, currency)

    @pytest.mark.parametrize(("amount", "currency"), [("10.005", "USD"), ("12.5", "JPY"),
                                                      ("1.2345", "KWD")])
    def test_an_amount_finer_than_its_currency_is_refused(
            self, mock: MockGatewayProcess, gateway: StripeGateway, amount: str,
            currency: str) -> None:
        """Refused before anything is sent, never rounded."""
        with pytest.raises(ValueError, match="not an exact amount"):
            gateway.charge(request("pay_fine", amount, currency))
        assert mock.requests() == 0

    def test_the_form_is_stripe_shaped(self) -> None:
        """Form-encoded, lower-case currency, `confirm=true`, paycli's ids and metadata
        under `metadata[...]`, the key as a bearer token and the idempotency key."""
        seen: list[httpx.Request] = []

        def handler(sent: httpx.Request) -> httpx.Response:
            seen.append(sent)
            return httpx.Response(200, json={"id": "pi_1", "status": "succeeded",
                                             "amount": 1234, "currency": "jpy"})

        stripe = StripeGateway("http://gateway.test", KEY, 1.0,
                               transport=httpx.MockTransport(handler))
        approved(stripe.charge(request("pay_form", "1234", "JPY")))
        [sent] = seen
        form = dict(urllib.parse.parse_qsl(sent.content.decode()))
        assert form == {"amount": "1234", "currency": "jpy", "confirm": "true",
                        "metadata[payment_id]": "pay_form", "metadata[user_id]": "alice",
                        "metadata[correlation_id]": "pay_form", "metadata[orderId]": "order-1",
                        "metadata[source]": "paycli"}
        assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
        assert sent.headers["authorization"] == f"Bearer {KEY}"
        assert sent.headers["idempotency-key"] == "paycli-pay_form"
        assert "x-api-key" not in sent.headers


class TestFailuresAndConfiguration:
    def test_a_wrong_key_is_a_configuration_error(self, mock: MockGatewayProcess) -> None:
        """401 on every call: `GatewayConfigError` (exit 11) naming the setting, not the
        key; nothing charged."""
        wrong = "sk_test_wrong_key_0000"
        with closing(StripeGateway(mock.url, wrong, 2.0)) as stripe:
            calls: list[Callable[[], object]] = [
                lambda: stripe.charge(request("pay_401", "1.00")),
                lambda: stripe.status("pi_x"), lambda: stripe.find_payment("pay_401"),
                lambda: stripe.refund("pi_x", "1.00", "r", "rf-401")]
            for call in calls:
                with pytest.raises(GatewayConfigError) as refused:
                    call()
                assert refused.value.exit_code == 11
                assert "PAYCLI_GATEWAY_API_KEY" in refused.value.message
                assert wrong not in refused.value.message
        assert mock.charges() == []

    def test_the_paycli_protocol_at_a_stripe_gateway_is_a_wrong_url(
            self, mock: MockGatewayProcess) -> None:
        """The stripe mock serves no `/payment/process`: the full protocol's client gets
        a route miss, a configuration error, not a decline."""
        with closing(HttpGateway(mock.url, KEY, 2.0)) as full, \
                pytest.raises(GatewayConfigError, match="does not serve POST /payment/process"):
            full.charge(request("pay_wrong_url", "1.00"))

    def test_an_outage_is_a_failure_the_gateway_answered(
            self, mock: MockGatewayProcess, gateway: StripeGateway) -> None:
        """`down` (503 with Stripe's error object): a gateway failure, not an answer."""
        mock.set_mode("down")
        with pytest.raises(GatewayFailure, match="HTTP 503"):
            gateway.charge(request("pay_down", "1.00"))

    def test_a_malformed_answer_may_have_charged(
            self, mock: MockGatewayProcess, gateway: StripeGateway) -> None:
        """200 with a body that is no intent: a failure after the request arrived."""
        mock.set_mode("malformed")
        with pytest.raises(GatewayFailure, match="malformed") as failed:
            gateway.charge(request("pay_bad", "1.00"))
        assert failed.value.sent is True

    def test_a_timeout_may_have_charged(self, mock: MockGatewayProcess) -> None:
        """`slow` past the client's timeout: sent, so the outcome is uncertain."""
        mock.set_mode("slow", latency_ms=1500)
        with closing(StripeGateway(mock.url, KEY, 0.3)) as stripe, \
                pytest.raises(GatewayFailure, match="timed out") as failed:
            stripe.charge(request("pay_slow", "1.00"))
        assert failed.value.sent is True

    def test_a_refused_connection_never_arrived(self) -> None:
        """Nothing listens: not sent, so the payment may go elsewhere."""
        with closing(StripeGateway(f"http://127.0.0.1:{free_port()}", KEY, 1.0)) as stripe, \
                pytest.raises(GatewayFailure, match="connection refused") as failed:
            stripe.charge(request("pay_nobody", "1.00"))
        assert failed.value.sent is False

    @pytest.mark.parametrize(("intent", "why"), [
        ({"id": "pi_1", "status": "requires_action", "amount": 100, "currency": "usd"},
         "status 'requires_action'"),
        ({"id": "pi_1", "status": "succeeded", "amount": 100, "currency": "zzz"}, "currency"),
        ({"id": "pi_1", "status": "succeeded", "amount": "100", "currency": "usd"}, "amount")])
    def test_an_intent_paycli_cannot_read_is_malformed(self, intent: dict[str, object],
                                                       why: str) -> None:
        """A status paycli cannot act on, a currency it has no exponent for, an amount
        that is not an integer: a failure after the request arrived, nothing guessed."""
        stripe = StripeGateway("http://gateway.test", KEY, 1.0, transport=httpx.MockTransport(
            lambda sent: httpx.Response(200, json=intent)))
        with closing(stripe), pytest.raises(GatewayFailure, match="malformed") as failed:
            stripe.charge(request("pay_odd", "1.00"))
        assert failed.value.sent is True and why in failed.value.reason

    def test_a_pending_refund_is_not_an_answer_yet(self) -> None:
        """A refund Stripe still processes: uncertain (sent), to be looked up later."""
        def handler(sent: httpx.Request) -> httpx.Response:
            if sent.method == "GET":
                return httpx.Response(200, json={"id": "pi_1", "status": "succeeded",
                                                 "amount": 100, "currency": "usd"})
            return httpx.Response(200, json={"id": "re_1", "status": "pending",
                                             "amount": 100, "payment_intent": "pi_1"})

        stripe = StripeGateway("http://gateway.test", KEY, 1.0,
                               transport=httpx.MockTransport(handler))
        with closing(stripe), pytest.raises(GatewayFailure, match="pending") as failed:
            stripe.refund("pi_1", "1.00", "r", "rf-pending")
        assert failed.value.sent is True

    def test_the_key_never_appears_in_what_is_returned(self) -> None:
        """A gateway that echoes the key in a decline, a rejection and an error: the
        client's answers say `[redacted]`."""
        def handler(sent: httpx.Request) -> httpx.Response:
            error = {"type": "card_error", "code": "card_declined",
                     "message": f"key {KEY} was used"}
            if sent.url.path.endswith("/search"):
                return httpx.Response(503, json={"error": {**error, "type": "api_error"}})
            if sent.method == "GET":
                return httpx.Response(400, json={"error": error})
            intent = {"id": "pi_k", "status": "requires_payment_method", "amount": 100,
                      "currency": "usd", "last_payment_error": error}
            return httpx.Response(402, json={"error": {**error, "payment_intent": intent}})

        stripe = StripeGateway("http://gateway.test", KEY, 1.0,
                               transport=httpx.MockTransport(handler))
        declined = stripe.charge(request("pay_echo", "1.00"))
        rejected = stripe.refund("pi_k", "1.00", "r", "rf-echo")
        with pytest.raises(GatewayFailure) as failed:
            stripe.find_payment("pay_echo")
        shown = [repr(declined), repr(rejected), failed.value.reason]
        assert all(KEY not in text and "[redacted]" in text for text in shown), shown


class TestTheMockAndTheClients:
    def test_clients_speak_stripe(self) -> None:
        """`clients.client("stripe", …)` is a `StripeGateway`; the others stay HTTP."""
        assert "stripe" in PROTOCOLS
        with closing(client("stripe", "http://gateway.test", KEY, 1.0)) as stripe, \
                closing(client("paycli", "http://gateway.test", KEY, 1.0)) as full:
            assert isinstance(stripe, StripeGateway) and type(full) is HttpGateway

    def test_the_settlement_report_stays_the_full_protocols(
            self, mock: MockGatewayProcess, gateway: StripeGateway) -> None:
        """`GET /reports/settlement` with the bearer key: the charge in major units."""
        charge = approved(gateway.charge(request("pay_report", "1.234", "KWD")))
        with gateway.settlement_report() as lines:
            rows = list(lines)
        assert rows[1].split(",")[:6] == [charge.externalId, "pay_report", "charge",
                                          "approved", "1.234", "KWD"]

    def test_the_mock_refuses_a_malformed_intent_in_stripes_shape(
            self, mock: MockGatewayProcess) -> None:
        """An upper-case currency, a decimal amount, no `confirm`: 400
        `invalid_request_error`, nothing charged."""
        headers = {"Authorization": f"Bearer {KEY}"}
        base = {"amount": "100", "currency": "usd", "confirm": "true",
                "metadata[payment_id]": "pay_form_bad"}
        for change in ({"currency": "USD"}, {"amount": "1.00"}, {"confirm": "false"},
                       {"metadata[payment_id]": ""}):
            answer = httpx.post(f"{mock.url}/v1/payment_intents", data={**base, **change},
                                headers=headers)
            assert answer.status_code == 400, change
            assert answer.json()["error"]["type"] == "invalid_request_error"
        assert mock.charges() == []

    def test_the_mock_searches_only_by_payment_id(self, mock: MockGatewayProcess) -> None:
        """Any other query is a 400 in Stripe's shape; a found intent comes back in
        `data`."""
        headers = {"Authorization": f"Bearer {KEY}"}
        url = f"{mock.url}/v1/payment_intents/search"
        refused = httpx.get(url, params={"query": "status:'succeeded'"}, headers=headers)
        assert refused.status_code == 400 and refused.json()["error"]["code"]
        empty = httpx.get(url, params={"query": "metadata['payment_id']:'pay_none'"},
                          headers=headers)
        assert empty.status_code == 200 and empty.json()["data"] == []


class TestTheMockKeepsItsWord:
    def test_a_replayed_refund_is_the_same_refund(self, mock: MockGatewayProcess,
                                                  gateway: StripeGateway) -> None:
        """A refund sent twice with one `Idempotency-Key` is one refund at the gateway."""
        charge = approved(gateway.charge(request("pay_rf_twice", "5.00")))
        first = gateway.refund(charge.externalId, "1.00", "r", "rf-twice")
        again = gateway.refund(charge.externalId, "1.00", "r", "rf-twice")
        assert isinstance(first, RefundAnswer) and isinstance(again, RefundAnswer)
        assert first.refundId == again.refundId and len(mock.refunds()) == 1

    def test_it_announces_its_protocol(self, mock: MockGatewayProcess) -> None:
        """The ready line names the protocol, as for the others."""
        assert f"listening on {mock.url} (mode ok, protocol stripe)" in mock.stderr_text()

    def test_concurrent_requests_with_one_key_make_one_intent(
            self, mock: MockGatewayProcess, gateway: StripeGateway) -> None:
        """20 charges at once under one `Idempotency-Key`: one intent, every answer it."""
        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(pool.map(lambda _: gateway.charge(request("pay_race", "8.00")),
                                    range(20)))
        assert {approved(answer).externalId for answer in answers} == {
            charge["id"] for charge in mock.charges()}
        assert len(mock.charges()) == 1

    def test_its_settlement_report_through_the_process_manager(
            self, mock: MockGatewayProcess, gateway: StripeGateway) -> None:
        """`MockGatewayProcess.settlement_report` sends the bearer key a stripe mock wants."""
        approved(gateway.charge(request("pay_pm", "2.50")))
        report = mock.settlement_report().splitlines()
        assert report[0].startswith("external_id,payment_id") and ",pay_pm,charge," in report[1]

    def test_its_state_file_keeps_intents_and_refunds(self, tmp_path: Path) -> None:
        """Restarted on its `--state` file, the mock still knows the intent, its
        metadata and its refunds."""
        state = tmp_path / "stripe-state.json"
        with MockGatewayProcess(KEY, "--state", str(state), protocol="stripe") as first, \
                closing(StripeGateway(first.url, KEY, 2.0)) as stripe:
            charge = approved(stripe.charge(request("pay_kept", "1.234", "KWD")))
            stripe.refund(charge.externalId, "0.234", "r", "rf-kept")
        with MockGatewayProcess(KEY, "--state", str(state), protocol="stripe") as second, \
                closing(StripeGateway(second.url, KEY, 2.0)) as stripe:
            found = stripe.find_payment("pay_kept")
        assert found is not None and found.externalId == charge.externalId
        assert found.refundedAmount == to_major(234, "KWD")
        assert [r.idempotencyKey for r in found.refunds or []] == ["rf-kept"]


@pytest.fixture
def saga_env(store: Store, mock: MockGatewayProcess) -> Iterator[SagaEnv]:
    """The real sagas on the test's ledger, their gateway the Stripe client at the mock:
    3 attempts, no backoff."""
    env = SagaEnv(store, gateway=lambda: client("stripe", mock.url, KEY, 2.0),
                  resilience=lambda on: Resilience(BreakerStore(on), failures=5, reset_s=30.0,
                                                attempts=3, attempt_timeout_s=2.0,
                                                backoff_s=0.0, max_backoff_s=0.0))
    yield env
    env.close()


def pay(env: SagaEnv, amount: str, currency: str) -> PayResult:
    """The pay saga for alice, not waiting on a pending charge."""
    outcome = saga.pay(env, saga.PayRequest("alice", parse_amount(amount, currency),
                                            wait_s=0.0), SilentReporter())
    assert isinstance(outcome.result, PayResult)
    return outcome.result


def refund(env: SagaEnv, payment_id: str, amount: str | None) -> RefundResult:
    """The refund saga, for `amount` (None: what is left)."""
    outcome = refunds.refund(env, refunds.RefundRequest(payment_id, amount, "returned"),
                             SilentReporter(), 1_000_000)
    assert isinstance(outcome.result, RefundResult)
    return outcome.result


class TestTheSagasOverStripe:
    """paycli's own pay and refund sagas, unchanged, over the Stripe-shaped protocol."""

    @pytest.mark.parametrize(("amount", "part", "currency"), [("1234", "234", "JPY"),
                                                              ("1.234", "0.234", "KWD")])
    def test_a_payment_and_its_refunds_are_exact(
            self, store: Store, saga_env: SagaEnv, mock: MockGatewayProcess, amount: str,
            part: str, currency: str) -> None:
        """Paid, refunded in part, then in full: COMPLETED then REFUNDED, the gateway's
        records in the same exact amounts, the wallet whole again."""
        wallet.credit(store, "alice", parse_amount("5000", currency))
        paid = pay(saga_env, amount, currency)
        assert paid.status == PaymentStatus.COMPLETED and paid.payment_id is not None
        assert paid.gateway_ref == mock.charges()[0]["id"]
        first = refund(saga_env, paid.payment_id, part)
        rest = refund(saga_env, paid.payment_id, None)
        assert (first.status, rest.status) == (RefundStatus.COMPLETED, RefundStatus.COMPLETED)
        assert rest.payment_status == PaymentStatus.REFUNDED
        assert [r["amount"] for r in mock.refunds()] == [
            part, str(Decimal(amount) - Decimal(part))]
        assert rest.balance == parse_amount("5000", currency).text

    def test_answers_lost_on_every_attempt_are_found_by_metadata(
            self, store: Store, saga_env: SagaEnv, mock: MockGatewayProcess) -> None:
        """Every attempt's answer lost (a retried POST would be lost too): only the search
        by the payment id's metadata can tell the saga the outcome, and it completes the
        payment, charged once."""
        wallet.credit(store, "alice", parse_amount("100", "USD"))
        mock.set_mode("lost-response", count=3)
        paid = pay(saga_env, "12.34", "USD")
        assert paid.status == PaymentStatus.COMPLETED
        [charge] = mock.charges()
        assert (charge["id"], charge["amount"]) == (paid.gateway_ref, "12.34")

    def test_a_decline_fails_the_payment_with_stripes_words(
            self, store: Store, saga_env: SagaEnv, mock: MockGatewayProcess) -> None:
        """402 `card_error`: FAILED, the decline's message kept, the hold released."""
        wallet.credit(store, "alice", parse_amount("100", "USD"))
        mock.set_mode("decline")
        paid = pay(saga_env, "10.00", "USD")
        assert paid.status == PaymentStatus.FAILED and paid.error is not None
        assert "Your card was declined. (generic_decline)" in paid.error.message
        assert paid.balance == "100.00"


def stripe_env(mock: MockGatewayProcess, key: str = KEY) -> dict[str, str]:
    """A paycli environment with one gateway, `card`, speaking the Stripe-shaped protocol."""
    return paycli_env(None, PAYCLI_GATEWAYS=f"card={mock.url}|stripe",
                      PAYCLI_GATEWAY_CARD_API_KEY=key)


@pytest.mark.slow
class TestPaycliOverStripe:
    """`paycli` itself, as processes, configured with a `stripe` gateway."""

    def test_pay_then_refund_in_part_and_in_full(self, db_path: Path,
                                                 mock: MockGatewayProcess) -> None:
        """1234 JPY paid, 234 then the rest refunded: exit 0 each, the payment REFUNDED at
        gateway `card`, the mock holding the same yen, and reconcile finding no break."""
        env = stripe_env(mock)
        assert run_json(db_path, "wallet", "credit", "--user", "alice", "--amount", "5000",
                        "--currency", "JPY", env=env)[0] == 0
        code, paid = run_json(db_path, "pay", "--user", "alice", "--amount", "1234",
                              "--currency", "JPY", env=env)
        assert code == 0 and paid["status"] == "COMPLETED"
        assert paid["gateway_ref"] == mock.charges()[0]["id"]
        for amount in (["--amount", "234"], []):
            code, refunded = run_json(db_path, "refund", paid["payment_id"], *amount, env=env)
            assert code == 0 and refunded["status"] == "COMPLETED", refunded
        code, shown = run_json(db_path, "payments", "show", paid["payment_id"], env=env)
        assert (shown["status"], shown["gateway"], shown["refunded_amount"]) == (
            "REFUNDED", "card", "1234")
        assert [r["amount"] for r in mock.refunds()] == ["234", "1000"]
        done = run(db_path, "reconcile", "--from-gateway", env=env)
        assert done.returncode == 0 and "no break left" in done.stdout

    def test_a_wrong_key_is_exit_11(self, db_path: Path, mock: MockGatewayProcess) -> None:
        """The gateway's 401: exit 11, `gateway_config`, the hold released, nothing charged,
        the wrong key nowhere in the output."""
        wrong = "sk_test_wrong_key_0000"
        env = stripe_env(mock, wrong)
        run_json(db_path, "wallet", "credit", "--user", "alice", "--amount", "100", env=env)
        done = run(db_path, "pay", "--user", "alice", "--amount", "10", "--json", env=env)
        out = json.loads(done.stdout)
        assert done.returncode == 11 and out["error"]["type"] == "gateway_config"
        assert "refused paycli's API key (HTTP 401" in out["error"]["message"]
        assert wrong not in done.stdout + done.stderr
        assert out["balance"] == "100.00" and mock.charges() == []


@pytest.mark.slow
@pytest.mark.parametrize("stripe_is", ["backup", "primary"])
def test_failover_between_the_two_protocols(db_path: Path, tmp_path: Path,
                                            stripe_is: str) -> None:
    """A full-protocol and a Stripe-shaped gateway, either first; the primary `down` for
    the middle of three billing runs: every payment completed at one gateway or failed
    with its reason, none charged at both, both gateways' charges adding up to the
    ledger's COMPLETED total."""
    stripe = MockGatewayProcess(KEY, protocol="stripe")
    full = MockGatewayProcess(FULL_KEY)
    primary, backup = (full, stripe) if stripe_is == "backup" else (stripe, full)
    with primary, backup:
        listed = ",".join(f"{name}={mock.url}{'|stripe' if mock is stripe else ''}"
                          for name, mock in (("primary", primary), ("backup", backup)))
        env = paycli_env(PAYCLI_GATEWAYS=listed, PAYCLI_BREAKER_RESET_SECONDS="1",
                         PAYCLI_GATEWAY_TIMEOUT="1", PAYCLI_GATEWAY_PRIMARY_API_KEY=primary.api_key,
                         PAYCLI_GATEWAY_BACKUP_API_KEY=backup.api_key)
        fund(db_path, env, "30")
        for number, mode in enumerate(("ok", "down", "ok")):
            primary.set_mode(mode)
            if number == 2:
                time.sleep(1.2)  # the primary's breaker may probe again
            rows = billing_file(tmp_path / f"run{number}.csv", number * 10, 10)
            done = run(db_path, "batch", str(rows), "--json", env=env, timeout=300)
            assert done.returncode in (0, 5), done.stderr
        found = assert_no_double_charge(db_path, (primary, backup))
    assert len(found["payments"]) == 30 and found["primary"] >= 10 and found["backup"] >= 1
    assert all(p.error_type for p in found["payments"] if p.status == PaymentStatus.FAILED)
