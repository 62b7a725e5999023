"""View of `fixtures load`."""

from __future__ import annotations

from paycli.cli.views.base import console, escaped, new_table
from paycli.results.fixtures import FixturesLoaded


def fixtures_loaded(result: FixturesLoaded) -> None:
    """After `fixtures load`: what was created, skipped and failed."""
    counts = (_count(result.wallets, "wallet") + " credited",
              _count(result.payments, "payment"), _count(result.refunds, "refund"))
    console().print(f"[green]✓[/] Loaded: {', '.join(counts)}; {result.skipped} skipped "
                    "(already loaded)")
    if not result.failures:
        return
    table = new_table(f"{result.failed} did not load")
    for name in ("Kind", "Order", "Why"):
        table.add_column(name, overflow="fold")
    for failure in result.failures:
        table.add_row(failure.kind, escaped(failure.entry), escaped(failure.error))
    console().print(table)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
