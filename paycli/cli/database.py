"""`paycli db copy`: a ledger, events and all, into an empty PostgreSQL (or SQLite) ledger."""

from __future__ import annotations

from typing import Annotated

import typer

from paycli.cli.common import JsonOption, command, emit, fail, open_existing, state_of
from paycli.cli.views import ledger as views
from paycli.config import db_scheme
from paycli.errors import LedgerVerificationFailed
from paycli.ledger.replay import copy_and_verify
from paycli.store import Store

db_app = typer.Typer(help="Move a ledger between files and PostgreSQL.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `db` group to the app."""
    app.add_typer(db_app, name="db")


@db_app.command("copy")
@command
def db_copy(
    ctx: typer.Context,
    to: Annotated[str, typer.Option(
        "--to", metavar="URL", help="The empty target: a postgresql:// URL or a file path. "
        "Put a password in PGPASSWORD or ~/.pgpass, not here.")],
    json_output: JsonOption = False,
) -> None:
    """Copy this ledger (--db), events and all, into an empty ledger, then replay and
    verify it there.

    The source is only read, in one snapshot, so others may keep writing to it; the target
    must be empty (a non-empty one is refused before anything is written). Exits 8 if the
    replay on the target does not match.

    Example: PGPASSWORD=... paycli --db ~/ledger.db db copy --to postgresql://ops@db.example/ledger
    """
    settings = state_of(ctx).settings
    db_scheme(to)  # an unknown scheme:// is a usage error, never a path
    with open_existing(ctx) as source, Store(to, actor=settings.actor) as target:
        result = copy_and_verify(source, target)
    if not result.consistent:
        fail(result, LedgerVerificationFailed(
            f"the copy in {result.to} does not replay consistently "
            f"({result.mismatches} mismatches): run replay-events --db on it"),
            json_output, views.db_copied)
    emit(result, json_output, views.db_copied)
