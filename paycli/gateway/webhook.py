"""The gateway's webhooks, as Standard Webhooks sends them: verified, then read as events.

A delivery carries `webhook-id`, `webhook-timestamp` and `webhook-signature` (`v1,` and
the base64 HMAC-SHA256 of `id.timestamp.body`, several separated by spaces while a secret
is rotated); the secret is `whsec_` and base64. The `standardwebhooks` library does the
HMAC and its constant-time comparison: only this module imports it, and only `listen`
imports this module, so no other command pays for it at start-up.

Invariants: a missing or wrong signature is refused (401) before the body is read as
anything; a timestamp more than `TOLERANCE_S` away is refused (400) before the signature
is checked; a refusal names a reason code only, never the secret or the payload.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from standardwebhooks import Webhook, WebhookVerificationError

from paycli.errors import UsageError

TOLERANCE_S = 5 * 60
MAX_BODY = 64 * 1024
EVENT_TYPES = ("charge.approved", "charge.declined", "charge.refunded", "refund.failed")
_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class Refused(Exception):
    """A delivery turned away: the HTTP status it gets and a reason code."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class GatewayEvent(NamedTuple):
    """A verified gateway event (the contract's `{"type", "id", "timestamp", "data"}`)."""

    webhook_id: str
    type: str
    payment_id: str
    external_id: str | None
    status: str | None
    amount: Decimal | None
    currency: str | None
    refund_id: str | None

    @property
    def is_refund(self) -> bool:
        """Whether it tells a refund's outcome rather than a charge's."""
        return self.type in ("charge.refunded", "refund.failed")


class Verifier:
    """Checks deliveries against one signing secret."""

    def __init__(self, secret: str) -> None:
        try:
            self._webhook = Webhook(secret)
        except Exception:  # the library's errors for a secret that is not base64
            raise UsageError("PAYCLI_WEBHOOK_SECRET is not a valid secret: expected whsec_ "
                             "and base64, as Standard Webhooks writes it") from None

    def verify(self, headers: Mapping[str, str], body: bytes,
               now: float | None = None) -> GatewayEvent:
        """The event a delivery carries, or `Refused` (401, 400) saying why not."""
        found = {name: headers.get(name, "") for name in _HEADERS}
        if not all(found.values()):
            raise Refused(401, "missing_signature")
        try:
            stamp = int(found["webhook-timestamp"])
        except ValueError:
            raise Refused(400, "bad_timestamp") from None
        if abs((time.time() if now is None else now) - stamp) > TOLERANCE_S:
            raise Refused(400, "stale_timestamp")
        try:
            self._webhook.verify(body, found, json_parse=False)
        except WebhookVerificationError:
            raise Refused(401, "bad_signature") from None
        return read_event(found["webhook-id"], body)


def read_event(webhook_id: str, body: bytes) -> GatewayEvent:
    """A verified body read as a gateway event; `Refused` (400) if it is not one."""
    try:
        event = json.loads(body, parse_float=Decimal)
        data = event["data"]
        kind, payment_id = event["type"], data["paymentId"]
    except (ValueError, TypeError, KeyError):
        raise Refused(400, "not_an_event") from None
    if kind not in EVENT_TYPES or not isinstance(payment_id, str) or not payment_id:
        raise Refused(400, "not_an_event")
    return GatewayEvent(webhook_id, kind, payment_id, _text(data, "externalId"),
                        _text(data, "status"), _amount(data.get("amount")),
                        _text(data, "currency"), _text(data, "refundId"))


def _text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) and value else None


def _amount(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise Refused(400, "not_an_event") from None
