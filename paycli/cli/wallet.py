"""`paycli wallet credit | balance | history`."""

from __future__ import annotations

from typing import Annotated

import typer

from paycli.cli import inputs
from paycli.cli.common import (
    AmountOption,
    CurrencyOption,
    JsonOption,
    KeyOption,
    UserOption,
    command,
    emit,
    open_existing,
    open_store,
    state_of,
)
from paycli.cli.views import wallet as views
from paycli.ledger import wallet

wallet_app = typer.Typer(help="Credit wallets and read balances and statements.",
                         no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `wallet` group to the app."""
    app.add_typer(wallet_app, name="wallet")


@wallet_app.command("credit")
@command
def wallet_credit(
    ctx: typer.Context,
    user: UserOption,
    amount: AmountOption,
    currency: CurrencyOption = "USD",
    idempotency_key: KeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Add money to a user's wallet.

    Example: paycli wallet credit --user alice --amount 100.50
    """
    code = inputs.currency_code(currency)
    money = inputs.amount(amount, code, state_of(ctx).settings.max_amount)
    user = inputs.user_id(user)
    key = inputs.idempotency_key(idempotency_key)
    with open_store(ctx) as store:
        result = wallet.credit(store, user, money, key)
    emit(result, json_output, views.wallet_credit)


@wallet_app.command("balance")
@command
def wallet_balance(
    ctx: typer.Context,
    user: UserOption,
    currency: CurrencyOption = "USD",
    json_output: JsonOption = False,
) -> None:
    """Show a wallet's balance, what is available and what is held.

    Example: paycli wallet balance --user alice --json
    """
    code, user = inputs.currency_code(currency), inputs.user_id(user)
    with open_existing(ctx) as store:
        result = wallet.balance(store.read, user, code)
    emit(result, json_output, views.wallet_balance)


@wallet_app.command("history")
@command
def wallet_history(
    ctx: typer.Context,
    user: UserOption,
    currency: CurrencyOption = "USD",
    limit: Annotated[int, typer.Option("--limit", help="How many lines, newest first.")] = 20,
    json_output: JsonOption = False,
) -> None:
    """Show a wallet's statement, newest first: one line per movement of the balance
    (credits, payments, refunds), so the amounts add up to it; a hold moves nothing and
    shows as held until its payment posts it (one line) or it is released.

    Example: paycli wallet history --user alice --limit 10
    """
    code, user = inputs.currency_code(currency), inputs.user_id(user)
    limit = inputs.positive_int(limit, "--limit")
    with open_existing(ctx) as store:
        result = wallet.history(store.read, user, code, limit)
    emit(result, json_output, views.wallet_history)
