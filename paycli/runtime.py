"""Wiring: a saga environment from settings (HTTP gateway, shared breaker, JSON log)."""

from __future__ import annotations

from paycli.breaker_store import BreakerStore
from paycli.config import Settings
from paycli.gateway import Gateway
from paycli.logs import JsonLog
from paycli.resilience import Resilience
from paycli.saga import SagaEnv
from paycli.store import Store


def http_gateway(settings: Settings) -> Gateway:
    """The HTTP gateway client the settings describe."""
    from paycli.gateway import HttpGateway

    return HttpGateway(settings.gateway_url, settings.gateway_api_key, settings.gateway_timeout)


def resilience(store: Store, settings: Settings) -> Resilience:
    """Retries and the shared breaker as the settings configure them."""
    return Resilience(
        BreakerStore(store), failures=settings.breaker_failures,
        reset_s=settings.breaker_reset_seconds, attempts=settings.retry_attempts,
        attempt_timeout_s=settings.gateway_timeout,
    )


def saga_env(store: Store, settings: Settings, gateway: Gateway | None = None) -> SagaEnv:
    """Everything a saga needs, with the gateway created only when first used."""
    # Every gateway setting is checked now, before anything runs: read lazily, a bad one
    # would stop the saga after its payment and hold were written (exit 2, funds held).
    for name in ("gateway_url", "gateway_timeout", "retry_attempts", "breaker_failures",
                 "breaker_reset_seconds"):
        getattr(settings, name)
    return SagaEnv(
        store,
        gateway=(lambda: gateway) if gateway is not None else (lambda: http_gateway(settings)),
        resilience=lambda: resilience(store, settings),
        log=JsonLog(settings.log_file),
    )
