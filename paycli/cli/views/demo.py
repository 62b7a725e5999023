"""Views of `demo`: a heading per scenario and the closing summary."""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from paycli.cli.views.base import PIPED_WIDTH, Column, console, print_table
from paycli.cli.views.units import count


def announce(text: str, outcome: str | None) -> None:
    """A scenario's heading (a rule on a terminal, a plain line when piped), and under it
    its `outcome` when no live panel follows: a heading never stands over nothing."""
    console().print()
    if console().width >= PIPED_WIDTH:
        console().print(f"== {text}", markup=False)
    else:
        console().rule(f"[bold]{escape(text)}[/]", align="left")
    if outcome is not None:
        console().print(f"  {escape(outcome)}")


def demo_summary(results: list[Any], kept_at: str | None) -> None:
    """The demo's closing table: scenario, expected, got, payment id, balance."""
    console().print()
    print_table("paycli demo: summary", (
        Column("", whole=True), Column("Scenario"), Column("Expected", drop=1),
        Column("Got"), Column("Payment", whole=True), Column("Balance", right=True, drop=2)), [
        ("✓" if result.ok else "✗", result.scenario, result.expected, result.got,
         result.payment_id, result.balance) for result in results])
    failed = sum(1 for result in results if not result.ok)
    if failed:
        console().print(f"[red bold]{count(failed, 'scenario')} did not behave as expected.[/]")
    else:
        console().print(f"[green bold]All {len(results)} scenarios behaved as expected.[/]")
    if kept_at:
        console().print(f"The ledger is kept at {kept_at}.")
