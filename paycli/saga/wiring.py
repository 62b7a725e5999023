"""Wiring: a saga environment from settings (every configured gateway, each with its own
shared breaker, a JSON log), and the breakers' state as the operator sees it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime

from paycli.config import Settings
from paycli.gateway.clients import client
from paycli.gateway.protocol import Gateway
from paycli.gateway.resilience import Resilience, next_probe_at, probe_lease
from paycli.gateway.routes import Route, api_key, route_named, routes
from paycli.logs import JsonLog
from paycli.results.gateway import GatewayBreaker, GatewayStatus
from paycli.saga.core import Gateways, SagaEnv
from paycli.store import BreakerStore, Store


def http_gateway(settings: Settings, route: Route | None = None) -> Gateway:
    """The client of gateway `route` (the first configured one if not given)."""
    route = route or routes(settings)[0]
    return client(route.protocol, route.url, api_key(settings, route),
                  settings.gateway_timeout, route.key_env)


@contextlib.contextmanager
def settlement_report(settings: Settings, route: Route | None = None
                      ) -> Iterator[Iterator[str]]:
    """A gateway's settlement report (the first one's if not named), line by line."""
    route = route or routes(settings)[0]
    gateway = client(route.protocol, route.url, api_key(settings, route),
                     settings.gateway_timeout, route.key_env)
    try:
        with gateway.settlement_report() as lines:
            yield lines
    finally:
        gateway.close()


def resilience(store: Store, settings: Settings, route: Route | None = None) -> Resilience:
    """Retries and gateway `route`'s shared breaker (the first one's if not named)."""
    route = route or routes(settings)[0]
    return Resilience(
        BreakerStore(store, route.breaker), failures=settings.breaker_failures,
        reset_s=settings.breaker_reset_seconds, attempts=settings.retry_attempts,
        attempt_timeout_s=settings.gateway_timeout,
    )


def saga_env(store: Store, settings: Settings, gateway: Gateway | None = None, *,
             calls_gateway: bool = True, only: str | None = None) -> SagaEnv:
    """Everything a saga needs, with each gateway's client created only when first used.

    `calls_gateway=False` is for work that never calls it (reconciling from a report
    file): its gateway settings are not checked, so they cannot stop it. `only` names the
    one gateway new payments go to (`--gateway NAME`; a usage error if unknown)."""
    log = JsonLog(settings.log_file)
    configured = _checked(settings) if calls_gateway else []
    if gateway is not None or not calls_gateway:
        made = gateway
        return SagaEnv(store, gateway=lambda: made or http_gateway(settings),
                       resilience=lambda on: resilience(on, settings), log=log)
    choices = (route_named(settings, only).name,) if only is not None else None
    by_name = {route.name: route for route in configured}
    gateways = Gateways(
        names=tuple(by_name),
        client=lambda name: http_gateway(settings, by_name[name]),
        resilience=lambda name, other: resilience(other, settings, by_name[name]))
    first = configured[0].name
    return SagaEnv(store, gateway=lambda: gateways.client(first),
                   resilience=lambda on: gateways.resilience(first, on), log=log,
                   gateways=gateways, route=first, choices=choices)


def _checked(settings: Settings) -> list[Route]:
    """Every gateway setting, checked now, before anything runs: read lazily, a bad one
    would stop the saga after its payment and hold were written (exit 2, funds held)."""
    configured = routes(settings)
    for route in configured:
        api_key(settings, route)
    for name in ("gateway_timeout", "retry_attempts", "breaker_failures",
                 "breaker_reset_seconds"):
        getattr(settings, name)
    return configured


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def breaker_status(store: Store, settings: Settings) -> GatewayStatus:
    """Every gateway's shared circuit breaker (state, failures, when it opened, when it may
    probe); the first gateway's also at the top, as the single gateway's was."""
    reset_s = settings.breaker_reset_seconds
    lease_s = probe_lease(reset_s, settings.gateway_timeout)
    listed = []
    for route in routes(settings):
        state = BreakerStore(store, route.breaker).read()
        listed.append(GatewayBreaker(
            name=route.name, url=route.url, protocol=route.protocol, state=state.state,
            failures=state.failures, opened_at=_iso(state.opened_at),
            probe_at=_iso(next_probe_at(state, reset_s, lease_s))))
    first = listed[0]
    return GatewayStatus(state=first.state, failures=first.failures,
                         opened_at=first.opened_at, probe_at=first.probe_at,
                         gateways=listed)


def reset_breakers(store: Store, settings: Settings, name: str | None) -> None:
    """Close gateway `name`'s breaker by hand (every gateway's when no name is given)."""
    chosen = [route_named(settings, name)] if name is not None else routes(settings)
    for route in chosen:
        BreakerStore(store, route.breaker).close()
