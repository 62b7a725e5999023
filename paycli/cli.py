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
UserOption = Annotated[
    str, typer.Option("--user", help="The user id (1-64 of A-Z a-z 0-9 _ . : -).")
]
CurrencyOption = Annotated[str, typer.Option("--currency", help="ISO 4217 code.")]
KeyOption = Annotated[
    str | None,
    typer.Option("--idempotency-key", help="Repeat-safe key: the same key and arguments act once."),
]


class PaycliGroup(TyperGroup):
    """Turns usage errors into one line (or a JSON error object) and exit code 2."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        try:
            code = super().main(argv, prog_name or "paycli", complete_var,
                                standalone_mode=False,
                                windows_expand_args=windows_expand_args, **extra)
        except typer.TyperException as exc:
            if exc.format_message().strip():  # empty when the help was shown instead
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


def state_of(ctx: typer.Context) -> State:
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
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks of internal errors.")
    ] = False,
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
            ctx = kwargs.get("ctx")  # Click's own Context: never a `typer.Context` instance
            if ctx is not None and state_of(ctx).debug:
                raise
            _report(f"internal error: {type(exc).__name__}: {exc}", "internal_error", as_json)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def open_store(ctx: typer.Context) -> Any:
    """The ledger named by `--db` / `PAYCLI_DB` / the default."""
    from paycli.store import Store

    return Store(state_of(ctx).settings.db)


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
    money = inputs.amount(amount, code, state_of(ctx).settings.max_amount)
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


def _finish(outcome: Any, reporter: Any, as_json: bool) -> None:
    reporter.finish(outcome.result, outcome.error)
    if as_json:
        render.print_json(outcome.result)
    elif outcome.error is not None:
        render.print_error(outcome.error.message)
    if outcome.error is not None:
        raise typer.Exit(outcome.error.exit_code)


@app.command()
@command
def pay(
    ctx: typer.Context,
    user: UserOption,
    amount: Annotated[str, typer.Option("--amount", help="Decimal amount in major units.")],
    currency: CurrencyOption = "USD",
    order_id: Annotated[
        str | None, typer.Option("--order-id", help="Your order id; paying it twice charges once.")
    ] = None,
    idempotency_key: KeyOption = None,
    wait: Annotated[
        float, typer.Option("--wait", help="Seconds to wait for a pending charge to settle.")
    ] = 30.0,
    json_output: JsonOption = False,
) -> None:
    """Pay from a wallet through the card gateway, showing each step live.

    Steps: CheckWalletBalance, CreatePayment, ReserveFunds (a hold), ProcessPayment (the
    gateway, with retries and a shared circuit breaker), SettlePayment.

    Example: paycli pay --user alice --amount 50 --order-id order-001
    """
    from paycli import live, runtime, saga

    settings = state_of(ctx).settings
    code = inputs.currency_code(currency)
    request = saga.PayRequest(
        user=inputs.user_id(user), money=inputs.amount(amount, code, settings.max_amount),
        order_id=inputs.order_id(order_id), idempotency_key=inputs.idempotency_key(idempotency_key),
        wait_s=inputs.seconds(wait, "--wait"),
    )
    with open_store(ctx) as store:
        env = runtime.saga_env(store, settings)
        reporter = live.reporter_for("Payment", json_output)
        try:
            outcome = saga.pay(env, request, reporter)
        finally:
            env.close()
        _finish(outcome, reporter, json_output)


@app.command()
@command
def refund(
    ctx: typer.Context,
    payment_id: Annotated[str, typer.Argument(help="The payment to refund (pay_...).")],
    amount: Annotated[
        str | None, typer.Option("--amount", help="Partial amount; default: all that is left.")
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why, for the gateway and the log.")] = "",
    idempotency_key: KeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Give money back for a completed payment, fully or in part.

    Example: paycli refund pay_0123456789abcdef01234567 --amount 10 --reason "damaged"
    """
    from paycli import live, refunds, runtime

    settings = state_of(ctx).settings
    request = refunds.RefundRequest(
        payment_id=inputs.entity_id(payment_id, "pay"),
        amount=inputs.amount_text(amount), reason=inputs.reason(reason),
        idempotency_key=inputs.idempotency_key(idempotency_key),
    )
    with open_store(ctx) as store:
        env = runtime.saga_env(store, settings)
        reporter = live.reporter_for("Refund", json_output)
        try:
            outcome = refunds.refund(env, request, reporter, settings.max_amount)
        finally:
            env.close()
        _finish(outcome, reporter, json_output)


@app.command()
@command
def recover(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Finish payments and refunds interrupted by a crash, from what the gateway knows.

    Exits 10 if some outcome is still unknown (left PROCESSING, funds held).

    Example: paycli recover --json
    """
    from paycli import recovery, runtime

    with open_store(ctx) as store:
        env = runtime.saga_env(store, state_of(ctx).settings)
        try:
            result = recovery.recover(env)
        finally:
            env.close()
    emit(result, json_output, render.recovered)
    if result["unresolved"]:
        raise typer.Exit(10)


gateway_app = typer.Typer(help="The shared circuit breaker in front of the card gateway.",
                          no_args_is_help=True)
app.add_typer(gateway_app, name="gateway")


@gateway_app.command("status")
@command
def gateway_status(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Show the circuit breaker: closed, open or half-open, and its failure count.

    Example: paycli gateway status --json
    """
    from paycli.breaker_store import BreakerStore

    with open_store(ctx) as store:
        state = BreakerStore(store).read()
    result = {"state": state.state, "failures": state.failures,
              "opened_at": _iso(state.opened_at)}
    emit(result, json_output, render.gateway_status)


@gateway_app.command("reset")
@command
def gateway_reset(ctx: typer.Context) -> None:
    """Close the circuit breaker by hand and forget its failures.

    Example: paycli gateway reset
    """
    from paycli.breaker_store import BreakerStore

    with open_store(ctx) as store:
        BreakerStore(store).close()
    render.console().print("[green]✓[/] circuit breaker closed")


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


# The toolkit's commands live in their own module; importing it registers them on `app`.
from paycli import cli_tools  # noqa: E402, F401
