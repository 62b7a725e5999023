"""Human views of results (Rich), and the JSON view. The only module that prints results.

Every view takes the same result dict that `--json` prints, so both always agree.
`NO_COLOR` is honoured by Rich itself.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


@cache
def console() -> Console:
    """The stdout console."""
    from rich.console import Console

    return Console(highlight=False)


@cache
def err_console() -> Console:
    """The stderr console."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def print_json(result: dict[str, Any]) -> None:
    """Print exactly one JSON object on stdout."""
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_error(message: str) -> None:
    """One line on stderr."""
    sys.stderr.write(f"Error: {message}\n")
    sys.stderr.flush()


def _table(title: str | None = None) -> Any:
    from rich.table import Table

    return Table(title=title, title_justify="left", header_style="bold")


def wallet_credit(result: dict[str, Any]) -> None:
    """After `wallet credit`."""
    console().print(
        f"[green]✓[/] Credited [bold]{result['amount']} {result['currency']}[/] to "
        f"{result['user']}: balance [bold]{result['balance']} {result['currency']}[/] "
        f"[dim]({result['transaction_id']})[/]"
    )


def wallet_balance(result: dict[str, Any]) -> None:
    """After `wallet balance`."""
    table = _table(f"Wallet {result['user']} ({result['currency']})")
    for column in ("balance", "available", "held"):
        table.add_column(column.capitalize(), justify="right")
    table.add_row(result["balance"], result["available"], result["held"])
    console().print(table)


def wallet_history(result: dict[str, Any]) -> None:
    """After `wallet history`."""
    if not result["entries"]:
        console().print(f"No movements for {result['user']} in {result['currency']}.")
        return
    table = _table(f"Wallet {result['user']} ({result['currency']}), newest first")
    table.add_column("At")
    table.add_column("Type")
    table.add_column("Amount", justify="right")
    table.add_column("Balance", justify="right")
    table.add_column("Available", justify="right")
    table.add_column("Reference", overflow="fold")
    for entry in result["entries"]:
        table.add_row(entry["at"][:19].replace("T", " "), entry["type"], entry["amount"],
                      entry["balance"], entry["available"], entry["reference"])
    console().print(table)


def recovered(result: dict[str, Any]) -> None:
    """After `recover`."""
    if not result["resolved"] and not result["unresolved"]:
        console().print("[green]✓[/] Nothing to recover: every payment and refund is final.")
        return
    table = _table("Recovery")
    table.add_column("Id")
    table.add_column("Status")
    table.add_column("Note")
    for entry in result["resolved"]:
        table.add_row(entry.get("refund_id") or entry["payment_id"], entry["status"], "resolved")
    for entry in result["unresolved"]:
        table.add_row(entry.get("refund_id") or entry["payment_id"],
                      f"[yellow]{entry['status']}[/]", entry.get("reason", ""))
    console().print(table)


def gateway_status(result: dict[str, Any]) -> None:
    """After `gateway status`."""
    style = {"closed": "green", "open": "red", "half-open": "yellow"}[result["state"]]
    opened = f", opened at {result['opened_at']}" if result["opened_at"] else ""
    console().print(f"Circuit breaker: [bold {style}]{result['state']}[/] "
                    f"({result['failures']} consecutive failures{opened})")
