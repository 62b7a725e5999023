"""The `paycli` Typer app: the global options, usage errors as one line, and the commands,
each loaded from its module only when it is run (or its own help is asked for).

Start-up is kept near a bare Typer app's by this one mechanism, Click's lazy subcommand
loading, and by no other: `COMMANDS` names every command, the module under `paycli.cli`
that defines it, and the line `paycli --help` shows beside it. The root group's
`commands` is a `LazyCommands` mapping: every name is in it from the start (listing,
`paycli --help` and Typer's did-you-mean read the names alone), and a module is imported
the first time one of its commands is looked up. So `paycli --help` imports no command
module, and `wallet balance` imports `cli.wallet` and what that uses, nothing else. Each
command module offers `register(app)`, which adds its commands to a Typer app; every
other import in paycli stands at the top of its module. A test keeps the table's help
lines equal to the commands' own.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from collections.abc import Iterator, MutableMapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core
import typer.main

# Typer's own Click (vendored): the command type, the error of a missing argument.
from typer._click import Command
from typer._click.exceptions import MissingParameter
from typer.core import TyperGroup

from paycli import __version__
from paycli.cli.common import State, report
from paycli.cli.helptext import plain_help, plain_own_help
from paycli.config import Settings
from paycli.errors import PaycliError
from paycli.logs import JsonLog

HELP = """paycli: pay, refund and audit over an exact, double-entry SQLite ledger.

Example: paycli --db ~/ledger.db wallet credit --user alice --amount 100"""

# Every command in the order `paycli --help` lists it: (its module under paycli.cli, the
# one line shown beside it, which is the first sentence of its help).
COMMANDS: dict[str, tuple[str, str]] = {
    "pay": ("payments", "Pay from a wallet through the card gateway, showing each step live."),
    "refund": ("payments", "Give money back for a completed payment, fully or in part."),
    "batch": ("batch", "Pay every row of a file: a billing run."),
    "reconcile": ("reconcile", "Match every payment and refund against the gateway's "
                               "settlement report and list the breaks: missing_in_ledger, "
                               "missing_at_gateway, status_mismatch, amount_mismatch, "
                               "resolvable (PROCESSING here, final in the report) and "
                               "unresolved."),
    "replay-events": ("replay", "Rebuild every balance, hold, transfer, payment and refund "
                                "from the event log alone, compare with the stored tables, "
                                "and verify the hash chain from the first event."),
    "export": ("export", "Export payments, refunds and ledger transfers for accounting, as "
                         "CSV or JSON lines."),
    "recover": ("recover", "Finish payments and refunds interrupted by a crash, from what "
                           "the gateway knows."),
    "backup": ("backup", "Copy a SQLite ledger while other paycli processes keep working, "
                         "then replay and verify the copy before reporting success."),
    "bench": ("bench", "Measure payments per second and latency, next to the raw limits of "
                       "this machine."),
    "demo": ("demo", "Run the seed system's scenarios end to end against a mock gateway it "
                     "starts itself."),
    "schema": ("schema", "Print the JSON Schema of a command's --json output."),
    "wallet": ("wallet", "Credit wallets and read balances and statements."),
    "payments": ("payments", "List payments; show one with its refunds and its timeline."),
    "refunds": ("refunds", "List refunds; settle a stuck one by hand."),
    "gateway": ("gateway", "The shared circuit breaker in front of the card gateway."),
    "limits": ("limits", "Limits per wallet or for all: single amount, daily amount and "
                         "count."),
    "fixtures": ("fixtures", "Load a known set of wallets, payments and refunds."),
    "db": ("database", "Move a ledger between files and PostgreSQL."),
    "events": ("events", "The event log: every change of the ledger, in order."),
    "metrics": ("metrics", "Serve the ledger's figures as Prometheus metrics on GET "
                           "/metrics."),
    "top": ("top", "Watch the shared ledger live: throughput, approval, latency, stuck "
                   "payments."),
    "stats": ("stats", "Show the window's payments, approval rate, volume, gateway latency "
                       "and declines."),
    "webhooks": ("webhooks", "Signed notifications of payments and refunds to the "
                             "merchant's endpoints, with retries."),
    "listen": ("listen", "Receive the card gateway's signed webhooks and settle payments "
                         "and refunds from them."),
}

# A command starts afresh every run, and pydantic's plugin discovery reads every installed
# package's metadata (~30 ms) for plugins paycli does not use; an operator can still ask
# for them by setting the variable.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


class LazyCommands(MutableMapping[str, Command]):
    """The root's commands by name: every name of `COMMANDS` is there from the start, and
    a command's module is imported the first time the command itself is looked up."""

    def __init__(self) -> None:
        self.loaded: dict[str, Command] = {}

    def __getitem__(self, name: str) -> Command:
        if name not in self.loaded and name in COMMANDS:
            self.loaded.update(load_commands(COMMANDS[name][0]))
        return self.loaded[name]

    def __contains__(self, name: object) -> bool:
        return name in COMMANDS or name in self.loaded

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*COMMANDS, *self.loaded]))

    def __len__(self) -> int:
        return len(dict.fromkeys([*COMMANDS, *self.loaded]))

    def __setitem__(self, name: str, command: Command) -> None:
        self.loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self.loaded[name]


