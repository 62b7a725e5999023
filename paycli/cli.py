"""The `paycli` command line: parse, call the core, render, map errors to exit codes.

No SQL and no HTTP here. Every command's docstring is its `--help`, with an example.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from paycli import inputs, render
from paycli.config import Settings
from paycli.errors import PaycliError

F = TypeVar("F", bound=Callable[..., Any])

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object, nothing else.")]
UserOption = Annotated[str, typer.Option("--user", help="The user id (1-64 of A-Z a-z 0-9 _ . : -).")]
CurrencyOption = Annotated[str, typer.Option("--currency", help="ISO 4217 code.")]
KeyOption = Annotated[
    str | None,
    typer.Option("--idempotency-key", help="Repeat-safe key: the same key and arguments act once."),
]


class PaycliGroup(TyperGroup):
    """Turns usage errors into one line (or a JSON error object) and exit code 2."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        try:
            code = super().main(argv, prog_name or "paycli", complete_var,
                                standalone_mode=False, **extra)
        except typer.TyperException as exc:
            _report(exc.format_message(), "usage_error", "--json" in argv)
            code = exc.exit_code
        except typer.Abort:
            code = 130
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


def _report(message: str, error_type: str, as_json: bool, extra: dict[str, Any] | None = None
            ) -> None:
    first_line = message.strip().splitlines()[0] if message.strip() else error_type
    if as_json:
        render.print_json({**(extra or {}), "error": {"type": error_type, "message": first_line}})
    else:
        render.print_error(first_line)


app = typer.Typer(
    cls=PaycliGroup,
    name="paycli",
    help="paycli: pay, refund and audit over an exact, double-entry SQLite ledger.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
wallet_app = typer.Typer(help="Credit wallets and read balances and statements.",
                         no_args_is_help=True)
app.add_typer(wallet_app, name="wallet")


class State:
    """What the global options set up for the command that runs."""

    def __init__(self, settings: Settings, debug: bool) -> None:
        self.settings = settings
        self.debug = debug


def _state(ctx: typer.Context) -> State:
    state = ctx.find_root().obj
    assert isinstance(state, State)
    return state


@app.callback()
def main(
    ctx: typer.Context,
    db: Annotated[str | None, typer.Option("--db", help="Ledger file (env PAYCLI_DB).")] = None,
    gateway_url: Annotated[
        str | None,
        typer.Option("--gateway-url", help="Card gateway base URL (env PAYCLI_GATEWAY_URL)."),
    ] = None,
    log_file: Annotated[
        str | None,
        typer.Option("--log-file", help="Write JSON log lines here (env PAYCLI_LOG_FILE)."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of internal errors.")] = False,
) -> None:
    """paycli: pay, refund and audit over an exact, double-entry SQLite ledger."""
    overrides = {"db": db, "gateway_url": gateway_url, "log_file": log_file}
    ctx.obj = State(Settings(overrides=overrides), debug)


def command(func: F) -> F:
    """Run a command body, turning paycli's errors into their message and exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("json_output"))
        try:
            return func(*args, **kwargs)
        except PaycliError as exc:
            _report(exc.message, exc.type, as_json, getattr(exc, "result", None))
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            _report("interrupted", "interrupted", as_json)
            raise typer.Exit(130) from None
        except Exception as exc:
            ctx = typer.get_current_context(silent=True)
            if ctx is not None and _state(ctx).debug:
                raise
            _report(f"internal error: {type(exc).__name__}: {exc}", "internal_error", as_json)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def open_store(ctx: typer.Context) -> Any:
    """The ledger named by `--db` / `PAYCLI_DB` / the default."""
    from paycli.store import Store

    return Store(_state(ctx).settings.db)


def emit(result: dict[str, Any], as_json: bool, view: Callable[[dict[str, Any]], None]) -> None:
    """Print a result as JSON or through its human view."""
    if as_json:
        render.print_json(result)
    else:
        view(result)


@wallet_app.command("credit")
@command
def wallet_credit(
    ctx: typer.Context,
    user: UserOption,
    amount: Annotated[str, typer.Option("--amount", help="Decimal amount in major units.")],
    currency: CurrencyOption = "USD",
    idempotency_key: KeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Add money to a user's wallet.

    Example: paycli wallet credit --user alice --amount 100.50
    """
    from paycli import wallet

    code = inputs.currency_code(currency)
    money = inputs.amount(amount, code, _state(ctx).settings.max_amount)
    user = inputs.user_id(user)
    key = inputs.idempotency_key(idempotency_key)
    with open_store(ctx) as store:
        result = wallet.credit(store, user, money, key)
    emit(result, json_output, render.wallet_credit)


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
    from paycli import wallet

    code, user = inputs.currency_code(currency), inputs.user_id(user)
    with open_store(ctx) as store:
        result = wallet.balance(store.read, user, code)
    emit(result, json_output, render.wallet_balance)


@wallet_app.command("history")
@command
def wallet_history(
    ctx: typer.Context,
    user: UserOption,
    currency: CurrencyOption = "USD",
    limit: Annotated[int, typer.Option("--limit", help="How many lines, newest first.")] = 20,
    json_output: JsonOption = False,
) -> None:
    """Show a wallet's statement, newest first: credits, holds, payments, refunds.

    Example: paycli wallet history --user alice --limit 10
    """
    from paycli import wallet

    code, user = inputs.currency_code(currency), inputs.user_id(user)
    limit = inputs.positive_int(limit, "--limit")
    with open_store(ctx) as store:
        result = wallet.history(store.read, user, code, limit)
    emit(result, json_output, render.wallet_history)
