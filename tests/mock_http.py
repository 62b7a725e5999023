"""Talking to the mock gateway over HTTP in its own tests: request bodies written exactly,
the protocol calls, and a client with the right key."""

from __future__ import annotations

import json
import ssl
from typing import Any

import httpx
from gateway_server import API_KEY

from paycli.devtools.mock_process import MockGatewayProcess

HEADERS = {"X-API-Key": API_KEY}
# Every client here speaks plain HTTP, but httpx builds a TLS context (loading the CA bundle,
# ~50 ms) for each client it makes unless it is given one: share one.
TLS = ssl.create_default_context()
GATEWAY_FAILURES = (httpx.RemoteProtocolError, httpx.ReadError)


def charge_json(payment_id: str = "pay_1", amount: str = "50.00", currency: str = "USD") -> bytes:
    """A /payment/process body with ``amount`` written verbatim as a JSON number."""
    fields: dict[str, Any] = {"paymentId": payment_id, "amount": "AMOUNT", "currency": currency}
    fields |= {"userId": "alice", "correlationId": "corr-1", "metadata": {"orderId": "o-1"}}
    return json.dumps(fields).replace('"AMOUNT"', amount).encode()


def refund_json(external_id: str, amount: str = "10.00") -> bytes:
    """A /payment/refund body with ``amount`` written verbatim as a JSON number."""
    fields = {"externalId": external_id, "amount": "AMOUNT", "reason": "customer request"}
    return json.dumps(fields).replace('"AMOUNT"', amount).encode()


def pay(client: httpx.Client, body: bytes | None = None, key: str | None = None) -> httpx.Response:
    """POST /payment/process (by default `charge_json()`), with `key` if given."""
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(
        "/payment/process", content=charge_json() if body is None else body, headers=headers
    )


def refund(
    client: httpx.Client, external_id: str, amount: str = "10.00", key: str | None = None
) -> httpx.Response:
    """POST /payment/refund of `amount` of `external_id`, with `key` if given."""
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/payment/refund", content=refund_json(external_id, amount), headers=headers)


def approved_charge(client: httpx.Client, amount: str = "50.00") -> str:
    """Charge `amount`, assert it was approved; returns its externalId."""
    response = pay(client, charge_json(amount=amount))
    assert response.json()["status"] == "approved"
    external_id: str = response.json()["externalId"]
    return external_id


def status_of(client: httpx.Client, **params: str) -> dict[str, Any]:
    """GET /payment/status with `params`, which must answer 200; its body."""
    response = client.get("/payment/status", params=params)
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def open_client(server: MockGatewayProcess, **options: Any) -> httpx.Client:
    """A client of the mock with the right key (unless `headers` says otherwise)."""
    options.setdefault("timeout", 5.0)
    options.setdefault("headers", HEADERS)
    return httpx.Client(base_url=server.url, verify=TLS, **options)
