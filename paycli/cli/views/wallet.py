"""Views of `wallet credit`, `wallet balance` and `wallet history`."""

from __future__ import annotations

import sys

from paycli.cli.views.base import console, escaped, new_table
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
    """After `wallet history`."""
    if not result.entries:
        console().print(f"No movements for {result.user} in {result.currency}.")
        return
    table = new_table(f"Wallet {result.user} ({result.currency}), newest first")
    table.add_column("At")
    table.add_column("Type")
    table.add_column("Amount", justify="right")
    table.add_column("Balance", justify="right")
    table.add_column("Available", justify="right")
    table.add_column("Reference", overflow="fold")
    for entry in result.entries:
        table.add_row(entry.at[:19].replace("T", " "), entry.type, entry.amount,
                      entry.balance, entry.available, escaped(entry.reference))
    console().print(table)


