"""View of `recover`."""

from __future__ import annotations

from paycli.cli.views.base import Column, console, print_table
from paycli.results.recover import RecoveredEntry, RecoverReport

# Why a finished payment or refund ended as it did, from its final status.
PAYMENT_NOTES = {"COMPLETED": "finished: the gateway approved the charge; the hold was posted",
                 "FAILED": "finished: the gateway has no approved charge; the hold was released"}
REFUND_NOTES = {"COMPLETED": "finished: the gateway refunded it; the wallet was credited",
                "FAILED": "finished: the gateway did not refund it; the reservation was released"}


def resolved_note(entry: RecoveredEntry) -> str:
    """The note of a payment or refund `recover` finished: what the gateway said and what
    that did to the money (the entry's own reason, when the core gives one)."""
    notes = REFUND_NOTES if entry.refund_id else PAYMENT_NOTES
    return entry.reason if entry.reason else notes.get(entry.status, "finished")


def recovered(result: RecoverReport) -> None:
    """After `recover`."""
    if not result.resolved and not result.unresolved and not result.settled_elsewhere:
        console().print("[green]✓[/] Nothing to recover: every payment and refund is final.")
        return
    rows = [(entry.refund_id or entry.payment_id, entry.status, resolved_note(entry))
            for entry in result.resolved]
    rows += [(entry.refund_id or entry.payment_id, entry.status,
              "settled meanwhile by another process (not by this recover)")
             for entry in result.settled_elsewhere]
    rows += [(entry.refund_id or entry.payment_id, entry.status, entry.reason or "")
             for entry in result.unresolved]
    print_table("Recovery", RECOVER_COLUMNS, rows)


RECOVER_COLUMNS = (Column("Id", whole=True), Column("Status", whole=True, status=True),
                   Column("Note"))
