"""`paycli replay-events`: the ledger rebuilt from its event log and compared."""

from __future__ import annotations

import sys

import typer

from paycli.cli.common import JsonOption, command, emit, fail, open_existing
from paycli.cli.views import ledger as views
from paycli.errors import LedgerVerificationFailed
from paycli.ledger import replay


def register(app: typer.Typer) -> None:
    """Add `replay-events` to the app."""
    app.command("replay-events")(replay_events)


@command
def replay_events(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Rebuild every balance, hold, transfer, payment and refund from the event log alone,
    compare with the stored tables, and verify the hash chain from the first event.

    Reports every mismatch and the first broken link; exits 8 on any finding, 0 when all
    agree. The ledger is only read.

    Example: paycli replay-events --json
    """
    show_bar = not json_output and sys.stdout.isatty()
    with open_existing(ctx) as store, views.progress_bar("Replaying events", show_bar) as bar:
        result = replay.replay_events(store, bar)
    if result.consistent and result.chain_ok:
        emit(result, json_output, views.replay_report)
        return
    fail(result, LedgerVerificationFailed(replay.summary(result)), json_output,
         views.replay_report)