class PaycliGroup(TyperGroup):
    """The root command: its commands load lazily (see the module docstring); usage errors
    become one line (or a JSON error object) and exit code 2."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands()
        plain_own_help(self)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # the names alone: listing loads no module

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        with formatter.section("Commands"):  # each line whole, folded to the width
            formatter.write_dl([(name, line) for name, (_, line) in COMMANDS.items()])

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        if args is None:  # run as a program, not called from a test
            end_quietly_on_closed_pipe()
        argv = list(sys.argv[1:] if args is None else args)
        try:
            code = super().main(argv, prog_name or "paycli", complete_var,
                                standalone_mode=False,
                                windows_expand_args=windows_expand_args, **extra)
        except typer.TyperException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # `paycli wallet`: its help
                sys.stdout.write(exc.format_message() + "\n")
            elif exc.format_message().strip():  # empty when the help was shown instead
                show_usage_of_missing(exc, "--json" in argv)
                report(exc.format_message(), "usage_error", "--json" in argv)
            code = exc.exit_code
        except typer.Abort:
            code = 130
        except PaycliError as exc:  # from the global options, before any command ran
            report(exc.message, exc.type, "--json" in argv)
            code = exc.exit_code
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


def show_usage_of_missing(exc: Exception, as_json: bool) -> None:
    """Before `Missing argument 'PAYMENT_ID'`, the usage line that says where it goes."""
    if (isinstance(exc, MissingParameter) and isinstance(exc.param, typer.core.TyperArgument)
            and exc.ctx is not None and not as_json):
        sys.stderr.write(exc.ctx.get_usage() + "\n")


def end_quietly_on_closed_pipe() -> None:
    """A reader that goes away (`paycli payments list | head -1`) ends paycli as it ends
    `cat`: killed by SIGPIPE at its next write, no message, status 141 in the shell.

    Python ignores SIGPIPE and raises BrokenPipeError instead, which Rich turns into exit 1
    and a command could mistake for a bug; the default action stops every command the same
    way, mid-table or mid-progress. What it cuts short is left as a crash leaves it: a write
    transaction rolled back, a payment in flight for `recover` to finish."""
    if hasattr(signal, "SIGPIPE"):  # not on Windows
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def load_commands(module: str) -> dict[str, Any]:
    """The Click commands that `paycli.cli.<module>` registers, built as Typer builds them
    for the root app (plain Click help, no Rich)."""
    holder = typer.Typer(rich_markup_mode=None)
    importlib.import_module(f"paycli.cli.{module}").register(holder)
    commands = dict(typer.main.get_group(holder).commands)
    for loaded in commands.values():
        plain_help(loaded)
    return commands


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
        sys.stdout.write(f"paycli {__version__}\n")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    db: Annotated[str | None, typer.Option(
        "--db", metavar="PATH|URL",
        help="The ledger: a SQLite file, or a postgresql://USER@HOST/DB URL (env PAYCLI_DB).",
    )] = None,
    gateway_url: Annotated[
        str | None,
        typer.Option("--gateway-url", metavar="URL",
                     help="Card gateway base URL (env PAYCLI_GATEWAY_URL)."),
    ] = None,
    log_file: Annotated[
        str | None,
        typer.Option("--log-file", metavar="FILE",
                     help="Write JSON log lines here (env PAYCLI_LOG_FILE)."),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks of internal errors.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", help="Print paycli's version and exit.",
                           callback=_print_version, is_eager=True)
    ] = False,
) -> None:
    """paycli: pay, refund and audit over an exact, double-entry SQLite ledger.

    Example: paycli --db ~/ledger.db wallet credit --user alice --amount 100
    """
    overrides = {"db": db, "gateway_url": gateway_url, "log_file": log_file}
    settings = Settings(overrides=overrides, data_dir=Path(typer.get_app_dir("paycli")))
    JsonLog(settings.log_file).close()  # a bad --log-file is refused by every command alike
    ctx.obj = State(settings, debug)
