"""Wiring: a saga environment from settings (HTTP gateway, shared breaker, JSON log), and
the breaker's state as the operator sees it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime

from paycli.config import Settings
from paycli.gateway.clients import client
from paycli.gateway.protocol import Gateway
from paycli.gateway.resilience import Resilience, next_probe_at, probe_lease
from paycli.logs import JsonLog
from paycli.results.gateway import GatewayStatus
from paycli.saga.core import SagaEnv
from paycli.store import BreakerStore, Store


def http_gateway(settings: Settings) -> Gateway:
    """The HTTP gateway client the settings describe."""
    return client("paycli", settings.gateway_url, settings.gateway_api_key,
                  settings.gateway_timeout)


@contextlib.contextmanager
def settlement_report(settings: Settings) -> Iterator[Iterator[str]]:
    """The gateway's settlement report, streamed line by line from `--gateway-url`."""
    gateway = client("paycli", settings.gateway_url, settings.gateway_api_key,
                     settings.gateway_timeout)
    try:
        with gateway.settlement_report() as lines:
            yield lines
    finally:
        gateway.close()


def resilience(store: Store, settings: Settings) -> Resilience:
    """Retries and the shared breaker as the settings configure them."""
    return Resilience(
        BreakerStore(store), failures=settings.breaker_failures,
        reset_s=settings.breaker_reset_seconds, attempts=settings.retry_attempts,
        attempt_timeout_s=settings.gateway_timeout,
    )


def saga_env(store: Store, settings: Settings, gateway: Gateway | None = None, *,
             calls_gateway: bool = True) -> SagaEnv:
    """Everything a saga needs, with the gateway created only when first used.

    `calls_gateway=False` is for work that never calls it (reconciling from a report
    file): its gateway settings are not checked, so they cannot stop it."""
    if calls_gateway:
        # Every gateway setting is checked now, before anything runs: read lazily, a bad
        # one would stop the saga after its payment and hold were written (exit 2, funds
        # held).
        for name in ("gateway_url", "gateway_api_key", "gateway_timeout", "retry_attempts",
                     "breaker_failures", "breaker_reset_seconds"):
            getattr(settings, name)
    return SagaEnv(
        store,
        gateway=(lambda: gateway) if gateway is not None else (lambda: http_gateway(settings)),
        resilience=lambda: resilience(store, settings),
        log=JsonLog(settings.log_file),
        resilience_for=lambda other: resilience(other, settings),
    )


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def breaker_status(store: Store, settings: Settings) -> GatewayStatus:
    """The shared circuit breaker: its state, failures, when it opened, when it may probe."""
    state = BreakerStore(store).read()
    reset_s = settings.breaker_reset_seconds
    lease_s = probe_lease(reset_s, settings.gateway_timeout)
    return GatewayStatus(state=state.state, failures=state.failures,
                         opened_at=_iso(state.opened_at),
                         probe_at=_iso(next_probe_at(state, reset_s, lease_s)))
