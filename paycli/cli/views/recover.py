"""View of `recover`."""

from __future__ import annotations

from paycli.cli.views.base import console, escaped, new_table
from paycli.results.recover import RecoverReport


def recovered(result: RecoverReport) -> None:
    """After `recover`."""
    if not result.resolved and not result.unresolved and not result.settled_elsewhere:
        console().print("[green]✓[/] Nothing to recover: every payment and refund is final.")
        return
    table = new_table("Recovery")
    table.add_column("Id")
    table.add_column("Status")
    table.add_column("Note")
    for entry in result.resolved:
        table.add_row(entry.refund_id or entry.payment_id, entry.status, "resolved")
    for entry in result.settled_elsewhere:
        table.add_row(entry.refund_id or entry.payment_id, entry.status,
                      "settled meanwhile by another process (not by this recover)")
    for entry in result.unresolved:
        table.add_row(entry.refund_id or entry.payment_id,
                      f"[yellow]{entry.status}[/]", escaped(entry.reason))
    console().print(table)
