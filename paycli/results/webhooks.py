"""Results of `webhooks add | list | remove | deliver | deliveries | retry`, and the
public event body a merchant's endpoint receives."""

from __future__ import annotations

from typing import Any

from paycli.records import DeliveryStatus
from paycli.results.base import ErrorInfo, Result


class EndpointAdded(Result):
    """`webhooks add`: the new endpoint and its signing secret, shown this once."""

    endpoint_id: str
    url: str
    events: list[str]
    secret: str


class EndpointEntry(Result):
    """An endpoint as `webhooks list` shows it: never its secret; `cursor` the last
    event sequence number turned into deliveries."""

    endpoint_id: str
    url: str
    events: list[str]
    cursor: int
    created_at: str


class EndpointsList(Result):
    """`webhooks list`: the active endpoints, oldest first."""

    endpoints: list[EndpointEntry]


class EndpointRemoved(Result):
    """`webhooks remove`: the endpoint that gets no further deliveries (its history
    stays)."""

    endpoint_id: str
    url: str
    removed: bool


class DeliverResult(Result):
    """`webhooks deliver`: attempts made (`sent`) and how they ended; `dead` counts the
    deliveries given up on in this run; `error` is set when some failed (exit 8)."""

    sent: int
    delivered: int
    failed: int
    dead: int
    error: ErrorInfo | None = None


class DeliveryEntry(Result):
    """One delivery: its event, where it stands, its tries, the last HTTP status (null
    when no answer came) and when it is tried next."""

    delivery_id: str
    endpoint_id: str
    event_id: str
    type: str
    status: DeliveryStatus
    attempts: int
    last_status: int | None
    next_at: str | None


class DeliveriesList(Result):
    """`webhooks deliveries` and `webhooks retry`: newest event first."""

    deliveries: list[DeliveryEntry]


class WebhookEvent(Result):
    """The body sent to an endpoint (version 1 of the public shape): `id` the event's
    (also its `webhook-id`), `type` one of the public event types, `data` the record as
    `payments show`, `refunds list` or `wallet credit` give it in `--json`."""

    id: str
    type: str
    created_at: str
    data: dict[str, Any]
