"""`paycli demo`: the seed system's scenarios, end to end, against a mock gateway it
starts itself."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from paycli.cli import live
from paycli.cli.common import command, state_of
from paycli.cli.views import demo as views
from paycli.devtools import demo as demo_mod
from paycli.store import Store


def register(app: typer.Typer) -> None:
    """Add `demo` to the app."""
    app.command()(demo)


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
    chosen = state_of(ctx).settings.overrides.get("db")
    with tempfile.TemporaryDirectory(prefix="paycli-demo-") as folder:
        path = str(chosen) if chosen else str(Path(folder) / "ledger.db")
        with Store(path) as store:
            results = demo_mod.run_demo(
                store, fast, reporter=lambda title: live.reporter_for(title, False),
                announce=views.announce)
        views.demo_summary(results, path if chosen else None)
    if not all(result.ok for result in results):
        raise typer.Exit(1)
