"""Run the mock card gateway (`mock_gateway.py`) as a child process, and drive its admin API.

Used by `paycli demo` and `paycli bench`, which start the mock on a free loopback port for
their own run and stop it after, and by the test suite's `gateway` fixtures. This drives the
test double's `/admin/*` endpoints only; paycli's own protocol calls go through
`paycli.gateway`.

Invariants:
- The API key reaches the child through `PAYCLI_GATEWAY_API_KEY` in its environment, never
  its command line, where any user's `ps` would show it.
- The child's stderr goes to a temporary file: a start-up that fails says what the mock
  wrote, and `stderr_text()` gives its access log (`--verbose`) to the tests.
- `start` returns only once `/health` answers; `stop` ends the child (killing it if it
  lingers) and may be called more than once.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from typing import IO, Any

import httpx

STARTUP_TIMEOUT_S = 15.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice for port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MockGatewayProcess:
    """The mock gateway in a child process: `start` and `stop` it, or use it in `with`.

    `args` are passed on to `mock_gateway.py` (`--mode seed`, `--latency-ms 200`,
    `--seed 42`, `--state FILE`, `--verbose`).
    """

    def __init__(self, api_key: str, *args: str) -> None:
        self.api_key, self.args = api_key, args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._admin: httpx.Client | None = None

    def start(self) -> MockGatewayProcess:
        """Start the child and wait until it answers `/health`."""
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 -- outlives this call; stop() closes it
        self._process = subprocess.Popen(
            [sys.executable, "-m", "mock_gateway", "--port", str(self.port), *self.args],
            env={**os.environ, "PAYCLI_GATEWAY_API_KEY": self.api_key},
            stdout=subprocess.DEVNULL, stderr=self._stderr,
        )
        self._admin = httpx.Client(base_url=self.url, timeout=10)
        self._wait_until_healthy()
        return self

    def _wait_until_healthy(self) -> None:
        assert self._process is not None and self._admin is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._fail(f"the mock gateway exited with {self._process.returncode}")
            try:
                if self._admin.get("/health", timeout=0.5).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.05)
        self._fail(f"the mock gateway did not start within {STARTUP_TIMEOUT_S:g} s")

    def _fail(self, reason: str) -> None:
        stderr = self.stderr_text()
        self.stop()
        raise RuntimeError(f"{reason}; its stderr:\n{stderr}")

    def stderr_text(self) -> str:
        """Everything the child wrote to stderr so far."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def stop(self) -> None:
        """End the child (kill it if it lingers) and close the admin client."""
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

    def __enter__(self) -> MockGatewayProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the admin API -----------------------------------------------------------------------

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        assert self._admin is not None, "the mock gateway is not running"
        response = self._admin.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    def set_mode(self, mode: str, count: int | None = None, latency_ms: int | None = None
                 ) -> dict[str, Any]:
        """Switch the mock's behaviour (`POST /admin/mode`); returns the mode it now has."""
        body: dict[str, Any] = {"mode": mode}
        if count is not None:
            body["count"] = count
        if latency_ms is not None:
            body["latency_ms"] = latency_ms
        result: dict[str, Any] = self._call("POST", "/admin/mode", body)
        return result

    def mode(self) -> dict[str, Any]:
        """The mode the mock is in, with its count and latency (`GET /admin/mode`)."""
        result: dict[str, Any] = self._call("GET", "/admin/mode")
        return result

    def charges(self) -> list[dict[str, Any]]:
        """Every charge the mock holds."""
        result: list[dict[str, Any]] = self._call("GET", "/admin/charges")["charges"]
        return result

    def refunds(self) -> list[dict[str, Any]]:
        """Every refund the mock holds."""
        result: list[dict[str, Any]] = self._call("GET", "/admin/charges")["refunds"]
        return result

    def requests(self) -> int:
        """How many protocol calls the mock has received."""
        return int(self._call("GET", "/admin/requests")["requests"])

    def reset(self, mode: str | None = None) -> None:
        """Forget every charge, refund and request; back to `mode` (default: the start-up
        mode)."""
        self._call("POST", "/admin/reset", {} if mode is None else {"mode": mode})
