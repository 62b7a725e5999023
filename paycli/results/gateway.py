"""Results of `gateway status | reset`: each configured gateway's shared circuit breaker."""

from __future__ import annotations

from paycli.records import BreakerStatus
from paycli.results.base import Result


class GatewayBreaker(Result):
    """One configured gateway and its shared circuit breaker."""

    name: str
    url: str
    protocol: str
    state: BreakerStatus
    failures: int
    opened_at: str | None
    probe_at: str | None


class GatewayStatus(Result):
    """`gateway status` and `gateway reset`: every gateway's breaker in `gateways`, in
    priority order; the first one's also at the top (the round-2 fields)."""

    state: BreakerStatus
    failures: int
    opened_at: str | None
    probe_at: str | None
    gateways: list[GatewayBreaker]
