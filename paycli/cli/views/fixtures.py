"""View of `fixtures load`."""

from __future__ import annotations

from paycli.cli.views.base import Column, console, print_table
from paycli.cli.views.units import count
from paycli.results.fixtures import FixturesLoaded


def fixtures_loaded(result: FixturesLoaded) -> None:
    """After `fixtures load`: what was created, skipped and failed."""
    counts = (count(result.wallets, "wallet") + " credited",
              count(result.payments, "payment"), count(result.refunds, "refund"))
    console().print(f"[green]✓[/] Loaded: {', '.join(counts)}; {result.skipped:,} skipped "
                    "(already loaded)")
    if not result.failures:
        return
    print_table(f"{result.failed:,} did not load", (
        Column("Kind", whole=True), Column("Order", whole=True), Column("Why")), [
        (failure.kind, failure.entry, failure.error) for failure in result.failures])
