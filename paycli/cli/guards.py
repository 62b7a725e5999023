"""`paycli backup`, and `paycli limits set | show`: the guard rails an operator sets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from paycli.cli import inputs, views
from paycli.cli.common import (
    CurrencyOption,
    JsonOption,
    command,
    emit,
    open_store,
    state_of,
    usage,
)
from paycli.errors import UsageError

limits_app = typer.Typer(help="Limits per wallet or for all: single amount, daily amount "
                              "and count.", no_args_is_help=True)
NONE = "none"  # the value that removes a limit
DAILY_TIMES_MAX = 1000  # a daily amount may be up to this many maximum single amounts


def register(app: typer.Typer) -> None:
    """Add `backup` and the `limits` group to the app."""
    app.command("backup")(backup)
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
    from paycli.ledger.limits import DEFAULT, UNSET, set_limits  # late: see cli.common

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
    emit(result, json_output, views.limits_shown)


def _limit_amount(text: str | None, code: str, maximum: int, option: str) -> object:
    from paycli.ledger.limits import UNSET  # late: see cli.common

    if text is None:
        return UNSET
    if text.strip().lower() == NONE:
        return None
    try:
        return inputs.amount(text, code, maximum).minor
    except UsageError as exc:
        raise UsageError(f"{option}: {exc.message}") from None


def _limit_count(text: str | None) -> object:
    from paycli.ledger.limits import UNSET  # late: see cli.common

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
    from paycli.ledger.limits import listing  # late: see cli.common

    who = None if user is None else inputs.user_id(user)
    with open_store(ctx) as store, store.snapshot() as reader:
        result = listing(reader, who)
    emit(result, json_output, views.limits_shown)


@command
def backup(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Where to write the copy (created 0600).",
                                         dir_okay=False)],
    json_output: JsonOption = False,
) -> None:
    """Copy a SQLite ledger while other paycli processes keep working, then replay and
    verify the copy before reporting success.

    The copy is one consistent state of the ledger, written privately (0600) to a
    temporary file beside FILE and renamed into place only once its replay agrees with
    its events and its hash chain verifies; a failed backup leaves nothing behind. To
    restore, point --db at the copy, or `paycli --db COPY db copy --to ...` it into an
    empty ledger. A PostgreSQL ledger is backed up with pg_dump (exit 2 says how).

    Example: paycli backup ~/backups/ledger-$(date +%F).db
    """
    from paycli.ledger.backup import backup as take_backup  # late: see cli.common

    with open_store(ctx) as store:
        result = take_backup(store, file)
    emit(result, json_output, views.backed_up)
