"""`paycli refunds list | resolve`."""

from __future__ import annotations

from typing import Annotated

import typer

from paycli.cli import completion, inputs
from paycli.cli.common import JsonOption, command, emit, open_existing, state_of
from paycli.cli.views import payments as views
from paycli.ledger import queries
from paycli.ledger.queries import resolved_refund
from paycli.saga.resolve import resolve_refund
from paycli.saga.wiring import saga_env

refunds_app = typer.Typer(help="List refunds; settle a stuck one by hand.",
                          no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `refunds` group to the app."""
    app.add_typer(refunds_app, name="refunds")


@refunds_app.command("list")
@command
def refunds_list(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option("--status", help="PENDING, PROCESSING, COMPLETED or FAILED.",
                                 autocompletion=completion.refund_statuses)
    ] = None,
    payment: Annotated[
        str | None, typer.Option("--payment", help="Only this payment's refunds (pay_...).",
                                 autocompletion=completion.payment_ids)
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="How many, newest first.")] = 50,
    json_output: JsonOption = False,
) -> None:
    """List refunds, newest first; `--status PROCESSING` shows the stuck ones.

    Example: paycli refunds list --status PROCESSING
    """
    status = None if status is None else inputs.refund_status(status)
    payment_id = None if payment is None else inputs.entity_id(payment, "pay")
    limit = inputs.positive_int(limit, "--limit")
    with open_existing(ctx) as store, store.snapshot() as reader:
        result = queries.list_refunds(reader, status=status, payment_id=payment_id,
                                      limit=limit)
    emit(result, json_output, views.refunds_list)


@refunds_app.command("resolve")
@command
def refunds_resolve(
    ctx: typer.Context,
    refund_id: Annotated[str, typer.Argument(help="The PROCESSING refund (ref_...).",
                                             autocompletion=completion.refund_ids)],
    refunded: Annotated[bool, typer.Option("--refunded", help="The gateway refunded it.")]
    = False,
    failed: Annotated[bool, typer.Option("--failed", help="The gateway did not.")] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why: what the gateway's support "
                                                         "or dashboard said.")] = "",
    json_output: JsonOption = False,
) -> None:
    """Settle a PROCESSING refund by hand: refunded credits the wallet, failed releases the
    reservation. Anything not PROCESSING is refused (exit 9).

    Example: paycli refunds resolve ref_0123456789abcdef01234567 --refunded --reason "seen"
    """
    refund_id = inputs.entity_id(refund_id, "ref")
    decision = inputs.one_of({"--refunded": refunded, "--failed": failed})
    why = inputs.required_reason(reason)
    with open_existing(ctx) as store:
        env = saga_env(store, state_of(ctx).settings)
        resolve_refund(env, refund_id, decision == "--refunded", why)
        result = resolved_refund(store.read, refund_id, why, store.actor)
    emit(result, json_output, views.refund_resolved)
