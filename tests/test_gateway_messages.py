"""Gateway text is trimmed at the boundary: the seed's gateway ends its messages with a
newline (`Payment cannot be refunded\\n`, its plain-text 401 `Unauthorized\\n`), and paycli
stores and shows every such message as one clean line."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from pydantic import ValidationError

from paycli.gateway.http import HttpGateway
from paycli.gateway.protocol import Answer, ChargeRequest, GatewayFailure, RefundAnswer, Rejected
from paycli.gateway.resilience import Resilience
from paycli.ledger import wallet
from paycli.money import parse_amount
from paycli.results import messages
from paycli.saga import pay as saga
from paycli.saga import refund as refunds
from paycli.saga.core import SagaEnv
from paycli.saga.steps import SilentReporter
from paycli.store import BreakerStore, Store

Handler = Callable[[httpx.Request], httpx.Response]
REQUEST = ChargeRequest(payment_id=f"pay_{'e' * 24}", amount="5.00", currency="USD",
                        user_id="alice", correlation_id=f"pay_{'e' * 24}",
                        idempotency_key=f"paycli-pay_{'e' * 24}", metadata={})


def client(handler: Handler) -> HttpGateway:
    """An HTTP gateway client whose every request goes to `handler`."""
    return HttpGateway("http://gateway.test", "a-key", 1.0, transport=httpx.MockTransport(handler))


def answering(status: int, body: str) -> Handler:
    """A handler giving every request the same answer."""
    return lambda request: httpx.Response(status, content=body.encode())


class TestAnswers:
    @pytest.mark.parametrize("raw", ["Payment declined\n", "  Payment declined \r\n",
                                     "Payment\ndeclined", "Payment\tdeclined\x1b[0m"])
    def test_a_message_is_one_trimmed_line(self, raw: str) -> None:
        """An answer's message loses surrounding whitespace; inner line breaks, tabs and
        control characters become single spaces."""
        body = json.dumps({"externalId": "ext_1", "status": "declined", "message": raw})
        message = Answer.model_validate_json(body).message
        assert message in ("Payment declined", "Payment declined [0m")

    def test_a_refund_answer_is_trimmed_too(self) -> None:
        """The refund answer's message is cleaned the same way."""
        body = json.dumps({"externalId": "ext_1", "status": "refund_failed",
                           "message": "Refund failed\n"})
        assert RefundAnswer.model_validate_json(body).message == "Refund failed"

    def test_a_message_must_still_be_text(self) -> None:
        """Cleaning does not loosen validation: a number is still refused."""
        with pytest.raises(ValidationError):
            Answer.model_validate_json('{"externalId": "ext_1", "status": "approved", '
                                       '"message": 7}')


class TestErrorBodies:
    def test_a_plain_text_refusal_is_trimmed(self) -> None:
        """The seed's `400 Payment cannot be refunded\\n` becomes a clean rejection."""
        gateway = client(answering(400, "Payment cannot be refunded\n"))
        refused = gateway.refund("ext_1", "1.00", "test", "paycli-ref_1")
        assert refused == Rejected(400, "Payment cannot be refunded")

    def test_a_json_error_is_trimmed(self) -> None:
        """A JSON `error` with a trailing newline is trimmed as well."""
        gateway = client(answering(422, json.dumps({"error": "amount too small\n"})))
        assert gateway.charge(REQUEST) == Rejected(422, "amount too small")

    def test_an_error_status_reason_is_trimmed(self) -> None:
        """`status: "error"` with `Processing error\\n` fails with a one-line reason."""
        body = json.dumps({"externalId": "ext_1", "status": "error",
                           "message": "Processing error\n"})
        with pytest.raises(GatewayFailure) as caught:
            client(answering(200, body)).charge(REQUEST)
        assert caught.value.reason == "gateway error (Processing error)"


def seed_like(request: httpx.Request) -> httpx.Response:
    """The seed gateway's manners: approve charges, refuse refunds in plain text with a
    trailing newline."""
    if request.url.path == "/payment/process":
        return httpx.Response(200, json={"externalId": "seed_1", "status": "approved",
                                         "message": "Payment approved\n"})
    return httpx.Response(400, content=b"Payment cannot be refunded\n")


class TestStoredInTheLedger:
    def test_a_refused_refund_is_stored_without_the_newline(self, store: Store) -> None:
        """A refund the gateway refuses in plain text is stored FAILED with its reason: the
        HTTP status and the gateway's words intact, shown on one line."""
        env = SagaEnv(store, gateway=lambda: client(seed_like), resilience=lambda on: Resilience(
            BreakerStore(on), failures=5, reset_s=30.0, attempts=1, attempt_timeout_s=1.0))
        wallet.credit(store, "alice", parse_amount("50", "USD"))
        paid = saga.pay(env, saga.PayRequest("alice", parse_amount("5", "USD"), wait_s=0.0),
                        SilentReporter())
        assert paid.error is None and paid.result.payment_id is not None
        outcome = refunds.refund(env, refunds.RefundRequest(paid.result.payment_id),
                                 SilentReporter(), 1_000_000)
        [stored] = store.read.refunds(paid.result.payment_id)
        assert stored.status == "FAILED"
        assert messages.read_reason(stored.error_message) == {
            "code": "refund_rejected", "http_status": 400,
            "gateway_message": "Payment cannot be refunded"}
        shown = "refund refused by the gateway (HTTP 400: Payment cannot be refunded)"
        assert messages.error_text(stored.error_message) == shown
        assert outcome.error is not None and outcome.error.message == shown
