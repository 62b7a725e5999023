"""`paycli limits set | show`: the limits an operator sets per wallet or for all."""

from __future__ import annotations

from typing import Annotated

import typer

from paycli.cli import inputs
from paycli.cli.common import (
    CurrencyOption,
    JsonOption,
    command,
    emit,
    open_existing,
    open_store,
    state_of,
    usage,
)
from paycli.cli.views import limits as views
from paycli.errors import UsageError
from paycli.ledger.limits import DEFAULT, UNSET, listing, set_limits

limits_app = typer.Typer(help="Limits per wallet or for all: single amount, daily amount "
                              "and count.", no_args_is_help=True)
NONE = "none"  # the value that removes a limit
DAILY_TIMES_MAX = 1000  # a daily amount may be up to this many maximum single amounts


def register(app: typer.Typer) -> None:
    """Add the `limits` group to the app."""
    app.add_typer(limits_app, name="limits")


@limits_app.command("set")
@command
def limits_set(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="The wallet's user.")] = None,
    default: Annotated[bool, typer.Option("--default", help="The default for every wallet "
                                                            "without its own.")] = False,
    currency: CurrencyOption = "USD",
    max_amount: Annotated[str | None, typer.Option(
        "--max-amount", help="Largest single payment (or none).")] = None,
    daily_amount: Annotated[str | None, typer.Option(
        "--daily-amount", help="Most paid per UTC day (or none).")] = None,
    daily_count: Annotated[str | None, typer.Option(
        "--daily-count", help="Most payments per UTC day (or none; 0 blocks).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Set a wallet's limits (--user) or the default for every wallet (--default), in one
    currency: the largest single payment, the amount and the count of payments per UTC day.

    A wallet's own limit wins over the default, limit by limit. Options not given keep
    their value; `none` removes a limit. A payment over a limit exits 12 and writes
    nothing. Every change is an event with its actor, verified by replay-events. Removing
    a wallet's own limit (none) lets the default apply to it again.

    Example: paycli limits set --default --max-amount 500 --daily-amount 2000 --daily-count 20
    """
    scope = DEFAULT if inputs.one_of({"--user": user is not None, "--default": default}
                                     ) == "--default" else inputs.user_id(str(user))
    code = inputs.currency_code(currency)
    if max_amount is None and daily_amount is None and daily_count is None:
        usage("give at least one of --max-amount, --daily-amount, --daily-count")
    max_major = state_of(ctx).settings.max_amount
    values = {
        "max_amount": _limit_amount(max_amount, code, max_major, "--max-amount"),
        "daily_amount": _limit_amount(daily_amount, code, max_major * DAILY_TIMES_MAX,
                                      "--daily-amount"),
        "daily_count": _limit_count(daily_count),
    }
    with open_store(ctx) as store:
        result = set_limits(store, scope, code, **{
            name: value for name, value in values.items() if value is not UNSET})
    emit(result, json_output,
         lambda changed: views.limits_changed(changed, None if scope == DEFAULT else scope, code))


def _limit_amount(text: str | None, code: str, maximum: int, option: str) -> object:
    if text is None:
        return UNSET
    if text.strip().lower() == NONE:
        return None
    try:
        return inputs.amount(text, code, maximum).minor
    except UsageError as exc:
        raise UsageError(f"{option}: {exc.message}") from None


def _limit_count(text: str | None) -> object:
    if text is None:
        return UNSET
    if text.strip().lower() == NONE:
        return None
    if not text.isascii() or not text.isdigit() or int(text) > 1_000_000:
        usage(f"--daily-count must be a whole number from 0 to 1000000, or none; got "
              f"{text[:40]!r}")
    return int(text)


@limits_app.command("show")
@command
def limits_show(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="Only what applies to this "
                                                            "user (theirs and the default).")]
    = None,
    json_output: JsonOption = False,
) -> None:
    """Show the limits set: every one, or those that apply to one user.

    Example: paycli limits show --user alice
    """
    who = None if user is None else inputs.user_id(user)
    with open_existing(ctx) as store, store.snapshot() as reader:
        result = listing(reader, who)
    emit(result, json_output, views.limits_shown)


