"""Views of `gateway status | reset`."""

from __future__ import annotations

from datetime import UTC, datetime

from paycli.cli.views.base import Column, console, print_table
from paycli.results.gateway import GatewayStatus


def gateway_status(result: GatewayStatus) -> None:
    """After `gateway status`: the state, and when the next probe may go out (a table of
    every gateway when several are configured)."""
    if len(result.gateways) > 1:
        _gateways_table(result)
        return
    style = {"closed": "green", "open": "red", "half-open": "yellow"}[result.state]
    opened = f", opened at {result.opened_at}" if result.opened_at else ""
    console().print(f"Circuit breaker: [bold {style}]{result.state}[/] "
                    f"({result.failures} consecutive failures{opened})")
    if result.probe_at is not None:
        console().print(f"{_probe_wait(result.probe_at)}; "
                        "`paycli gateway reset` closes it by hand.")


def breaker_next_step(result: GatewayStatus) -> str:
    """What an operator can do about an open breaker: when the next probe may go out,
    and the command that closes it by hand."""
    if result.probe_at is None:  # closed again since (another process's probe went well)
        return "the circuit breaker has closed since: try again"
    at = datetime.fromisoformat(result.probe_at)
    wait = (at - datetime.now(UTC)).total_seconds()
    when = f"at {at:%H:%M:%S} UTC, in {wait:.0f} s" if wait >= 1 else "now"
    return f"the next probe may go out {when}; `paycli gateway reset` closes the breaker by hand"


def _probe_wait(probe_at: str) -> str:
    wait = (datetime.fromisoformat(probe_at) - datetime.now(UTC)).total_seconds()
    return f"next probe allowed in {wait:.0f} s" if wait >= 1 else "probe allowed now"


def _gateways_table(result: GatewayStatus) -> None:
    print_table("Gateways, in priority order", [
        Column("Gateway", whole=True), Column("URL", whole=True), Column("Protocol", drop=2),
        Column("Breaker", whole=True), Column("Failures", right=True),
        Column("Opened at", drop=1), Column("Next probe", drop=1)],
        [[gateway.name, gateway.url, gateway.protocol, gateway.state, str(gateway.failures),
          gateway.opened_at or "-",
          _probe_wait(gateway.probe_at) if gateway.probe_at else "-"]
         for gateway in result.gateways])
    if any(gateway.probe_at for gateway in result.gateways):
        console().print("`paycli gateway reset NAME` closes a breaker by hand.")


def gateway_reset(result: GatewayStatus) -> None:
    """After `gateway reset`."""
    if len(result.gateways) > 1:
        _gateways_table(result)
        return
    console().print(f"[green]✓[/] circuit breaker {result.state} "
                    f"({result.failures} consecutive failures)")
