"""One signed POST of an event body to an endpoint (Standard Webhooks), over a pooled
httpx client shared by the deliverer's workers.

The headers are `webhook-id` (the event's public id, the same on every try, so a
receiver drops duplicates by it), `webhook-timestamp` (when this request is signed, in
whole seconds) and `webhook-signature` (`v1,` and the base64 HMAC-SHA256 of
"id.timestamp.body" under the endpoint's secret), made by the `standardwebhooks`
library itself.

Invariants: a redirect is not followed (a 3xx is a failure: an endpoint may not send
the body elsewhere); only a short prefix of a response body is kept; neither the secret
nor the signature is in any outcome, log or error this module makes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

import httpx
from standardwebhooks.webhooks import Webhook

BODY_PREFIX = 200  # characters of a response body kept, to show why an endpoint refused
TIMEOUT = 10.0


class Outcome(NamedTuple):
    """How one attempt went: `status` None when no answer came (`body` then says why:
    `timeout` or the transport error's name)."""

    ok: bool
    status: int | None
    body: str | None


def client(concurrency: int, transport: httpx.BaseTransport | None = None,
           timeout: float = TIMEOUT) -> httpx.Client:
    """The pooled client: as many connections as workers, no redirects."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.Client(limits=limits, timeout=timeout, transport=transport,
                        follow_redirects=False)


def signed_headers(secret: str, event_id: str, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of one request."""
    now = datetime.now(UTC)
    return {"webhook-id": event_id, "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(secret).sign(event_id, now, body),
            "content-type": "application/json", "user-agent": "paycli-webhooks/1"}


def send(http: httpx.Client, url: str, secret: str, event_id: str, body: bytes) -> Outcome:
    """POST a body once; a 2xx is delivered, anything else (no answer included) is not."""
    try:
        response = http.post(url, content=body, headers=signed_headers(secret, event_id, body))
    except httpx.TimeoutException:
        return Outcome(False, None, "timeout")
    except httpx.HTTPError as exc:
        return Outcome(False, None, type(exc).__name__)
    return Outcome(response.is_success, response.status_code, response.text[:BODY_PREFIX])
