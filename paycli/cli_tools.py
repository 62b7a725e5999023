"""The operator's toolkit commands: payments list/show, replay-events, export, and the
demo and bench. Registered on `cli.app` when `cli` is imported; same rules as `cli`: parse,
call the core, render, map errors to exit codes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from paycli import inputs, render
from paycli.cli import JsonOption, app, command, emit, open_store, state_of
from paycli.errors import PaycliError


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

    chosen = state_of(ctx).settings.overrides.get("db")
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
