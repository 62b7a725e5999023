"""Views of repeated `pay` and `refund`, `payments list | show | resolve`, `refunds`."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.markup import escape

from paycli.cli.views.base import (
    console,
    escaped,
    fit_columns,
    new_table,
    status_markup,
    when,
)
from paycli.results.base import StepRecord
from paycli.results.payments import (
    PaymentResolved,
    PaymentShow,
    PaymentsList,
    PayResult,
    RefundFields,
    RefundResolved,
    RefundResult,
    RefundsList,
    TimelineEvent,
)


def already_done(result: PayResult | RefundResult) -> None:
    """A repeated pay or refund: the stored result, and that nothing moved again."""
    if isinstance(result, PayResult):
        order = f"{escape(result.order_id)} → " if result.order_id else ""
        console().print(f"[bold]already paid:[/] {order}{result.payment_id} "
                        f"[bold]{result.status}[/] (no new charge)")
        console().print(f"  {escape(result.user)} paid {result.amount} {result.currency}; "
                        f"balance {result.balance} {result.currency}")
        return
    console().print(f"[bold]already refunded:[/] {result.refund_id} of {result.payment_id} "
                    f"[bold]{result.status}[/] (no new refund)")
    console().print(f"  {result.amount} {result.currency}; payment {result.payment_status}, "
                    f"balance {result.balance} {result.currency}")


PAYMENT_COLUMNS = ("Created", "Payment", "User", "Amount", "Status", "Refunded")


def payments_list(result: PaymentsList) -> None:
    """After `payments list`: ids and amounts never wrap; on a narrow terminal the refunded
    amount, then the creation time, make room (and a long user id is cut with …)."""
    if not result.payments:
        console().print("No payments match.")
        return
    rows = [(when(p.created_at)[:16], p.payment_id, p.user, f"{p.amount} {p.currency}",
             str(p.status), p.refunded_amount) for p in result.payments]
    widest = [(name, 8 if name == "User" else max(len(name), *(len(row[i]) for row in rows)))
              for i, name in enumerate(PAYMENT_COLUMNS)]
    shown = fit_columns(widest, ["Refunded", "Created"], console().width)
    table = new_table("Payments, newest first")
    table.box, table.pad_edge = box.SIMPLE_HEAD, False  # no side borders
    for name in PAYMENT_COLUMNS:
        if name in shown:
            table.add_column(name, no_wrap=True, overflow="ellipsis",
                             justify="right" if name in ("Amount", "Refunded") else "left")
    for created, payment_id, user, amount, status, refunded in rows:
        cells = dict(zip(PAYMENT_COLUMNS, (created, payment_id, escaped(user), amount,
                                           status_markup(status), refunded), strict=True))
        table.add_row(*(cells[name] for name in PAYMENT_COLUMNS if name in shown))
    console().print(table)


def payment_show(result: PaymentShow) -> None:
    """After `payments show`: the payment, its refunds, its timeline, its saga's steps."""
    console().print(_payment_card(result))
    if result.refunds:
        console().print(_refunds_table(result.refunds))
    console().print(_timeline_table(result.events))
    if result.steps:
        console().print(_steps_table(result.steps))


def _payment_card(result: PaymentShow) -> Any:
    currency = result.currency
    table = new_table(f"Payment {result.payment_id}")
    table.add_column("Field")
    table.add_column("Value", overflow="fold")
    error = result.error
    for name, value in (
        ("Status", status_markup(result.status)), ("User", escaped(result.user)),
        ("Amount", f"{result.amount} {currency}"),
        ("Refunded", f"{result.refunded_amount} {currency}"),
        ("Refundable", f"{result.refundable_amount} {currency}"),
        ("Order", escaped(result.order_id)), ("Gateway ref", escaped(result.gateway_ref)),
        ("Created", when(result.created_at)), ("Updated", when(result.updated_at)),
        ("Error", escaped(f"{error.type}: {error.message}") if error else ""),
        ("Attempts", _attempts(result)),
    ):
        table.add_row(name, value)
    return table


def _attempts(result: PaymentShow) -> str:
    """The order's attempts, oldest first, this one marked."""
    return ", ".join(f"{n}. {pid}{' (this one)' if pid == result.payment_id else ''}"
                     for n, pid in enumerate(result.attempts, 1))


def _refunds_table(refunds: list[RefundFields]) -> Any:
    table = new_table("Refunds, oldest first")
    for name in ("Created", "Refund", "Amount", "Status", "Reason"):
        table.add_column(name, overflow="fold")
    for refund in refunds:
        table.add_row(when(refund.created_at), refund.refund_id,
                      f"{refund.amount} {refund.currency}", status_markup(refund.status),
                      escaped(refund.reason))
    return table


def _timeline_table(events: list[TimelineEvent]) -> Any:
    table = new_table("Timeline, oldest first")
    for name in ("Seq", "At", "Event", "Actor", "Changes"):
        table.add_column(name, overflow="fold")
    for event in events:
        changes = " ".join(f"{key}={value}" for key, value in event.changes.items()
                           if value is not None)
        table.add_row(str(event.seq), when(event.at), event.type, escaped(event.actor),
                      escaped(changes))
    return table


def _steps_table(steps: list[StepRecord]) -> Any:
    table = new_table("Saga steps")
    table.add_column("Step")
    table.add_column("Status")
    table.add_column("Attempts", justify="right")
    table.add_column("Duration", justify="right")
    for step in steps:
        table.add_row(step.name, str(step.status), str(step.attempts),
                      f"{step.duration_ms:.1f} ms")
    return table


def payment_resolved(result: PaymentResolved) -> None:
    """After `payments resolve`."""
    console().print(f"[green]✓[/] {result.payment_id} resolved by hand: "
                    f"{status_markup(result.status)}, {result.amount} {result.currency} "
                    f"({'hold posted' if result.status == 'COMPLETED' else 'hold released'})")
    console().print(f"  by {escaped(result.actor)}: {escaped(result.reason)}")


def refund_resolved(result: RefundResolved) -> None:
    """After `refunds resolve`."""
    done = "wallet credited" if result.status == "COMPLETED" else "reservation released"
    console().print(f"[green]✓[/] {result.refund_id} resolved by hand: "
                    f"{status_markup(result.status)}, {result.amount} {result.currency} ({done}); "
                    f"payment {result.payment_id} is {result.payment_status}")
    console().print(f"  by {escaped(result.actor)}: {escaped(result.reason)}")


def refunds_list(result: RefundsList) -> None:
    """After `refunds list`."""
    if not result.refunds:
        console().print("No refunds match.")
        return
    table = new_table("Refunds, newest first")
    table.box, table.pad_edge = box.SIMPLE_HEAD, False
    for name in ("Refund", "Payment", "Amount", "Status", "Reason"):
        table.add_column(name, no_wrap=name != "Reason",
                         justify="right" if name == "Amount" else "left")
    for refund in result.refunds:
        table.add_row(refund.refund_id, refund.payment_id,
                      f"{refund.amount} {refund.currency}", status_markup(refund.status),
                      escaped(refund.reason))
    console().print(table)
