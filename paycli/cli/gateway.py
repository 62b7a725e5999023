"""`paycli gateway status | reset`: the shared circuit breaker in front of the card
gateway."""

from __future__ import annotations

import typer

from paycli.cli.common import JsonOption, command, emit, open_existing, state_of
from paycli.cli.views import gateway as views
from paycli.saga.wiring import breaker_status
from paycli.store import BreakerStore

gateway_app = typer.Typer(help="The shared circuit breaker in front of the card gateway.",
                          no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `gateway` group to the app."""
    app.add_typer(gateway_app, name="gateway")


@gateway_app.command("status")
@command
def gateway_status(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Show the circuit breaker: closed, open or half-open, and its failure count.

    Example: paycli gateway status --json
    """
    with open_existing(ctx) as store:
        result = breaker_status(store, state_of(ctx).settings)
    emit(result, json_output, views.gateway_status)


@gateway_app.command("reset")
@command
def gateway_reset(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Close the circuit breaker by hand and forget its failures.

    Example: paycli gateway reset
    """
    with open_existing(ctx) as store:
        BreakerStore(store).close()
        result = breaker_status(store, state_of(ctx).settings)
    emit(result, json_output, views.gateway_reset)
