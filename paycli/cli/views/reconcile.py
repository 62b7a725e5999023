"""The view of `reconcile`: a summary, what was settled, then the breaks by kind, each
kind with what to do about it. `--json` is streamed from the run's spool, one break at a
time, so a report of any size prints in constant memory."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.padding import Padding

from paycli.cli.views.base import Column, console, escaped, print_table
from paycli.cli.views.units import count as counted
from paycli.records import BreakKind

if TYPE_CHECKING:
    from paycli.errors import PaycliError
    from paycli.results.base import Result
    from paycli.results.reconcile import ReconcileBreak, WebhookBreak
    from paycli.saga.reconcile import Reconciliation

SHOWN = 20  # rows of each kind in the human view; --json lists every one
ADVICE = {
    "resolvable": (
        "PROCESSING here, final at the gateway",
        "run the same reconcile with --apply to settle them as the report says"),
    "unresolved": (
        "not final here, nor at the gateway",
        "reconcile again once the gateway has settled them; if its support tells you the "
        "outcome, paycli payments resolve / refunds resolve; PENDING ones never "
        "reached the gateway: paycli recover"),
    "missing_in_ledger": (
        "the gateway moved money paycli has no record of",
        "look the external id up at the gateway; refund a charge nobody asked for there"),
    "missing_at_gateway": (
        "paycli has it done, the gateway has no such charge or refund",
        "check with the gateway before anything else: the customer may not have been "
        "charged (or refunded)"),
    "status_mismatch": (
        "both sides final, and they disagree",
        "check the gateway's dashboard; paycli never rewrites a final state, so the fix is "
        "a new payment or refund"),
    "amount_mismatch": (
        "the same charge or refund, another amount",
        "check the gateway's dashboard; nothing is settled while the amounts disagree"),
}
COLUMNS = (Column("Id", whole=True), Column("External id", whole=True, drop=2),
           Column("Ledger", whole=True), Column("Gateway", whole=True),
           Column("Line", whole=True, right=True, drop=1))


def reconciled(run: Reconciliation, error: PaycliError | None, as_json: bool) -> None:
    """After `reconcile`: JSON (streamed) or the human view; `error` when breaks are left."""
    if as_json:
        _stream_json(run, error)
        return
    _summary(run)
    _settled(run)
    for kind in ADVICE:
        count = run.counts().get(kind, 0)
        if count:
            _breaks(kind, count, run.spool.breaks(BreakKind(kind), SHOWN))


def _stream_json(run: Reconciliation, error: PaycliError | None) -> None:
    head = run.report(limit=0).to_json()
    del head["resolved"], head["breaks"]
    if error is not None:
        head["error"] = {"type": error.type, "message": error.message}
    out = sys.stdout
    out.write(json.dumps(head, ensure_ascii=False)[:-1])
    _stream_list(out, "resolved", run.spool.resolved())
    _stream_list(out, "breaks", run.spool.breaks())
    out.write("}\n")
    out.flush()


def _stream_list(out: object, name: str, items: Iterable[Result]) -> None:
    write = out.write  # type: ignore[attr-defined]
    write(f', "{name}": [')
    for number, item in enumerate(items):
        write((", " if number else "") + item.model_dump_json())
    write("]")


def _summary(run: Reconciliation) -> None:
    counts = run.counts()
    settled = run.spool.counts().get("resolved", 0)
    print_ = console().print
    print_(f"Reconciled {counted(run.lines, 'report line')} from {escaped(run.source)}")
    print_(f"  [green]✓[/] matched: {run.matched:,} (payments and refunds on which the "
           "ledger and the report agree)")
    if settled:
        print_(f"  [green]✓[/] settled from the report: {settled:,}")
    if run.settled_elsewhere:
        print_(f"  settled meanwhile by another process (not by this run): "
               f"{run.settled_elsewhere:,}")
    if not counts:
        print_("  [green]✓[/] no break left: the ledger and the gateway agree")
        return
    kinds = ", ".join(f"{count:,} {kind}" for kind, count in counts.items())
    print_(f"  [red]✗[/] {counted(sum(counts.values()), 'break')} ({kinds})")


def _settled(run: Reconciliation) -> None:
    resolved = list(run.spool.resolved(SHOWN))
    if not resolved:
        return
    print_table("Settled from the report", (
        Column("Id", whole=True), Column("Status", whole=True, status=True),
        Column("Line", whole=True, right=True)), [
        (entry.refund_id or entry.payment_id, entry.status, f"{entry.line:,}")
        for entry in resolved])
    _more(run.spool.counts().get("resolved", 0))


def _breaks(kind: str, count: int, breaks: Iterable[ReconcileBreak]) -> None:
    what, action = ADVICE[kind]
    rows = [_cells(found) for found in breaks]
    used = [i for i in range(len(COLUMNS)) if any(row[i] for row in rows)]
    print_table(f"{kind}: {count:,} — {what}", [COLUMNS[i] for i in used],
                [[row[i] for i in used] for row in rows])
    _more(count)
    console().print(Padding(f"→ {escaped(action)}", (0, 0, 1, 2)))


def _cells(found: ReconcileBreak) -> tuple[str, str, str, str, str]:
    ledger = " ".join(part for part in (found.ledger_status, found.ledger_amount) if part)
    gateway = " ".join(part for part in (found.gateway_status, found.gateway_amount) if part)
    return (found.refund_id or found.payment_id or "", found.external_id or "",
            ledger or "—", gateway or "—", str(found.line) if found.line else "")


def _more(count: int) -> None:
    if count > SHOWN:
        console().print(f"  … and {count - SHOWN:,} more: `--json` lists them all")


def webhook_breaks(breaks: list[WebhookBreak]) -> None:
    """The gateway's webhooks that contradicted a final state (kept by `listen`), one line
    each (ids whole at any width)."""
    if not breaks:
        return
    out = console()
    out.print(f"\n[bold]webhook breaks ({len(breaks)})[/]: the gateway's event contradicts a "
              "final state, which paycli never rewrites; check the gateway's dashboard")
    for found in breaks:
        out.print(f"  {escaped(found.webhook_id)}: the gateway says "
                  f"{escaped(found.gateway_status)} for {escaped(found.entity_id)}, "
                  f"which the ledger holds "
                  f"{escaped(found.ledger_status)} (received {escaped(found.received_at)})")
