"""`paycli events tail`: the event log as it grows, newest last; `--follow` keeps going."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from paycli.cli.common import JsonOption, command, open_existing
from paycli.cli.views import events as views
from paycli.ledger import tail
from paycli.ledger.checks import parse_duration
from paycli.store import Store

POLL_S = 0.25  # a new event shows within a quarter of a second of its commit
LAST = 20      # without --since, the newest events shown first

events_app = typer.Typer(help="The event log: every change of the ledger, in order.",
                         no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `events` group to the app."""
    app.add_typer(events_app, name="events")


@events_app.command("tail")
@command
def events_tail(
    ctx: typer.Context,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep going as new events commit.")
    ] = False,
    types: Annotated[
        str | None, typer.Option("--type", help="Event types or patterns: payment.*,refund.*")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From this long ago: 10m, 1h, 7d.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Show the event log, newest last: one line per event (at, type, id, actor, summary).

    Without --since, the newest 20 events. --follow then shows every event any process
    or host commits, as it commits (polled by event number, 4 times a second), until
    Ctrl-C (exit 130, as for every interrupt). --json prints JSON lines: seq, at, type,
    id, actor, summary and the event's data.

    Example: paycli events tail --follow --type 'payment.*'
    """
    wanted = tail.patterns(types)
    start = None
    if since is not None:
        start = (datetime.now(UTC) - timedelta(seconds=parse_duration(since))).isoformat()
    with open_existing(ctx) as store:
        after = tail.start(store, start, LAST)
        after = _show(store, after, wanted, start, json_output)
        while follow:
            try:
                time.sleep(POLL_S)
                after = _show(store, after, wanted, start, json_output)
            except KeyboardInterrupt:
                raise typer.Exit(130) from None


def _show(store: Store, after: int, wanted: tuple[str, ...], since: str | None,
          as_json: bool) -> int:
    """Print the events after `after`; the last sequence number read."""
    for seq, line in tail.newer(store, after, wanted, since):
        if line is not None:
            views.event_line(line, as_json)
        after = seq
    return after
