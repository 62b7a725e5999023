"""The `paycli` command line: parse, call the core, render, map errors to exit codes.

No SQL and no HTTP here. Every command's docstring is its `--help`, with an example.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
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

    settings = _state(ctx).settings
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

    settings = _state(ctx).settings
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
        env = runtime.saga_env(store, _state(ctx).settings)
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
    from paycli.store import BreakerStore

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
    from paycli.store import BreakerStore

    with open_store(ctx) as store:
        BreakerStore(store).close()
    render.console().print("[green]✓[/] circuit breaker closed")


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


@app.command()
@command
def bench(
    payments: Annotated[int, typer.Option("--payments", help="How many payments to run.")] = 2000,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Threads paying at once (each its own "
                          "connection; SQLite takes one writer at a time).")
    ] = 1,
    gateway: Annotated[
        str, typer.Option("--gateway", help="inprocess (no network) or http (the mock gateway).")
    ] = "inprocess",
    prefill: Annotated[
        int, typer.Option("--prefill", help="Completed payments to put in the ledger first.")
    ] = 0,
    json_output: JsonOption = False,
) -> None:
    """Measure payments per second and latency, next to the raw limits of this machine.

    Runs the real saga on a temporary ledger, then raw SQLite with the same durable commits
    per payment (the storage limit) and, with --gateway http, raw httpx to the same mock
    gateway (the network limit), and prints paycli's ratio to each.

    Example: paycli bench --payments 2000 --gateway http
    """
    from paycli import bench as bench_mod

    if gateway not in ("inprocess", "http"):
        raise_usage(f"--gateway must be inprocess or http, got {gateway!r}")
    options = bench_mod.BenchOptions(
        payments=inputs.positive_int(payments, "--payments", 10_000_000),
        concurrency=inputs.positive_int(concurrency, "--concurrency", 64),
        gateway=gateway, prefill=_non_negative(prefill, "--prefill"),
    )
    if json_output or not sys.stdout.isatty():
        result = bench_mod.run(options)
    else:
        with render.bench_progress() as progress:
            result = bench_mod.run(options, progress)
    emit(result, json_output, render.bench_result)


def raise_usage(message: str) -> None:
    """Stop with a usage error (exit 2)."""
    from paycli.errors import UsageError

    raise UsageError(message)


def _non_negative(value: int, option: str) -> int:
    if value < 0 or value > 10_000_000:
        raise_usage(f"{option} must be between 0 and 10000000, got {value}")
    return value


@app.command()
@command
def demo(
    ctx: typer.Context,
    fast: Annotated[bool, typer.Option("--fast", help="Shorten the waits.")] = False,
) -> None:
    """Run the seed system's scenarios end to end against a mock gateway it starts itself.

    Uses a temporary ledger unless --db is given; ends with a summary table and exits 1 if
    any scenario did not behave as expected.

    Example: paycli demo --fast
    """
    import tempfile

    from paycli import demo as demo_mod
    from paycli import live
    from paycli.store import Store

    chosen = _state(ctx).settings.overrides.get("db")
    with tempfile.TemporaryDirectory(prefix="paycli-demo-") as folder:
        path = str(chosen) if chosen else str(Path(folder) / "ledger.db")
        with Store(path) as store:
            results = demo_mod.run_demo(
                store, fast, reporter=lambda title: live.reporter_for(title, False),
                announce=render.announce)
        render.demo_summary(results, path if chosen else None)
    if not all(result.ok for result in results):
        raise typer.Exit(1)


payments_app = typer.Typer(help="List payments; show one with its refunds and its timeline.",
                           no_args_is_help=True)
app.add_typer(payments_app, name="payments")


def _optional(check: Callable[[str], str], value: str | None) -> str | None:
    return None if value is None else check(value)


@payments_app.command("list")
@command
def payments_list(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's payments.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="PENDING, PROCESSING, COMPLETED, FAILED, "
                                                  "PARTIALLY_REFUNDED or REFUNDED.")
    ] = None,
    currency: Annotated[str | None, typer.Option("--currency", help="ISO 4217 code.")] = None,
    since: Annotated[
        str | None, typer.Option("--since",
                                 help="Created at or after (ISO 8601; UTC if no offset).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Created before (a bare date: to its end).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="How many, newest first.")] = 50,
    json_output: JsonOption = False,
) -> None:
    """List payments, newest first, with their refunds.

    Filters combine. --since and --until take an ISO 8601 date or date-time; a time without
    an offset is UTC, and a bare --until date includes that whole day.

    Example: paycli payments list --user alice --status COMPLETED --since 2024-05-01
    """
    from paycli import queries

    user, status = _optional(inputs.user_id, user), _optional(inputs.payment_status, status)
    currency = _optional(inputs.currency_code, currency)
    since = None if since is None else inputs.instant(since, "--since")
    until = None if until is None else inputs.instant(until, "--until", end_of_day=True)
    limit = inputs.positive_int(limit, "--limit")
    with open_store(ctx) as store, store.snapshot() as reader:
        result = queries.list_payments(reader, user=user, status=status, currency=currency,
                                       since=since, until=until, limit=limit)
    emit(result, json_output, render.payments_list)


@payments_app.command("show")
@command
def payments_show(
    ctx: typer.Context,
    payment_id: Annotated[str, typer.Argument(help="The payment to show (pay_...).")],
    json_output: JsonOption = False,
) -> None:
    """Show one payment: its fields, its refunds, and its timeline of events oldest first,
    with each saga step's duration and gateway attempts. Exits 7 if there is no such payment.

    Example: paycli payments show pay_0123456789abcdef01234567
    """
    from paycli import queries

    payment_id = inputs.entity_id(payment_id, "pay")
    with open_store(ctx) as store, store.snapshot() as reader:
        result = queries.show_payment(reader, payment_id)
    emit(result, json_output, render.payment_show)


def _fail(result: dict[str, Any], error: PaycliError, as_json: bool,
          view: Callable[[dict[str, Any]], None]) -> None:
    """Print a result that is also a failure (with its error), and exit with its code."""
    if as_json:
        render.print_json({**result, "error": {"type": error.type, "message": error.message}})
    else:
        view(result)
        render.print_error(error.message)
    raise typer.Exit(error.exit_code)


@app.command("replay-events")
@command
def replay_events(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Rebuild every balance, hold, transfer, payment and refund from the event log alone,
    compare with the stored tables, and verify the hash chain from the first event.

    Reports every mismatch and the first broken link; exits 8 on any finding, 0 when all
    agree. The ledger is only read.

    Example: paycli replay-events --json
    """
    from paycli import replay
    from paycli.errors import LedgerVerificationFailed

    show_bar = not json_output and sys.stdout.isatty()
    with open_store(ctx) as store, render.progress_bar("Replaying events", show_bar) as bar:
        result = replay.replay_events(store, bar)
    if result["consistent"] and result["chain_ok"]:
        emit(result, json_output, render.replay_report)
        return
    _fail(result, LedgerVerificationFailed(replay.summary(result)), json_output,
          render.replay_report)


