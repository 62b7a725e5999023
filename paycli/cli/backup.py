"""`paycli backup`: an online copy of a SQLite ledger, published only once its replay
agrees."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from paycli.cli.common import JsonOption, command, emit, open_existing, usage
from paycli.cli.views import ledger as views
from paycli.ledger.replay import backup as take_backup


def register(app: typer.Typer) -> None:
    """Add `backup` to the app."""
    app.command("backup")(backup)


@command
def backup(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Where to write the copy (created 0600).",
                                         dir_okay=False)],
    force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Copy a SQLite ledger while other paycli processes keep working, then replay and
    verify the copy before reporting success.

    The copy is one consistent state of the ledger, written privately (0600) to a
    temporary file beside FILE and renamed into place only once its replay agrees with
    its events and its hash chain verifies; a failed backup leaves nothing behind. To
    restore, point --db at the copy, or `paycli --db COPY db copy --to ...` it into an
    empty ledger. A PostgreSQL ledger is backed up with pg_dump (exit 2 says how). A FILE
    that exists is refused (exit 2), and kept, unless --force is given.

    Example: paycli backup ~/backups/ledger-$(date +%F).db
    """
    if file.exists() and not force:
        usage(f"{file} exists: an earlier backup is never replaced silently "
              "(--force replaces it)")
    with open_existing(ctx) as store:
        result = take_backup(store, file)
    emit(result, json_output, views.backed_up)
