"""The mock gateway fixtures: one `MockGatewayProcess` per protocol per test session
(`gateway_server` speaks the full protocol, `seed_gateway_server` the seed's) and, per test,
the one of the test's `protocol` reset to mode `ok` with nothing in it (`gateway`).

Both protocols: a test (or class) decorated with `BOTH_PROTOCOLS` runs twice, against the
full protocol and against the seed's, with the same code; where the two rightly differ it
asks `gateway.is_seed`. Any other test gets the full protocol. Resetting the seed's mock
restarts it (it has no admin API), about half a second: only tests that talk to the
gateway are worth running on both, and the seed's cases are marked slow.

The process manager itself is `paycli.devtools.mock_process.MockGatewayProcess`, the one
`paycli demo` and `paycli bench` use.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from paycli.devtools.mock_process import MockGatewayProcess

REPO_ROOT = Path(__file__).resolve().parent.parent
API_KEY = "test-api-key"
PROTOCOLS = ("full", "seed")
# The seed's cases restart its mock (about half a second each): they are kept out of the
# quick loop (`-m "not slow"`).
BOTH_PROTOCOLS = pytest.mark.parametrize(
    "protocol", ["full", pytest.param("seed", marks=pytest.mark.slow)], indirect=True)


@pytest.fixture(scope="session")
def gateway_server() -> Iterator[MockGatewayProcess]:
    """One full-protocol mock gateway for the whole test session."""
    with MockGatewayProcess(API_KEY) as server:
        yield server


@pytest.fixture(scope="session")
def seed_gateway_server() -> Iterator[MockGatewayProcess]:
    """One seed-protocol mock gateway for the whole test session (started on first use)."""
    with MockGatewayProcess(API_KEY, protocol="seed") as server:
        yield server


@pytest.fixture
def protocol(request: pytest.FixtureRequest) -> str:
    """The gateway protocol of this test: `full` unless it runs on both (`BOTH_PROTOCOLS`)."""
    return str(getattr(request, "param", "full"))


@pytest.fixture
def gateway(protocol: str, request: pytest.FixtureRequest) -> MockGatewayProcess:
    """The session's mock gateway of the test's protocol, reset to mode `ok` with nothing
    in it."""
    server: MockGatewayProcess = request.getfixturevalue(
        "seed_gateway_server" if protocol == "seed" else "gateway_server")
    server.reset(mode="ok")
    return server
