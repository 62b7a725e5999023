"""The card gateway protocol as paycli sees it: the answers, the failures, the calls.

    Answer             a charge's state: approved, pending, declined (or refunded, once
                       refunded); `error` is a failure, never an answer
    RefundAnswer       a refund's outcome: refunded or refund_failed
    Rejected           a 4xx answer (never retried, never counted by the breaker); 401/403
                       and a path the gateway does not serve (404/405) are not answers but
                       `paycli.errors.GatewayConfigError`: paycli's key or URL is wrong
    GatewayFailure     5xx, `status: "error"`, timeouts, broken connections, malformed or
                       oversized bodies; `.sent` says whether the request may have reached
                       the gateway (so the outcome is uncertain)
    LookupUnsupported  the gateway cannot find a charge by paycli's payment id
    Gateway            what a saga needs of a gateway (HTTP, or in-process for the bench)

Answers are validated with pydantic (strict types; unknown fields ignored). Gateway text
is made one clean line on arrival (`one_line`): trimmed, runs of whitespace and control
characters folded into single spaces, so a message is stored and shown as one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Literal, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_BODY_BYTES = 64 * 1024


def one_line(text: str) -> str:
    """Gateway text as one trimmed line: `"Unauthorized\\n"` is `"Unauthorized"`."""
    printable = "".join(char if char.isprintable() else " " for char in text)
    return " ".join(printable.split())


# A message field of an answer, made one clean line when it is validated.
Message = Annotated[str, AfterValidator(one_line)]


class RefundRecord(BaseModel):
    """A refund as listed in a charge's status (a lookup our mock offers; optional)."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    refundId: str | None = None
    status: str
    idempotencyKey: str | None = None


class Answer(BaseModel):
    """A charge's state as the gateway reports it."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    externalId: str
    status: Literal["approved", "pending", "declined", "refunded", "error"]
    message: Message = ""
    refunds: list[RefundRecord] | None = None
    # How much of the charge is refunded, where the gateway says (a JSON number).
    refundedAmount: Decimal | None = Field(default=None, strict=False)


class RefundAnswer(BaseModel):
    """A refund's outcome as the gateway reports it."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    externalId: str
    status: Literal["refunded", "refund_failed"]
    message: Message = ""
    refundId: str | None = None


@dataclass(frozen=True)
class Rejected:
    """A 4xx answer: the gateway refused the request as such."""

    http_status: int
    message: str


class GatewayFailure(Exception):
    """One attempt failed; `sent` is True when the gateway may have acted on it.

    `unreached` is True only when the request certainly never reached the gateway (no
    connection was made): the one failure after which a charge may go to another gateway.
    A 5xx is `sent=False` (the gateway says it did nothing: retried there) but reached: a
    proxy's 5xx may follow a charge made behind it, so it never moves a charge elsewhere.
    """

    def __init__(self, reason: str, *, sent: bool, unreached: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sent = sent
        self.unreached = unreached and not sent


class LookupUnsupported(Exception):
    """The gateway offers no lookup of a charge by paycli's payment id."""


@dataclass(frozen=True)
class ChargeRequest:
    """What `POST /payment/process` carries."""

    payment_id: str
    amount: str  # exact decimal text in major units, sent as a JSON number
    currency: str
    user_id: str
    correlation_id: str
    idempotency_key: str
    metadata: dict[str, str]


class Gateway(Protocol):
    """What the saga needs of a card gateway (HTTP here; in-process for the bench)."""

    def charge(self, request: ChargeRequest) -> Answer | Rejected: ...

    def status(self, external_id: str) -> Answer | None: ...

    def find_payment(self, payment_id: str) -> Answer | None: ...

    def refund(self, external_id: str, amount: str, reason: str,
               idempotency_key: str) -> RefundAnswer | Rejected: ...

    def close(self) -> None: ...
