"""The mock gateway fixtures: one `MockGatewayProcess` per test session (`gateway_server`)
and, per test, that process reset to mode `ok` with nothing in it (`gateway`).

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


@pytest.fixture(scope="session")
def gateway_server() -> Iterator[MockGatewayProcess]:
    """One mock gateway for the whole test session."""
    with MockGatewayProcess(API_KEY) as server:
        yield server


@pytest.fixture
def gateway(gateway_server: MockGatewayProcess) -> MockGatewayProcess:
    """The session's mock gateway, reset to mode `ok` with nothing in it."""
    gateway_server.reset(mode="ok")
    return gateway_server
