"""View of `limits set | show`."""

from __future__ import annotations

from paycli.cli.views.base import Column, console, escaped, print_table
from paycli.results.limits import LimitEntry, LimitsList


def limits_changed(result: LimitsList, user: str | None, currency: str) -> None:
    """After `limits set`: what the scope's limits in that currency are now, in words."""
    who = "The default" if user is None else escaped(user)
    rules = [rule for entry in result.limits for rule in in_words(entry)]
    if rules:
        console().print(f"[green]✓[/] {who} in {currency} now: {', '.join(rules)}.")
    elif user is None:
        console().print(f"[green]✓[/] No default limits in {currency} now: payments are "
                        "bounded only by PAYCLI_MAX_AMOUNT (and wallets' own limits).")
    else:
        console().print(f"[green]✓[/] {who} has no limits of its own in {currency} now: "
                        "the default applies to it.")


def in_words(entry: LimitEntry) -> list[str]:
    """A scope's limits as an operator says them; none for a limit not set."""
    rules = []
    if entry.max_amount is not None:
        rules.append(f"at most {entry.max_amount} a payment")
    if entry.daily_amount is not None:
        rules.append(f"at most {entry.daily_amount} per UTC day")
    if entry.daily_count is not None:
        rules.append(f"at most {entry.daily_count} payments per UTC day")
    return rules


def limits_shown(result: LimitsList) -> None:
    """After `limits show`: one row per scope and currency that has a limit (a scope
    whose every limit was removed has no row: it would read as a row of dashes)."""
    result = LimitsList(limits=[entry for entry in result.limits if in_words(entry)])
    if not result.limits:
        console().print("No limits set: payments are bounded only by PAYCLI_MAX_AMOUNT.")
        return
    print_table("Limits (a wallet's own win over the default)", LIMIT_COLUMNS, [
        ("default" if entry.is_default else entry.scope, entry.currency,
         entry.max_amount or "—", entry.daily_amount or "—",
         "—" if entry.daily_count is None else str(entry.daily_count))
        for entry in result.limits])


LIMIT_COLUMNS = (Column("Scope", whole_words=True), Column("Currency", whole=True),
                 Column("Max amount", whole=True, right=True),
                 Column("Daily amount", whole=True, right=True),
                 Column("Daily count", whole=True, right=True))
