"""Views of `gateway status | reset`."""

from __future__ import annotations

from datetime import UTC, datetime

from paycli.cli.views.base import console
from paycli.results.gateway import GatewayStatus


def gateway_status(result: GatewayStatus) -> None:
    """After `gateway status`: the state, and when the next probe may go out."""
    style = {"closed": "green", "open": "red", "half-open": "yellow"}[result.state]
    opened = f", opened at {result.opened_at}" if result.opened_at else ""
    console().print(f"Circuit breaker: [bold {style}]{result.state}[/] "
                    f"({result.failures} consecutive failures{opened})")
    if result.probe_at is not None:
        console().print(f"{_probe_wait(result.probe_at)}; "
                        "`paycli gateway reset` closes it by hand.")


def _probe_wait(probe_at: str) -> str:
    wait = (datetime.fromisoformat(probe_at) - datetime.now(UTC)).total_seconds()
    return f"next probe allowed in {wait:.0f} s" if wait >= 1 else "probe allowed now"


def gateway_reset(result: GatewayStatus) -> None:
    """After `gateway reset`."""
    console().print(f"[green]✓[/] circuit breaker {result.state} "
                    f"({result.failures} consecutive failures)")
