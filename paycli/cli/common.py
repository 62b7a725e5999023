"""What every command module shares: the common options, the global state, the wrapper
that turns paycli's errors into one line (or a JSON error object) and an exit code, and
printing a result as JSON or through its human view.

A command module is loaded only when one of its commands runs (`cli.app`), so each
imports what it uses at its top, and loads nothing for the other commands.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from paycli.cli.views.base import print_error, print_json
from paycli.config import Settings, db_scheme
from paycli.errors import PaycliError, UsageError
from paycli.store import Store

if TYPE_CHECKING:
    from paycli.results.base import Result

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R", bound="Result")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object, nothing else.")]
UserOption = Annotated[
    str, typer.Option("--user", help="The user id (1-64 of A-Z a-z 0-9 _ . : -).")
]
CurrencyOption = Annotated[str, typer.Option("--currency", help="ISO 4217 code.")]
GatewayOption = Annotated[str | None, typer.Option(
    "--gateway", metavar="NAME", help="Send new payments to this configured gateway only "
                                      "(default: the first whose breaker lets a call through).")]
KeyOption = Annotated[
    str | None,
    typer.Option("--idempotency-key", help="Repeat-safe key: the same key and arguments act once."),
]
AmountOption = Annotated[str, typer.Option("--amount", help="Decimal amount in major units.")]


@dataclass(frozen=True)
class State:
    """What the global options set up for the command that runs."""

    settings: Settings
    debug: bool


def state_of(ctx: typer.Context) -> State:
    """The global state the root command stored."""
    state = ctx.find_root().obj
    assert isinstance(state, State)
    return state


def report(message: str, error_type: str, as_json: bool) -> None:
    """Print an error as one line on stderr, or as the JSON error object on stdout."""
    first_line = message.strip().splitlines()[0] if message.strip() else error_type
    if as_json:
        print_json({"error": {"type": error_type, "message": first_line}})
    else:
        print_error(first_line)


def command(func: F) -> F:
    """Run a command body, turning paycli's errors into their message and exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("json_output"))
        try:
            return func(*args, **kwargs)
        except PaycliError as exc:
            report(exc.message, exc.type, as_json)
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            report("interrupted", "interrupted", as_json)
            raise typer.Exit(130) from None
        except Exception as exc:
            ctx = kwargs.get("ctx")  # Click's own Context: never a `typer.Context` instance
            if ctx is not None and state_of(ctx).debug:
                raise
            report(f"internal error: {type(exc).__name__}: {exc}", "internal_error", as_json)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def open_store(ctx: typer.Context) -> Store:
    """The ledger named by `--db` / `PAYCLI_DB` / the default, created if it is not there
    (for the commands that put money in: a credit, a payment, a billing run)."""
    settings = state_of(ctx).settings
    return Store(settings.db, actor=settings.actor)


def open_writable(ctx: typer.Context, *, existing: bool = False) -> Store:
    """The ledger, for a command that draws its steps as it writes (`pay`, `refund`): one
    this user may only read is refused before the first step is drawn, as a credit is.
    With `existing`, a missing ledger is refused too (see `open_existing`)."""
    store = open_existing(ctx) if existing else open_store(ctx)
    try:
        store.refuse_if_read_only()
    except UsageError:
        store.close()
        raise
    return store


def open_existing(ctx: typer.Context) -> Store:
    """The ledger named by `--db`, for a command that reads it (or finishes what is in
    it): a mistyped path is refused, never made into a new, empty ledger (or folder)."""
    target = state_of(ctx).settings.db
    if db_scheme(target) is None and target != ":memory:" and not Path(target).exists():
        raise UsageError(f"no ledger at {target}; `paycli wallet credit` starts one")
    return open_store(ctx)


def emit(result: R, as_json: bool, view: Callable[[R], None]) -> None:
    """Print a result as JSON or through its human view."""
    if as_json:
        print_json(result.to_json())
    else:
        view(result)


def fail(result: R, error: PaycliError, as_json: bool, view: Callable[[R], None]) -> NoReturn:
    """Print a result that is also a failure (with its error), and exit with its code."""
    if as_json:
        print_json({**result.to_json(),
                          "error": {"type": error.type, "message": error.message}})
    else:
        view(result)
        print_error(error.message)
    raise typer.Exit(error.exit_code)


def usage(message: str) -> NoReturn:
    """Stop with a usage error (exit 2)."""
    raise UsageError(message)
