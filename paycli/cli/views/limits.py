"""View of `limits set | show`."""

from __future__ import annotations

from paycli.cli.views.base import console, escaped, new_table
from paycli.results.limits import LimitsList


def limits_shown(result: LimitsList) -> None:
    """After `limits set | show`: one row per scope and currency."""
    if not result.limits:
        console().print("No limits set: payments are bounded only by PAYCLI_MAX_AMOUNT.")
        return
    table = new_table("Limits (a wallet's own win over the default)")
    for name in ("Scope", "Currency", "Max amount", "Daily amount", "Daily count"):
        table.add_column(name, justify="left" if name in ("Scope", "Currency") else "right")
    for entry in result.limits:
        scope = "[bold]default[/]" if entry.is_default else escaped(entry.scope)
        table.add_row(scope, entry.currency, entry.max_amount or "—",
                      entry.daily_amount or "—",
                      "—" if entry.daily_count is None else str(entry.daily_count))
    console().print(table)
