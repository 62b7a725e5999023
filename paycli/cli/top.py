"""`paycli top`: a live full-screen view of the shared ledger, refreshed every second.

Rich's `Live` on the alternate screen; the keyboard read in cbreak mode with `select`,
so `q` is seen at once without Enter. `q`, Ctrl-C and SIGTERM all leave through the same
`finally`, which gives the terminal back its settings and its main screen (exit 0).
"""

from __future__ import annotations

import contextlib
import select
import signal
import sys
import termios  # a POSIX terminal: `top` reads its keys in cbreak mode
import time
import tty
from collections.abc import Iterator
from typing import Any

import typer
from rich.live import Live

from paycli.cli.common import command, open_existing
from paycli.cli.views import top as views
from paycli.cli.views.base import console
from paycli.ledger.board import Board

REFRESH_S = 1.0


def register(app: typer.Typer) -> None:
    """Add `top` to the app."""
    app.command("top")(top)


@command
def top(ctx: typer.Context) -> None:
    """Watch the shared ledger live: throughput, approval, latency, stuck payments.

    A full-screen view of every process and host's work, refreshed every second and read
    incrementally by event number: throughput and approval sparklines over the last five
    minutes, gateway latency, payments in flight and stuck (PROCESSING over 10 minutes),
    each gateway's breaker and the latest failures with their reasons. A read-only
    ledger is enough. q or Ctrl-C leaves it (exit 0), the terminal restored.

    Example: paycli top
    """
    board = Board()
    with open_existing(ctx) as store, _keys() as pressed, _sigterm_as_interrupt():
        board.refresh(store)
        shown = console()
        with Live(views.screen(board, shown.height), console=shown, screen=True,
                  auto_refresh=False) as live, contextlib.suppress(KeyboardInterrupt):
            while not pressed(REFRESH_S):
                board.refresh(store)
                live.update(views.screen(board, shown.height), refresh=True)


@contextlib.contextmanager
def _keys() -> Iterator[Any]:
    """`pressed(wait_s)`: whether q was typed within `wait_s`; stdin in cbreak meanwhile."""
    try:
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)
    except (termios.error, OSError, ValueError):
        yield _wait  # no terminal to read keys from: Ctrl-C or SIGTERM ends it
        return

    def pressed(wait_s: float) -> bool:
        ready, _, _ = select.select([fd], [], [], wait_s)
        return bool(ready) and sys.stdin.read(1).lower() == "q"

    try:
        yield pressed
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _wait(wait_s: float) -> bool:
    time.sleep(wait_s)
    return False


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM leaves like Ctrl-C: through the `finally`s that restore the terminal."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
