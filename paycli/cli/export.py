"""`paycli export`: payments, refunds and ledger transfers for accounting, as CSV or
JSON lines."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from paycli.cli import inputs
from paycli.cli.common import command, open_existing
from paycli.cli.views import ledger as views
from paycli.ledger import export


def register(app: typer.Typer) -> None:
    """Add `export` to the app."""
    app.command("export")(export_records)


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
    fmt = inputs.choice(fmt, export.FORMATS, "--format")
    show_bar = out is not None and sys.stdout.isatty()
    with open_existing(ctx) as store, views.progress_bar("Exporting", show_bar) as bar:
        result = export.export(store, fmt, out, sys.stdout, bar)
    if out is not None:
        views.exported(result)

