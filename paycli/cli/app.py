"""The `paycli` Typer app: the global options, usage errors as one line, and the command
groups, registered explicitly (each command module offers `register(app)`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from paycli.cli import (
    audit,
    batch,
    database,
    fixtures,
    guards,
    operations,
    payments,
    reconcile,
    refunds,
    tools,
    wallet,
)
from paycli.cli.common import State, report
from paycli.config import Settings

HELP = "paycli: pay, refund and audit over an exact, double-entry SQLite ledger."

# A command starts afresh every run, and pydantic's plugin discovery reads every installed
# package's metadata (~30 ms) for plugins paycli does not use; an operator can still ask
# for them by setting the variable.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


class PaycliGroup(TyperGroup):
    """Turns usage errors into one line (or a JSON error object) and exit code 2."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        try:
            code = super().main(argv, prog_name or "paycli", complete_var,
                                standalone_mode=False,
                                windows_expand_args=windows_expand_args, **extra)
        except typer.TyperException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # `paycli wallet`: its help
                sys.stdout.write(exc.format_message() + "\n")
            elif exc.format_message().strip():  # empty when the help was shown instead
                report(exc.format_message(), "usage_error", "--json" in argv)
            code = exc.exit_code
        except typer.Abort:
            code = 130
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=PaycliGroup,
    name="paycli",
    help=HELP,
    no_args_is_help=True,
    rich_markup_mode=None,  # Click's plain help: paragraphs rewrapped, no Rich at start-up
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from paycli import __version__  # late: only --version needs it

        sys.stdout.write(f"paycli {__version__}\n")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    db: Annotated[str | None, typer.Option("--db", help="Ledger file (env PAYCLI_DB).")] = None,
    gateway_url: Annotated[
        str | None,
        typer.Option("--gateway-url", help="Card gateway base URL (env PAYCLI_GATEWAY_URL)."),
    ] = None,
    log_file: Annotated[
        str | None,
        typer.Option("--log-file", help="Write JSON log lines here (env PAYCLI_LOG_FILE)."),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks of internal errors.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", help="Print paycli's version and exit.",
                           callback=_print_version, is_eager=True)
    ] = False,
) -> None:
    """paycli: pay, refund and audit over an exact, double-entry SQLite ledger."""
    overrides = {"db": db, "gateway_url": gateway_url, "log_file": log_file}
    settings = Settings(overrides=overrides, data_dir=Path(typer.get_app_dir("paycli")))
    ctx.obj = State(settings, debug)


for group in (wallet, payments, batch, refunds, reconcile, audit, operations, guards, fixtures,
              database, tools):
    group.register(app)
