"""Run the mock card gateway (`mock_gateway.py`) as a child process, and drive it.

Used by `paycli demo` and `paycli bench`, which start the mock on a free loopback port for
their own run and stop it after, and by the test suite's `gateway` fixtures. This drives the
test double only (its `/admin/*` endpoints, or its start-up options); paycli's own protocol
calls go through `paycli.gateway`.

Under `--protocol seed` the mock has no admin API, as the seed's gateway had none, so the
same methods work by other means: `set_mode` and `reset` restart the child on the same port
(with the same `--state` file, or an empty one), `charges` and `refunds` read that state
file, and `requests` counts the protocol calls in the child's `--verbose` access log.

Invariants:
- The API key reaches the child through `PAYCLI_GATEWAY_API_KEY` in its environment, never
  its command line, where any user's `ps` would show it.
- The child's stderr goes to a file of this object's own: a start-up that fails says what
  the mock wrote, and `stderr_text()` gives its access log (`--verbose`) to the tests; a
  restarted child appends to it.
- `start` returns only once `/health` answers; `stop` ends the child (killing it if it
  lingers) and may be called more than once.
- Under `full` and `stripe` every method answers from the admin API, exactly as the mock
  sees it (amounts in major units under both: the stripe mock converts minor units).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

STARTUP_TIMEOUT_S = 15.0
COUNTED_MODES = ("flaky", "lost-response")
# What the mock assumes when an option is not given (mock_gateway.py's defaults).
DEFAULTS = {"--mode": "ok", "--protocol": "full", "--latency-ms": "1000", "--count": "1"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice for port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def option(args: tuple[str, ...] | list[str], name: str) -> str:
    """The value the mock will take for `name` from `args`: the last one given (argparse's
    rule, in `--name value` or `--name=value` form), else the mock's default."""
    found = DEFAULTS.get(name, "")
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            found = args[index + 1]
        elif arg.startswith(f"{name}="):
            found = arg.split("=", 1)[1]
    return found


