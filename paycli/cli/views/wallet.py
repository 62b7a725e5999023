"""Views of `wallet credit`, `wallet balance` and `wallet history`."""

from __future__ import annotations

import sys

from paycli.cli.views.base import Column, console, print_table
from paycli.cli.views.units import local_time
from paycli.results.wallet import WalletBalance, WalletCredit, WalletHistory


def wallet_credit(result: WalletCredit) -> None:
    """After `wallet credit`."""
    console().print(
        f"[green]✓[/] Credited [bold]{result.amount} {result.currency}[/] to "
        f"{result.user}: balance [bold]{result.balance} {result.currency}[/] "
        f"[dim]({result.transaction_id})[/]"
    )


def wallet_balance(result: WalletBalance) -> None:
    """After `wallet balance`: three aligned lines, printed without Rich, because this is
    the command operators run most and its start-up time is kept near a bare Typer app's."""
    if not result.exists:
        sys.stdout.write(f"{result.user} has no {result.currency} wallet yet (balance 0): "
                         "`paycli wallet credit` opens one\n")
        return
    values = {"balance": result.balance, "available": result.available, "held": result.held}
    width = max(len(value) for value in values.values())
    lines = [f"Wallet {result.user} ({result.currency})"]
    lines += [f"  {name.capitalize():<10} {value:>{width}}" for name, value in values.items()]
    sys.stdout.write("\n".join(lines) + "\n")


def wallet_history(result: WalletHistory) -> None:
    """After `wallet history`: one line per movement of the balance, so the Amount column
    adds up to it; a hold shows as held (amount 0), not as a debit."""
    if not result.entries:
        console().print(f"No movements for {result.user} in {result.currency}.")
        return
    print_table(f"Wallet {result.user} ({result.currency}), newest first", (
        Column("At", whole=True, drop=3), Column("Type", whole=True),
        Column("Amount", whole=True, right=True), Column("Balance", whole=True, right=True),
        Column("Held", drop=2, right=True), Column("Available", drop=1, right=True),
        Column("Reference", whole=True)), [
        (local_time(entry.at, seconds=False), entry.type, entry.amount, entry.balance, entry.held,
         entry.available, entry.reference) for entry in result.entries])
