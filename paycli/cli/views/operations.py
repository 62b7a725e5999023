"""Views of `recover`, `gateway status | reset`, `replay-events` and `export`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from paycli.cli.views.base import console, escaped, new_table

if TYPE_CHECKING:
    from paycli import results

def recovered(result: results.RecoverReport) -> None:
    """After `recover`."""
    if not result.resolved and not result.unresolved and not result.settled_elsewhere:
        console().print("[green]✓[/] Nothing to recover: every payment and refund is final.")
        return
    table = new_table("Recovery")
    table.add_column("Id")
    table.add_column("Status")
    table.add_column("Note")
    for entry in result.resolved:
        table.add_row(entry.refund_id or entry.payment_id, entry.status, "resolved")
    for entry in result.settled_elsewhere:
        table.add_row(entry.refund_id or entry.payment_id, entry.status,
                      "settled meanwhile by another process (not by this recover)")
    for entry in result.unresolved:
        table.add_row(entry.refund_id or entry.payment_id,
                      f"[yellow]{entry.status}[/]", escaped(entry.reason))
    console().print(table)


def gateway_status(result: results.GatewayStatus) -> None:
    """After `gateway status`: the state, and when the next probe may go out."""
    style = {"closed": "green", "open": "red", "half-open": "yellow"}[result.state]
    opened = f", opened at {result.opened_at}" if result.opened_at else ""
    console().print(f"Circuit breaker: [bold {style}]{result.state}[/] "
                    f"({result.failures} consecutive failures{opened})")
    if result.probe_at is not None:
        console().print(f"{_probe_wait(result.probe_at)}; "
                        "`paycli gateway reset` closes it by hand.")


def _probe_wait(probe_at: str) -> str:
    wait = (datetime.fromisoformat(probe_at) - datetime.now(UTC)).total_seconds()
    return f"next probe allowed in {wait:.0f} s" if wait >= 1 else "probe allowed now"


def gateway_reset(result: results.GatewayStatus) -> None:
    """After `gateway reset`."""
    console().print(f"[green]✓[/] circuit breaker {result.state} "
                    f"({result.failures} consecutive failures)")


def replay_report(result: results.ReplayReport) -> None:
    """After `replay-events`: what agrees, every mismatch, and where the chain breaks."""
    if result.consistent and result.chain_ok:
        console().print(f"[green]✓[/] {result.events} events replayed: balances, holds, "
                        "transfers, payments and refunds agree with the log; hash chain intact.")
        return
    console().print(f"[red]✗[/] {result.events} events replayed.")
    if result.mismatches:
        table = new_table(f"{len(result.mismatches)} mismatches (stored tables vs event log)")
        for name in ("Entity", "Id", "Field", "Stored", "Replayed"):
            table.add_column(name, overflow="fold")
        for found in result.mismatches:
            table.add_row(*(escaped(value) for value in
                            (found.entity, found.id, found.field, found.stored, found.replayed)))
        console().print(table)
    if result.chain_break:
        console().print(f"[red]Hash chain broken at event {result.chain_break.seq}:[/] "
                        f"{escaped(result.chain_break.reason)}")


def exported(result: dict[str, Any]) -> None:
    """After `export --out FILE`."""
    console().print(f"[green]✓[/] Exported {result['records']} records "
                    f"({result['format']}) to {escaped(result['out'])}")




def backed_up(result: results.BackupResult) -> None:
    """After `backup`."""
    console().print(f"[green]✓[/] Backed up {result.events} events to {escaped(result.path)}: "
                    "the copy replays consistently and its hash chain is intact.")


def fixtures_loaded(result: results.FixturesLoaded) -> None:
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


def limits_shown(result: results.LimitsList) -> None:
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
