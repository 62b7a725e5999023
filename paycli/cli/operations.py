"""`paycli recover` and `paycli gateway status | reset`: keeping the machinery running."""

from __future__ import annotations

import typer

from paycli.cli import views
from paycli.cli.common import JsonOption, command, emit, open_store, state_of

gateway_app = typer.Typer(help="The shared circuit breaker in front of the card gateway.",
                          no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `recover` and the `gateway` group to the app."""
    app.command()(recover)
    app.add_typer(gateway_app, name="gateway")


@command
def recover(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Finish payments and refunds interrupted by a crash, from what the gateway knows.

    Exits 10 if some outcome is still unknown (left PROCESSING, funds held).

    Example: paycli recover --json
    """
    from paycli.saga.recover import recover as recover_all  # late: see cli.common
    from paycli.saga.wiring import saga_env

    with open_store(ctx) as store:
        env = saga_env(store, state_of(ctx).settings)
        try:
            result = recover_all(env)
        finally:
            env.close()
    emit(result, json_output, views.recovered)
    if result.unresolved:
        raise typer.Exit(10)


@gateway_app.command("status")
@command
def gateway_status(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Show the circuit breaker: closed, open or half-open, and its failure count.

    Example: paycli gateway status --json
    """
    from paycli.saga.wiring import breaker_status  # late: see cli.common

    with open_store(ctx) as store:
        result = breaker_status(store, state_of(ctx).settings)
    emit(result, json_output, views.gateway_status)


@gateway_app.command("reset")
@command
def gateway_reset(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Close the circuit breaker by hand and forget its failures.

    Example: paycli gateway reset
    """
    from paycli.saga.wiring import breaker_status  # late: see cli.common
    from paycli.store import BreakerStore

    with open_store(ctx) as store:
        BreakerStore(store).close()
        result = breaker_status(store, state_of(ctx).settings)
    emit(result, json_output, views.gateway_reset)
