"""The view of `top`: one screen of the live board, fitted to the terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from paycli.cli.views.base import when
from paycli.ledger.board import BUCKET_S, Board

SPARKS = " ▁▂▃▄▅▆▇█"
STATE_STYLES = {"closed": "green", "open": "bold red", "half-open": "yellow"}


def screen(board: Board, height: int) -> Any:
    """The board as one Rich renderable of at most `height` lines."""
    latency = board.latency
    rate = "-" if board.approval_rate is None else f"{board.approval_rate * 100:.1f} %"
    head = Text.from_markup(
        f"[bold]paycli top[/]  {board.throughput:.1f} payments/s  approval {rate}  "
        f"p50 {_ms(latency.p50)}  p99 {_ms(latency.p99)}  (q quits)")
    spark = Text.from_markup(
        f"settled per {BUCKET_S}s [green]{_spark(list(board.completed))}[/]\n"
        f"failed  per {BUCKET_S}s [red]{_spark(list(board.failed))}[/]")
    flight = Text.from_markup(
        f"in flight {board.in_flight}   stuck (PROCESSING > 10 min) "
        f"[{'bold red' if board.stuck else 'green'}]{board.stuck}[/]   breakers " + "  ".join(
            f"{name} [{STATE_STYLES.get(state, 'white')}]{state}[/]"
            for name, state in board.breakers))
    rows = max(height - 9, 1)
    failures = Table(title="latest failures", title_justify="left", box=None,
                     header_style="bold", pad_edge=False)
    failures.add_column("at", no_wrap=True)
    failures.add_column("payment", no_wrap=True, min_width=28)
    failures.add_column("reason", overflow="ellipsis", no_wrap=True)
    for failure in list(board.failures)[:rows]:
        failures.add_row(when(failure.at)[11:], failure.payment_id, failure.reason)
    return Group(head, spark, flight, Text(""), failures)


def _spark(values: list[int]) -> str:
    most = max(values, default=0)
    if not most:
        return SPARKS[0] * len(values)
    return "".join(SPARKS[round(value / most * (len(SPARKS) - 1))] for value in values)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"
