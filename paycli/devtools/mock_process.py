"""Run the mock card gateway (`mock_gateway.py`) as a child process, and drive its admin API.

Used by `paycli demo` and `paycli bench`, which start the mock on a free loopback port for
their own run and stop it after. This drives the test double's `/admin/*` endpoints only;
paycli's own protocol calls go through `paycli.gateway`.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from typing import Any

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MockGatewayProcess:
    """The mock gateway in a child process; a context manager."""

    def __init__(self, api_key: str, *args: str) -> None:
        self.api_key = api_key
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._args = args
        self._process: subprocess.Popen[bytes] | None = None
        self._admin = httpx.Client(base_url=self.url, timeout=10)

    def __enter__(self) -> MockGatewayProcess:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "mock_gateway", "--port", str(self.port), "--api-key",
             self.api_key, *self._args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                self._admin.get("/health", timeout=0.5).raise_for_status()
                return self
            except httpx.HTTPError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError("the mock gateway did not start") from None
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        self._admin.close()
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def set_mode(self, mode: str, count: int | None = None, latency_ms: int | None = None
                 ) -> None:
        """Switch the mock's behaviour (`POST /admin/mode`)."""
        body: dict[str, Any] = {"mode": mode}
        if count is not None:
            body["count"] = count
        if latency_ms is not None:
            body["latency_ms"] = latency_ms
        self._admin.post("/admin/mode", json=body).raise_for_status()

    def charges(self) -> list[dict[str, Any]]:
        """Every charge the mock holds."""
        charges: list[dict[str, Any]] = self._admin.get("/admin/charges").json()["charges"]
        return charges

    def requests(self) -> int:
        """How many protocol calls the mock has received."""
        return int(self._admin.get("/admin/requests").json()["requests"])