class MockGatewayProcess:
    """The mock gateway in a child process: `start` and `stop` it, or use it in `with`.

    `args` are passed on to `mock_gateway.py` (`--mode seed`, `--latency-ms 200`,
    `--seed 42`, `--state FILE`, `--verbose`, `--protocol seed`); `protocol="seed"` is the
    same as `--protocol seed`, `protocol="stripe"` starts the Stripe-shaped mock.
    """

    def __init__(self, api_key: str, *args: str, protocol: str | None = None) -> None:
        self.api_key = api_key
        self.args = args if protocol is None else (*args, "--protocol", protocol)
        self.protocol = option(self.args, "--protocol")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._workdir = tempfile.TemporaryDirectory(prefix="mock-gateway-")
        self._log = Path(self._workdir.name) / "stderr.log"
        self._state = Path(option(self.args, "--state") or Path(self._workdir.name) / "state.json")
        self._overrides: list[str] = []  # the mode options of the last set_mode or reset
        self._log_mark = 0  # where the access log stood at the last reset
        self._process: subprocess.Popen[bytes] | None = None
        self._admin: httpx.Client | None = None

    @property
    def is_seed(self) -> bool:
        """Whether the child speaks the seed's protocol (no admin API)."""
        return self.protocol == "seed"

    def credentials(self) -> dict[str, str]:
        """The header that carries the API key in the child's protocol."""
        if self.protocol == "stripe":
            return {"Authorization": f"Bearer {self.api_key}"}
        return {"X-API-Key": self.api_key}

    def _command(self) -> list[str]:
        args = [*self.args]
        if self.is_seed:  # what the methods below read, in place of the admin API
            args += ["--state", str(self._state), "--verbose"]
        return [sys.executable, "-m", "mock_gateway", "--port", str(self.port), *args,
                *self._overrides]

    def start(self) -> MockGatewayProcess:
        """Start the child and wait until it answers `/health`."""
        self._log.parent.mkdir(exist_ok=True)  # again, if a stopped process is restarted
        with self._log.open("ab") as stderr:  # the child keeps its own descriptor
            self._process = subprocess.Popen(
                self._command(), env={**os.environ, "PAYCLI_GATEWAY_API_KEY": self.api_key},
                stdout=subprocess.DEVNULL, stderr=stderr,
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
            time.sleep(0.02)
        self._fail(f"the mock gateway did not start within {STARTUP_TIMEOUT_S:g} s")

    def _fail(self, reason: str) -> None:
        stderr = self.stderr_text()
        self.stop()
        raise RuntimeError(f"{reason}; its stderr:\n{stderr}")

    def stderr_text(self) -> str:
        """Everything the child (and, under seed, each child before it) wrote to stderr."""
        if not self._log.exists():
            return ""
        return self._log.read_bytes().decode(errors="replace")

    def _end_child(self, *, at_once: bool = False) -> None:
        if self._admin is not None:
            self._admin.close()
        if self._process is not None and self._process.poll() is None:
            if at_once:
                self._process.kill()
            else:
                self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = self._admin = None

    def stop(self) -> None:
        """End the child (kill it if it lingers) and remove this object's own files."""
        self._end_child()
        self._workdir.cleanup()

    def kill(self) -> None:
        """SIGKILL the child, as a crash ends it; `start` brings it back on the same port
        (with what it holds, given `--state FILE`)."""
        self._end_child(at_once=True)

    def __enter__(self) -> MockGatewayProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _restart(self, overrides: list[str], *, empty: bool = False) -> None:
        """Under seed: the same child again on the same port, with `overrides` last on its
        command line (argparse takes the last value) and, if `empty`, no state.

        The old child is killed, not asked to stop: uvicorn's graceful shutdown costs a
        fifth of a second, and the mock writes its state whole, before each answer, so an
        abrupt end loses nothing it has answered."""
        self._end_child(at_once=True)
        if empty:
            self._state.unlink(missing_ok=True)
            self._log_mark = self._log.stat().st_size if self._log.exists() else 0
        self._overrides = overrides
        self.start()

    # -- the admin API, or its stand-ins under seed --------------------------------------------

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        assert self._admin is not None, "the mock gateway is not running"
        response = self._admin.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    def set_mode(self, mode: str, count: int | None = None, latency_ms: int | None = None
                 ) -> dict[str, Any]:
        """Switch the mock's behaviour (`POST /admin/mode`; under seed a restart that keeps
        every charge); returns the mode it now has."""
        if self.is_seed:
            if count is None and mode in COUNTED_MODES:
                count = 1  # as POST /admin/mode defaults it
            overrides = ["--mode", mode]
            overrides += [] if count is None else ["--count", str(count)]
            overrides += [] if latency_ms is None else ["--latency-ms", str(latency_ms)]
            self._restart(overrides)
            return self.mode()
        body: dict[str, Any] = {"mode": mode}
        if count is not None:
            body["count"] = count
        if latency_ms is not None:
            body["latency_ms"] = latency_ms
        result: dict[str, Any] = self._call("POST", "/admin/mode", body)
        return result

    def mode(self) -> dict[str, Any]:
        """The mode the mock is in, with its count and latency (`GET /admin/mode`; under
        seed the mode as last set: how much of its count is used up is not shown)."""
        if self.is_seed:
            args = [*self.args, *self._overrides]
            mode = option(args, "--mode")
            count = int(option(args, "--count")) if mode in COUNTED_MODES else None
            return {"mode": mode, "count": count, "latency_ms": int(option(args, "--latency-ms"))}
        result: dict[str, Any] = self._call("GET", "/admin/mode")
        return result

    def _listing(self) -> dict[str, list[dict[str, Any]]]:
        if self.is_seed:
            return _listing_from_state(self._state)
        result: dict[str, list[dict[str, Any]]] = self._call("GET", "/admin/charges")
        return result

    def charges(self) -> list[dict[str, Any]]:
        """Every charge the mock holds, as `GET /admin/charges` lists them."""
        return self._listing()["charges"]

    def refunds(self) -> list[dict[str, Any]]:
        """Every refund the mock holds, as `GET /admin/charges` lists them."""
        return self._listing()["refunds"]

    def requests(self) -> int:
        """How many protocol calls the mock has received since the last reset."""
        if self.is_seed:
            return self._logged_requests()
        return int(self._call("GET", "/admin/requests")["requests"])

    def _logged_requests(self) -> int:
        # A request's log line is written just after its answer: read until the count
        # holds still, so a call answered a moment ago is counted.
        counted, previous = _protocol_calls(self._log_since_reset()), -1
        while counted != previous:
            time.sleep(0.03)
            counted, previous = _protocol_calls(self._log_since_reset()), counted
        return counted

    def _log_since_reset(self) -> str:
        with self._log.open("rb") as log:
            log.seek(self._log_mark)
            return log.read().decode(errors="replace")

    def reset(self, mode: str | None = None) -> None:
        """Forget every charge, refund and request; back to `mode` (default: the start-up
        mode). Under seed: a restart with an empty state."""
        if self.is_seed:
            self._restart([] if mode is None else ["--mode", mode], empty=True)
            return
        self._call("POST", "/admin/reset", {} if mode is None else {"mode": mode})

    def settlement_report(self) -> str:
        """The mock's settlement report, CSV text (`GET /reports/settlement`, a protocol
        call like any other: it needs the key, as a bearer token under stripe, and is
        counted)."""
        assert self._admin is not None, "the mock gateway is not running"
        response = self._admin.get("/reports/settlement", headers=self.credentials())
        response.raise_for_status()
        return response.text


def _protocol_calls(log: str) -> int:
    """How many access-log lines in `log` are protocol calls (not `/health`, not admin)."""
    paths = [json.loads(line)["path"] for line in log.splitlines() if line.startswith("{")]
    return sum(1 for path in paths if path != "/health" and not path.startswith("/admin"))


def _listing_from_state(path: Path) -> dict[str, list[dict[str, Any]]]:
    """What `GET /admin/charges` would list, read from the mock's `--state` file (written
    whole, by an atomic rename, before each answer); a pending charge whose time has come
    is shown settled, as the mock itself would show it."""
    if not path.exists():
        return {"charges": [], "refunds": []}
    state = json.loads(path.read_text())
    charges = [_admin_charge(charge) for charge in state["charges"]]
    refunds = [{field: refund[field] for field in
                ("id", "external_id", "amount", "status", "idempotency_key")}
               for refund in state["refunds"]]
    return {"charges": charges, "refunds": refunds}


def _admin_charge(charge: dict[str, Any]) -> dict[str, Any]:
    shown = {field: charge[field] for field in
             ("id", "payment_id", "amount", "currency", "status", "idempotency_key", "refunded")}
    settle_at = charge.get("settle_at")
    if shown["status"] == "pending" and settle_at is not None and settle_at <= time.time():
        shown["status"] = "approved"
    return shown
