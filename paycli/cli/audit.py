"""`paycli replay-events` and `paycli export`: reading the whole ledger back."""

from __future__ import annotations

import os
import sys
from typing import Annotated, NoReturn

import typer

from paycli.cli import inputs, views
from paycli.cli.common import JsonOption, command, emit, fail, open_store
from paycli.errors import LedgerVerificationFailed


def register(app: typer.Typer) -> None:
    """Add `replay-events` and `export` to the app."""
    app.command("replay-events")(replay_events)
    app.command("export")(export_records)


@command
def replay_events(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Rebuild every balance, hold, transfer, payment and refund from the event log alone,
    compare with the stored tables, and verify the hash chain from the first event.

    Reports every mismatch and the first broken link; exits 8 on any finding, 0 when all
    agree. The ledger is only read.

    Example: paycli replay-events --json
    """
    from paycli.ledger import replay  # late: see cli.common

    show_bar = not json_output and sys.stdout.isatty()
    with open_store(ctx) as store, views.progress_bar("Replaying events", show_bar) as bar:
        result = replay.replay_events(store, bar)
    if result.consistent and result.chain_ok:
        emit(result, json_output, views.replay_report)
        return
    fail(result, LedgerVerificationFailed(replay.summary(result)), json_output,
         views.replay_report)


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
    from paycli.ledger import export  # late: see cli.common

    fmt = inputs.choice(fmt, export.FORMATS, "--format")
    show_bar = out is not None and sys.stdout.isatty()
    try:
        with open_store(ctx) as store, views.progress_bar("Exporting", show_bar) as bar:
            result = export.export(store, fmt, out, sys.stdout, bar)
    except BrokenPipeError:
        _reader_gone()
    if out is not None:
        views.exported(result)


def _reader_gone() -> NoReturn:
    """Stdout's reader went away (`paycli export ... | head`): stop quietly, as `cat` does."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # so the final flush at exit cannot fail again
    raise typer.Exit(141)
