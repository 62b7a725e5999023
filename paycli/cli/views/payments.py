"""Views of repeated `pay` and `refund`, `payments list | show | resolve`, `refunds`."""

from __future__ import annotations

import shlex

from rich.markup import escape

from paycli.cli.views.base import (
    Column,
    console,
    escaped,
    print_table,
    status_markup,
    when,
)
from paycli.cli.views.units import duration, local_time
from paycli.records import PaymentStatus
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
        if result.status in _PAID:
            _already_paid(result)
        else:
            _not_paid(result)
        return
    console().print(f"[bold]already refunded:[/] {result.refund_id} of {result.payment_id} "
                    f"[bold]{result.status}[/] (no new refund)")
    console().print(f"  {result.amount} {result.currency}; payment {result.payment_status}, "
                    f"balance {result.balance} {result.currency}")


# Only money that reached the merchant may be called paid; a refund came after a payment.
_PAID = frozenset({PaymentStatus.COMPLETED, PaymentStatus.PARTIALLY_REFUNDED,
                   PaymentStatus.REFUNDED})


def _already_paid(result: PayResult) -> None:
    order = f"{escape(result.order_id)} → " if result.order_id else ""
    console().print(f"[bold]already paid:[/] {order}{result.payment_id} "
                    f"[bold]{result.status}[/] (no new charge)")
    console().print(f"  {escape(result.user)} paid {result.amount} {result.currency}; "
                    f"balance {result.balance} {result.currency}")


def _not_paid(result: PayResult) -> None:
    """A repeated order whose earlier payment failed or is still under way: say so, and
    what the operator can do, without calling it paid. Each command is on lines of its
    own, folded (if the terminal is narrow) only between options, with a shell's ` \\`
    at each break, so it pastes as one command."""
    order = escape(result.order_id) if result.order_id else "this request"
    console().print(f"[bold]not paid:[/] {order} was tried before as {result.payment_id}, "
                    f"which is [bold]{result.status}[/]; no new charge was sent")
    width = console().width
    for label, command in _next_steps(result):
        lines = shell_lines(command, width - 17)
        console().print(f"  {label + ':':<15}" + "\n                 ".join(lines),
                        markup=False, soft_wrap=True)


def shell_lines(parts: list[str], width: int) -> list[str]:
    """A command's parts (`--option value` kept together) on as few lines of `width` as
    they fit, each line but the last ending in ` \\` (one longer than the line keeps
    its own line)."""
    lines = [parts[0]]
    for part in parts[1:]:
        if len(lines[-1]) + 1 + len(part) + 2 <= width:
            lines[-1] += " " + part
        else:
            lines.append(part)
    return [line + " \\" for line in lines[:-1]] + lines[-1:]


def _next_steps(result: PayResult) -> list[tuple[str, list[str]]]:
    show = ["paycli payments show", str(result.payment_id)]
    if result.status != PaymentStatus.FAILED:
        return [("to finish it", ["paycli recover"]), ("to see it", show)]
    if result.order_id is None:
        return [("to try again", ["the same command with a new --idempotency-key"]),
                ("to see why", show)]
    retry = ["paycli pay", f"--user {shlex.quote(result.user)}",
             f"--amount {result.amount}", f"--currency {result.currency}",
             f"--order-id {shlex.quote(result.order_id)}", "--retry"]
    return [("to try again", retry), ("to see why", show)]


PAYMENT_COLUMNS = (
    Column("Created", whole=True, drop=2), Column("Payment", whole=True), Column("User"),
    Column("Amount", whole=True, right=True), Column("Status", whole=True, status=True),
    Column("Refunded", drop=1, right=True), Column("Gateway", drop=3))


def payments_list(result: PaymentsList) -> None:
    """After `payments list`: ids, amounts and statuses whole; on a narrow terminal the
    gateway, then the refunded amount, then the creation time, make room (and a long user
    id folds)."""
    if not result.payments:
        console().print("No payments match.")
        return
    print_table("Payments, newest first", PAYMENT_COLUMNS, [
        (local_time(p.created_at, seconds=False), p.payment_id, p.user,
         f"{p.amount} {p.currency}", str(p.status), p.refunded_amount, p.gateway)
        for p in result.payments])


def payment_show(result: PaymentShow) -> None:
    """After `payments show`: the payment, its refunds, its timeline, its saga's steps."""
    _payment_card(result)
    if result.refunds:
        _refunds_table(result.refunds)
    _timeline_table(result.events)
    if result.steps:
        _steps_table(result.steps)


def _payment_card(result: PaymentShow) -> None:
    currency = result.currency
    error = result.error
    print_table(f"Payment {result.payment_id}", (Column("Field", whole=True), Column("Value")), [
        ("Status", str(result.status)), ("User", result.user),
        ("Amount", f"{result.amount} {currency}"),
        ("Refunded", f"{result.refunded_amount} {currency}"),
        ("Refundable", f"{result.refundable_amount} {currency}"),
        ("Order", result.order_id), ("Gateway", result.gateway),
        ("Gateway ref", result.gateway_ref),
        ("Created", when(result.created_at)), ("Updated", when(result.updated_at)),
        ("Error", f"{error.type}: {error.message}" if error else ""),
        ("Attempts", _attempts(result)),
    ])


def _attempts(result: PaymentShow) -> str:
    """The order's attempts, oldest first, this one marked."""
    return ", ".join(f"{n}. {pid}{' (this one)' if pid == result.payment_id else ''}"
                     for n, pid in enumerate(result.attempts, 1))


def _refunds_table(refunds: list[RefundFields]) -> None:
    print_table("Refunds, oldest first", (
        Column("Created", whole=True, drop=1), Column("Refund", whole=True),
        Column("Amount", whole=True, right=True), Column("Status", whole=True, status=True),
        Column("Reason")), [
        (when(refund.created_at), refund.refund_id, f"{refund.amount} {refund.currency}",
         str(refund.status), refund.reason) for refund in refunds])


def _timeline_table(events: list[TimelineEvent]) -> None:
    """Event names are whole words (never split); the changes fold, and on a narrow terminal
    the actor, then the sequence number, are left out."""
    print_table("Timeline, oldest first", (
        Column("Seq", drop=2, right=True), Column("At", whole=True), Column("Event", whole=True),
        Column("Actor", drop=1), Column("Changes", whole_words=True)), [
        (str(event.seq), when(event.at), event.type, event.actor,
         " ".join(f"{key}={value}" for key, value in event.changes.items()
                  if value is not None)) for event in events])


def _steps_table(steps: list[StepRecord]) -> None:
    print_table("Saga steps", (
        Column("Step", whole=True), Column("Status", whole=True),
        Column("Attempts", right=True), Column("Duration", whole=True, right=True)), [
        (step.name, str(step.status), f"{step.attempts:,}", duration(step.duration_ms / 1000))
        for step in steps])


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
    """After `refunds list`: both ids and the status whole; the reason folds."""
    if not result.refunds:
        console().print("No refunds match.")
        return
    print_table("Refunds, newest first", (
        Column("Created", whole=True, drop=1), Column("Refund", whole=True),
        Column("Payment", whole=True), Column("Amount", whole=True, right=True),
        Column("Status", whole=True, status=True), Column("Reason", drop=2)), [
        (local_time(refund.created_at, seconds=False), refund.refund_id, refund.payment_id,
         f"{refund.amount} {refund.currency}", str(refund.status), refund.reason)
        for refund in result.refunds])
