"""Views of `demo`: a heading per scenario and the closing summary."""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from paycli.cli.views.base import PIPED_WIDTH, console, fit_columns, new_table


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
    cells = [("", 1), ("Scenario", 24),
             ("Expected", max(len(r.expected) for r in results)),
             ("Got", max(len(r.got) for r in results)),
             ("Payment", max(len(r.payment_id or "") for r in results)),
             ("Balance", max(len(r.balance) for r in results))]
    shown = fit_columns(cells, ["Balance", "Expected"], console().width - 4)
    table = new_table("paycli demo: summary")
    for name, justify, wrap in (("", "left", False), ("Scenario", "left", True),
                                ("Expected", "left", True), ("Got", "left", True),
                                ("Payment", "left", False), ("Balance", "right", False)):
        if name in shown:
            table.add_column(name, justify=justify, no_wrap=not wrap)
    for result in results:
        mark = "[green]✓[/]" if result.ok else "[red]✗[/]"
        row = {"": mark, "Scenario": result.scenario, "Expected": result.expected,
               "Got": result.got, "Payment": result.payment_id or "", "Balance": result.balance}
        table.add_row(*(value for name, value in row.items() if name in shown))
    console().print()
    console().print(table)
    failed = sum(1 for result in results if not result.ok)
    if failed:
        console().print(f"[red bold]{failed} scenario(s) did not behave as expected.[/]")
    else:
        console().print(f"[green bold]All {len(results)} scenarios behaved as expected.[/]")
    if kept_at:
        console().print(f"The ledger is kept at {kept_at}.")
