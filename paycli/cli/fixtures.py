"""`paycli fixtures load FILE`: wallets, payments and refunds from a JSON file.

The file is read and every entry checked by `ledger.fixturefile` before anything is
written; a problem is one line naming the entry (`payments[2].amount: …`), exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from paycli.cli.common import JsonOption, command, emit, fail, open_store, state_of
from paycli.cli.views import fixtures as views
from paycli.devtools.fixtures import load
from paycli.ledger.fixturefile import read_fixtures
from paycli.saga.wiring import saga_env

fixtures_app = typer.Typer(help="Load a known set of wallets, payments and refunds.",
                           no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `fixtures` group to the app."""
    app.add_typer(fixtures_app, name="fixtures")


@fixtures_app.command("load")
@command
def fixtures_load(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The fixtures file (JSON).", dir_okay=False)],
    json_output: JsonOption = False,
) -> None:
    """Load wallets, payments and refunds from a JSON file through the real commands' code
    paths: credits, the pay saga against the configured gateway, refunds.

    The file: {"wallets": [{"user", "amount", "currency"}], "payments": [{"user",
    "amount", "currency", "order_id"}], "refunds": [{"order_id", "amount"}]} (currency
    may be left out or empty for USD; a refund without amount refunds what is left).
    Every entry is checked before anything is written. Loading the same file again
    creates nothing: every entry is keyed, so it is skipped, and the gateway gets no new
    charge.

    Example: paycli fixtures load fixtures/demo.json
    """
    settings = state_of(ctx).settings
    plan = read_fixtures(file, settings.max_amount)
    with open_store(ctx) as store:
        env = saga_env(store, settings)
        try:
            result, error = load(env, plan, settings.max_amount, 30.0)
        finally:
            env.close()
    if error is None:
        emit(result, json_output, views.fixtures_loaded)
    else:
        fail(result, error, json_output, views.fixtures_loaded)
