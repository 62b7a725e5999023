"""Results of `gateway status | reset`: the shared circuit breaker."""

from __future__ import annotations

from paycli.records import BreakerStatus
from paycli.results.base import Result


class GatewayStatus(Result):
    """`gateway status` and `gateway reset`: the shared circuit breaker."""

    state: BreakerStatus
    failures: int
    opened_at: str | None
    probe_at: str | None