@app.command("export")
@command
def export_records(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")],
    out: Annotated[
        str | None, typer.Option("--out", help="Write to this file (created 0600), not stdout.")
    ] = None,
) -> None:
    """Export payments, refunds and ledger transfers for accounting, as CSV or JSON lines.

    One record per row: `record` (payment, refund or transfer), then id, created_at,
    updated_at, kind, status, user, currency, amount, refunded, payment_id, order_id,
    reason, gateway_ref, transfer_id, debit, credit, reference, error_type; a field that
    does not apply is empty (null in JSON). Amounts are exact decimals beside their
    currency. CSV is UTF-8 with a header row; a cell starting with = + - @ is prefixed
    with ' so a spreadsheet never runs it as a formula.

    Example: paycli export --format csv --out ledger.csv
    """
    from paycli import export

    fmt = inputs.choice(fmt, export.FORMATS, "--format")
    show_bar = out is not None and sys.stdout.isatty()
    try:
        with open_store(ctx) as store, render.progress_bar("Exporting", show_bar) as bar:
            result = export.export(store, fmt, out, sys.stdout, bar)
    except BrokenPipeError:
        _reader_gone()
    if out is not None:
        render.exported(result)


def _reader_gone() -> None:
    """Stdout's reader went away (`paycli export ... | head`): stop quietly, as `cat` does."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # so the final flush at exit cannot fail again
    raise typer.Exit(141)
