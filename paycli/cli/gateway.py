"""`paycli gateway status | reset`: each configured gateway's shared circuit breaker."""

from __future__ import annotations

from typing import Annotated

import typer

from paycli.cli.common import JsonOption, command, emit, open_existing, state_of
from paycli.cli.views import gateway as views
from paycli.saga.wiring import breaker_status, reset_breakers

gateway_app = typer.Typer(help="The shared circuit breaker in front of the card gateway.",
                          no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `gateway` group to the app."""
    app.add_typer(gateway_app, name="gateway")


@gateway_app.command("status")
@command
def gateway_status(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Show every gateway's circuit breaker: closed, open or half-open, its failures.

    Gateways are listed in priority order (PAYCLI_GATEWAYS); the first one's breaker is
    also given at the top of --json, as with a single gateway.

    Example: paycli gateway status --json
    """
    with open_existing(ctx) as store:
        result = breaker_status(store, state_of(ctx).settings)
    emit(result, json_output, views.gateway_status)


@gateway_app.command("reset")
@command
def gateway_reset(ctx: typer.Context, name: Annotated[str | None, typer.Argument(
        metavar="[NAME]", help="The gateway whose breaker to close (default: every one).",
        show_default=False)] = None, json_output: JsonOption = False) -> None:
    """Close a gateway's circuit breaker by hand (every gateway's without NAME) and forget
    its failures.

    Example: paycli gateway reset backup
    """
    with open_existing(ctx) as store:
        reset_breakers(store, state_of(ctx).settings, name)
        result = breaker_status(store, state_of(ctx).settings)
    emit(result, json_output, views.gateway_reset)
