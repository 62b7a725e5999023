"""`paycli recover`: finish the payments and refunds a crash left open."""

from __future__ import annotations

import typer

from paycli.cli.common import JsonOption, command, emit, open_existing, state_of
from paycli.cli.views import recover as views
from paycli.saga.recover import recover as recover_all
from paycli.saga.wiring import saga_env


def register(app: typer.Typer) -> None:
    """Add `recover` to the app."""
    app.command()(recover)


@command
def recover(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Finish payments and refunds interrupted by a crash, from what the gateway knows.

    Exits 10 if some outcome is still unknown (left PROCESSING, funds held).

    Example: paycli recover --json
    """
    with open_existing(ctx) as store:
        env = saga_env(store, state_of(ctx).settings)
        try:
            result = recover_all(env)
        finally:
            env.close()
    emit(result, json_output, views.recovered)
    if result.unresolved:
        raise typer.Exit(10)


