"""Shell completion: the values an option takes, and payment and refund ids from the
ledger the command line names. A completion never creates or changes a ledger: with no
ledger file there is nothing to offer."""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer

from paycli.config import Settings
from paycli.records import PaymentStatus, RefundStatus
from paycli.store import Store


def payment_statuses(incomplete: str) -> list[str]:
    """The payment statuses that start with what was typed (any case)."""
    return [status for status in PaymentStatus if status.startswith(incomplete.upper())]


def refund_statuses(incomplete: str) -> list[str]:
    """The refund statuses that start with what was typed (any case)."""
    return [status for status in RefundStatus if status.startswith(incomplete.upper())]


def refund_ids(ctx: typer.Context, incomplete: str) -> list[str]:
    """Refund ids of the ledger that start with what was typed."""
    return _ids(ctx, "refunds", incomplete)


def payment_ids(ctx: typer.Context, incomplete: str) -> list[str]:
    """Payment ids of the ledger that start with what was typed."""
    return _ids(ctx, "payments", incomplete)


def _ids(ctx: typer.Context, table: str, incomplete: str) -> list[str]:
    root = ctx.find_root().params
    settings = Settings(overrides={"db": root.get("db")},
                        data_dir=Path(typer.get_app_dir("paycli")))
    with contextlib.suppress(Exception):  # a completion must never fail the shell
        target = settings.db
        if "://" not in target and not Path(target).is_file():
            return []
        with Store(target) as store:
            return store.read.ids_starting(table, incomplete)
    return []
