"""Run the mock gateway (``mock_gateway.py``) as a real subprocess for tests.

``GatewayServer`` starts ``python mock_gateway.py`` on a free loopback port, waits for
``/health`` and drives the admin endpoints with httpx. The fixtures give one server per test
session (``gateway_server``) and, per test, that server reset to mode ``ok`` (``gateway``).
The API key reaches the server through ``PAYCLI_GATEWAY_API_KEY``, never its command line.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
API_KEY = "test-api-key"
STARTUP_TIMEOUT = 10.0


def free_port() -> int:
    """A port nobody listens on right now (bind to port 0 and let the kernel choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class GatewayServer:
    """One mock gateway process; ``start`` it, drive it, ``stop`` it (or use ``with``)."""

    def __init__(self, *args: str, api_key: str = API_KEY, port: int | None = None) -> None:
        self.args, self.api_key = args, api_key
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None
        self._admin: httpx.Client | None = None

    def start(self) -> GatewayServer:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 -- outlives this call; stop() closes it
        command = [sys.executable, "mock_gateway.py", "--port", str(self.port), *self.args]
        env = {**os.environ, "PAYCLI_GATEWAY_API_KEY": self.api_key}
        self._process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=self._stderr
        )
        self._admin = httpx.Client(base_url=self.url, timeout=5.0)
        self._wait_until_healthy()
        return self

    def _wait_until_healthy(self) -> None:
        assert self._process is not None and self._admin is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._fail(f"mock gateway exited with {self._process.returncode}")
            try:
                if self._admin.get("/health", timeout=0.5).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.05)
        self._fail(f"mock gateway not healthy after {STARTUP_TIMEOUT} s")

    def _fail(self, reason: str) -> None:
        stderr = self.stderr_text()
        self.stop()
        raise RuntimeError(f"{reason}; its stderr:\n{stderr}")

    def stderr_text(self) -> str:
        """Everything the process wrote to stderr so far."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        text: str = self._stderr.read().decode(errors="replace")
        return text

    def stop(self) -> None:
        """Terminate the process (kill it if it lingers) and close the admin client."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        for resource in (self._admin, self._stderr):
            if resource is not None:
                resource.close()
        self._process = self._admin = self._stderr = None

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        assert self._admin is not None, "the gateway is not running"
        response = self._admin.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    def set_mode(
        self, mode: str, count: int | None = None, latency_ms: int | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"mode": mode}
        if count is not None:
            body["count"] = count
        if latency_ms is not None:
            body["latency_ms"] = latency_ms
        result: dict[str, Any] = self._call("POST", "/admin/mode", body)
        return result

    def mode(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/admin/mode")
        return result

    def charges(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/admin/charges")["charges"]
        return result

    def refunds(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/admin/charges")["refunds"]
        return result

    def requests(self) -> int:
        result: int = self._call("GET", "/admin/requests")["requests"]
        return result

    def reset(self, mode: str | None = None) -> None:
        """Forget everything; back to ``mode`` (default: the start-up mode)."""
        self._call("POST", "/admin/reset", {} if mode is None else {"mode": mode})


@pytest.fixture(scope="session")
def gateway_server() -> Iterator[GatewayServer]:
    """One mock gateway for the whole test session."""
    with GatewayServer() as server:
        yield server


@pytest.fixture
def gateway(gateway_server: GatewayServer) -> Iterator[GatewayServer]:
    """The session's mock gateway, reset to mode ``ok`` with nothing in it."""
    gateway_server.reset(mode="ok")
    yield gateway_server
