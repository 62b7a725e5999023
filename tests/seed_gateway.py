"""A gateway double that behaves like the seed system's: it ignores `Idempotency-Key`,
finds charges only by `externalId` (no look-up by payment id: 400), and its pending
charges settle later. Its `hang` mode records the charge and then answers too late, so
the client cannot know the outcome. Runs in a thread of the test process."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from paycli.devtools.mock_process import free_port

API_KEY = "test-api-key"


class SeedGateway:
    """The double's state: charges by external id, a mode, a request count."""

    def __init__(self) -> None:
        self.charges: dict[str, dict[str, Any]] = {}
        self.mode = "ok"
        self.settle_s = 0.3
        self.hang_s = 5.0
        self.ids = itertools.count(1)
        self.requests = 0

    def _status(self, charge: dict[str, Any]) -> str:
        if charge["status"] == "pending" and time.monotonic() >= charge["settles_at"]:
            charge["status"] = "approved"
        return str(charge["status"])

    def _body(self, charge: dict[str, Any]) -> dict[str, Any]:
        return {"externalId": charge["id"], "status": self._status(charge), "message": "",
                "timestamp": "2025-09-01T00:00:00Z"}

    async def process(self, request: Request) -> JSONResponse:
        self.requests += 1
        if request.headers.get("x-api-key") != API_KEY:
            return JSONResponse({"error": "unauthorized"}, 401)
        body = await request.json()
        charge = {"id": f"seed_{next(self.ids)}", "payment_id": body["paymentId"],
                  "status": "pending" if self.mode == "pending" else "approved",
                  "settles_at": time.monotonic() + self.settle_s}
        self.charges[charge["id"]] = charge
        if self.mode == "hang":
            await asyncio.sleep(self.hang_s)
        return JSONResponse(self._body(charge))

    async def status(self, request: Request) -> JSONResponse:
        self.requests += 1
        external_id = request.query_params.get("externalId")
        if not external_id:
            return JSONResponse({"error": "externalId is required"}, 400)
        charge = self.charges.get(external_id)
        if charge is None:
            return JSONResponse({"error": "not found"}, 404)
        return JSONResponse(self._body(charge))

    async def health(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/payment/process", self.process, methods=["POST"]),
            Route("/payment/status", self.status, methods=["GET"]),
            Route("/health", self.health, methods=["GET"]),
        ])


@pytest.fixture
def seed_gateway() -> Iterator[tuple[SeedGateway, str]]:
    """A running seed-like gateway and its URL."""
    double = SeedGateway()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(double.app(), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the seed gateway did not start"
        time.sleep(0.02)
    yield double, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
