"""The Stripe-shaped gateway protocol (PaymentIntents) over httpx, one attempt per call.

    POST /v1/payment_intents        a charge: form-encoded, `amount` in minor units,
                                    `currency` lower case, `confirm=true`, paycli's ids in
                                    `metadata[...]`; `Authorization: Bearer KEY`
    GET  /v1/payment_intents/ID     a charge's state (its refunds on `latest_charge`)
    GET  /v1/payment_intents/search `metadata['payment_id']:'pay_…'`: a lost answer found
    POST /v1/refunds                a refund of part or all of an intent, in minor units

Statuses read as paycli's answers: `succeeded` approved, `processing` pending,
`requires_payment_method` (and `canceled`) declined, with the decline's code and message; a
402 `card_error` that carries the intent is a decline too. Stripe's error object
(`{"error": {"type", "code", "message"}}`) is read as one line; the outcomes are those of
`HttpGateway`, whose plumbing this class inherits: one request per attempt, bodies capped
at `MAX_BODY_BYTES`, the API key cut out of every answer, 401/403 and a path the gateway
does not serve raise `GatewayConfigError`, 5xx and broken connections `GatewayFailure` with
`.sent` told apart (refused before connecting: not sent), and `settlement_report` stays the
full protocol's admin report.

Money is exact: a Decimal amount becomes integer minor units by the currency's exponent
(JPY 0, KWD 3, USD 2: paycli's ISO 4217 table) and back; an amount with more decimals than
its currency allows is refused (`ValueError`), never rounded. A refund is told in major
units without its currency, so it first reads the intent (a GET, safe to lose) to learn it.

Why httpx and not the official `stripe` package: its HTTP client (`stripe.HTTPXClient`)
builds its own `httpx.Client` (no transport, connection limits or connect timeout of
paycli's), reads every body whole (no cap) and turns every transport error into one
`APIConnectionError` whose text no longer says whether the request could have arrived,
which is what failover and the saga's `sent` rule hang on. Its retries can be turned off,
but those gaps cannot; and the package is large. httpx, already paycli's client, is used.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal
from urllib.parse import quote, urlencode

from pydantic import BaseModel, ConfigDict, field_validator

from paycli.gateway.http import HttpGateway
from paycli.gateway.protocol import (
    Answer,
    ChargeRequest,
    GatewayFailure,
    LookupUnsupported,
    RefundAnswer,
    RefundRecord,
    Rejected,
    one_line,
)
from paycli.money import UnknownCurrency, currency

INTENTS = "/v1/payment_intents"
REFUNDS = "/v1/refunds"
# What paycli reads a PaymentIntent's status as.
STATUSES: dict[str, Literal["approved", "pending", "declined"]] = {
    "succeeded": "approved", "processing": "pending",
    "requires_payment_method": "declined", "canceled": "declined",
}
REFUND_STATUSES = {"succeeded": "refunded", "failed": "refund_failed", "canceled": "refund_failed"}


def to_minor(amount: str, code: str) -> int:
    """`"12.34"` USD is 1234; `"1234"` JPY 1234; `"1.234"` KWD 1234. An amount with more
    decimals than the currency has is refused, never rounded."""
    try:
        value, exponent = Decimal(amount), currency(code).exponent
    except (ArithmeticError, UnknownCurrency) as exc:
        raise ValueError(f"not an amount of money: {amount!r} {code!r}") from exc
    scaled = value.scaleb(exponent)
    if not value.is_finite() or value <= 0 or scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} {code.upper()} is not an exact amount in minor units")
    return int(scaled)


def to_major(minor: int, code: str) -> Decimal:
    """Minor units back to the exact Decimal amount: 1234 KWD is 1.234."""
    return Decimal(minor).scaleb(-currency(code).exponent)


class StripeError(BaseModel):
    """Stripe's error object (the `error` of an error body, or `last_payment_error`)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    type: str | None = None
    code: str | None = None
    decline_code: str | None = None
    message: str | None = None
    payment_intent: Intent | None = None

    def text(self) -> str:
        """The error as one line: `Your card was declined. (card_declined)`."""
        code = self.decline_code or self.code
        words = one_line(self.message or self.type or "")
        return f"{words} ({code})" if code and words else words or (code or "")


class StripeRefund(BaseModel):
    """A Refund object."""

    model_config = ConfigDict(extra="ignore", strict=True)

    id: str
    status: str
    amount: int
    payment_intent: str | None = None
    failure_reason: str | None = None
    metadata: dict[str, str] = {}


class RefundList(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    data: list[StripeRefund] = []


class LatestCharge(BaseModel):
    """The intent's charge, where its refunds are (`expand[]=latest_charge`)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    amount_refunded: int = 0
    refunds: RefundList | None = None


class Intent(BaseModel):
    """A PaymentIntent: the fields paycli reads."""

    model_config = ConfigDict(extra="ignore", strict=True)

    id: str
    status: str
    amount: int
    currency: str
    last_payment_error: StripeError | None = None
    latest_charge: LatestCharge | str | None = None

    @field_validator("currency")
    @classmethod
    def _known(cls, code: str) -> str:
        """A currency paycli has no exponent for is a malformed answer (the error a
        ValueError, which pydantic reports), never money read at a guessed scale."""
        currency(code)
        return code


class SearchResult(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    data: list[Intent]


StripeError.model_rebuild()  # its `payment_intent` is an Intent, defined after it


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    error: StripeError


class StripeGateway(HttpGateway):
    """The gateway protocol spoken as Stripe's PaymentIntents, one attempt per call."""

    content_type = "application/x-www-form-urlencoded"

    @staticmethod
    def credentials(api_key: str) -> dict[str, str]:
        """Stripe's secret key travels as a bearer token."""
        return {"Authorization": f"Bearer {api_key}"}

    @staticmethod
    def _error(body: bytes) -> StripeError | None:
        try:
            return ErrorBody.model_validate_json(body).error
        except ValueError:
            return None

    @staticmethod
    def _message(body: bytes) -> str:
        """The text of an error body (Stripe's error object, else plain text), one line."""
        error = StripeGateway._error(body)
        if error is not None:
            return error.text()[:200]
        return HttpGateway._message(body)

    @staticmethod
    def _is_gateway_error(body: bytes) -> bool:
        """Whether a body is Stripe's own error object (not a web server's page)."""
        return StripeGateway._error(body) is not None

    def charge(self, request: ChargeRequest) -> Answer | Rejected:
        """`POST /v1/payment_intents` with `confirm=true`, once."""
        form = [("amount", str(to_minor(request.amount, request.currency))),
                ("currency", request.currency.lower()), ("confirm", "true"),
                ("metadata[payment_id]", request.payment_id),
                ("metadata[user_id]", request.user_id),
                ("metadata[correlation_id]", request.correlation_id)]
        form += [(f"metadata[{key}]", value) for key, value in request.metadata.items()]
        status, data = self._call("POST", INTENTS, may_answer_404=False,
                                  body=urlencode(form).encode(), key=request.idempotency_key)
        if status == 402:
            error = self._error(data)
            if error is not None and error.payment_intent is not None:
                return self._read(error.payment_intent, error)
        return self._intent_answer(status, data)

    def _failure(self, status: int, data: bytes) -> GatewayFailure:
        """A 5xx: the gateway answered that it failed (so, as `HttpGateway` reads it, it
        decided nothing)."""
        return GatewayFailure(f"gateway error (HTTP {status}: {self._message(data)})",
                              sent=False)

    def _intent_answer(self, status: int, data: bytes) -> Answer | Rejected:
        if status >= 500:
            raise self._failure(status, data)
        if status >= 400:
            return Rejected(status, self._message(data))
        intent: Intent = self._parse(Intent, data)
        return self._read(intent)

    def _read(self, intent: Intent, error: StripeError | None = None) -> Answer:
        """An intent as paycli's answer; a status paycli cannot act on is a malformed one."""
        status = STATUSES.get(intent.status)
        if status is None:
            raise GatewayFailure(f"malformed gateway answer (PaymentIntent status "
                                 f"{one_line(intent.status)[:40]!r})", sent=True)
        error = error or intent.last_payment_error
        message = error.text() if status == "declined" and error else f"PaymentIntent {status}"
        charge = intent.latest_charge if isinstance(intent.latest_charge, LatestCharge) else None
        return Answer(externalId=intent.id, status=status, message=message,
                      refunds=self._refunds(charge),
                      refundedAmount=None if charge is None
                      else to_major(charge.amount_refunded, intent.currency))

    @staticmethod
    def _refunds(charge: LatestCharge | None) -> list[RefundRecord] | None:
        if charge is None or charge.refunds is None:
            return None
        return [RefundRecord(refundId=refund.id,
                             status=REFUND_STATUSES.get(refund.status, refund.status),
                             idempotencyKey=refund.metadata.get("idempotency_key"))
                for refund in charge.refunds.data]

    def _intent(self, external_id: str) -> tuple[int, bytes]:
        path = f"{INTENTS}/{quote(external_id, safe='')}"
        return self._call("GET", path, may_answer_404=True,
                          params={"expand[]": "latest_charge"})

    def status(self, external_id: str) -> Answer | None:
        """`GET /v1/payment_intents/ID`: the charge, or None if unknown."""
        status, data = self._intent(external_id)
        if status == 404:
            return None
        return self._looked_up(status, data)

    def _looked_up(self, status: int, data: bytes) -> Answer:
        result = self._intent_answer(status, data)
        if isinstance(result, Rejected):
            raise GatewayFailure(f"gateway refused the lookup (HTTP {status})", sent=False)
        return result

    def find_payment(self, payment_id: str) -> Answer | None:
        """`GET /v1/payment_intents/search` by `metadata['payment_id']`: the newest intent
        made for a payment, or None."""
        quoted = payment_id.replace("\\", "\\\\").replace("'", "\\'")
        status, data = self._call("GET", f"{INTENTS}/search", may_answer_404=False,
                                  params={"query": f"metadata['payment_id']:'{quoted}'"})
        if 400 <= status < 500:
            raise LookupUnsupported(f"HTTP {status}")
        if status >= 500:
            raise self._failure(status, data)
        found: SearchResult = self._parse(SearchResult, data)
        return self._read(found.data[0]) if found.data else None

    def refund(self, external_id: str, amount: str, reason: str,
               idempotency_key: str) -> RefundAnswer | Rejected:
        """`POST /v1/refunds` for `amount` of the intent, once (after reading the intent's
        currency, which a refund's amount in minor units needs)."""
        status, data = self._intent(external_id)
        if 400 <= status < 500:
            return Rejected(status, self._message(data))
        if status >= 500:
            raise self._failure(status, data)  # the refund itself was not sent
        intent: Intent = self._parse(Intent, data)
        form = urlencode([("payment_intent", external_id),
                          ("amount", str(to_minor(amount, intent.currency))),
                          ("metadata[reason]", reason),
                          ("metadata[idempotency_key]", idempotency_key)])
        status, data = self._call("POST", REFUNDS, may_answer_404=True, body=form.encode(),
                                  key=idempotency_key)
        if status >= 500:
            raise self._failure(status, data)
        if status >= 400:
            return Rejected(status, self._message(data))
        return self._refund_answer(external_id, self._parse(StripeRefund, data))

    @staticmethod
    def _refund_answer(external_id: str, refund: StripeRefund) -> RefundAnswer:
        outcome = REFUND_STATUSES.get(refund.status)
        if outcome is None:  # pending: the outcome is not known yet, so not an answer
            raise GatewayFailure(f"refund {refund.id} is {one_line(refund.status)[:40]}",
                                 sent=True)
        message = one_line(refund.failure_reason or "") or f"Refund {refund.status}"
        return RefundAnswer(externalId=refund.payment_intent or external_id,
                            status="refunded" if outcome == "refunded" else "refund_failed",
                            message=message, refundId=refund.id)
