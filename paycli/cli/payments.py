"""`paycli pay`, `paycli refund`, `paycli payments list | show`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from paycli.cli import completion, inputs, live
from paycli.cli.common import (
    AmountOption,
    CurrencyOption,
    GatewayOption,
    JsonOption,
    KeyOption,
    UserOption,
    command,
    emit,
    open_existing,
    open_writable,
    report,
    state_of,
    usage,
)
from paycli.cli.views import gateway as gateway_views
from paycli.cli.views import payments as views
from paycli.cli.views.base import print_error, print_json
from paycli.errors import BreakerOpen
from paycli.gateway.routes import route_named
from paycli.ledger import queries
from paycli.ledger.queries import resolved_payment
from paycli.saga import pay as saga
from paycli.saga import refund as refunds
from paycli.saga.interrupt import left_behind
from paycli.saga.resolve import resolve_payment
from paycli.saga.wiring import breaker_status, saga_env

if TYPE_CHECKING:
    from paycli.results.gateway import GatewayStatus
    from paycli.saga.core import Outcome
    from paycli.store import Store

payments_app = typer.Typer(help="List payments; show one with its refunds and its timeline.",
                           no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `pay`, `refund` and the `payments` group to the app."""
    app.command()(pay)
    app.command()(refund)
    app.add_typer(payments_app, name="payments")


def _finish(outcome: Outcome, reporter: live.Reporter, as_json: bool,
            breaker: Callable[[], GatewayStatus]) -> None:
    reporter.finish(outcome.result, outcome.error)
    if as_json:
        print_json(outcome.result.to_json())
    elif outcome.replayed:
        views.already_done(outcome.result)
    if not as_json and outcome.error is not None:
        next_step = (f"; {gateway_views.breaker_next_step(breaker())}"
                     if isinstance(outcome.error, BreakerOpen) else "")
        print_error(outcome.error.message + next_step)
    if outcome.error is not None:
        raise typer.Exit(outcome.error.exit_code)


def _interrupted(store: Store, reporter: live.Reporter, as_json: bool) -> NoReturn:
    """Ctrl-C: stop drawing, say what was left and what finishes it, exit 130."""
    left = left_behind(store, reporter.details)
    reporter.interrupted(left)
    report(left, "interrupted", as_json)
    raise typer.Exit(130)


@command
def pay(
    ctx: typer.Context,
    user: UserOption,
    amount: AmountOption,
    currency: CurrencyOption = "USD",
    order_id: Annotated[
        str | None, typer.Option("--order-id", help="Your order id; paying it twice charges once.")
    ] = None,
    idempotency_key: KeyOption = None,
    wait: Annotated[
        float, typer.Option("--wait", help="Seconds to wait for a pending charge to settle.")
    ] = 30.0,
    retry: Annotated[bool, typer.Option(
        "--retry", help="With --order-id: a new attempt if every attempt of the order FAILED "
                        "(never for one PROCESSING or COMPLETED).")] = False,
    gateway: GatewayOption = None,
    json_output: JsonOption = False,
) -> None:
    """Pay from a wallet through the card gateway, showing each step live.

    Steps: CheckWalletBalance, CreatePayment, ReserveFunds (a hold; these three in one
    transaction, so a refusal writes nothing), ProcessPayment (the gateway, with retries
    and a shared circuit breaker), SettlePayment.

    Paying an order id again returns its latest attempt (same exit code) and charges
    nothing. If that attempt FAILED, --retry makes a new attempt (a new payment, key
    order:ID#N); an order with a PROCESSING (exit 10) or COMPLETED (exit 0) attempt is
    never charged again. `payments show` lists an order's attempts.

    With several gateways (PAYCLI_GATEWAYS) the payment goes to the first whose breaker
    lets a call through, or to --gateway NAME; it moves to the next one only when nothing
    could have reached its own (connection refused, breaker open), never once a charge may
    have arrived. The ProcessPayment step names the gateway that took the charge.

    Example: paycli pay --user alice --amount 50 --order-id order-001 [--retry]
    """
    settings = state_of(ctx).settings
    if gateway is not None:
        route_named(settings, gateway)  # an unknown name: exit 2 before anything is written
    code = inputs.currency_code(currency)
    request = saga.PayRequest(
        user=inputs.user_id(user), money=inputs.amount(amount, code, settings.max_amount),
        order_id=inputs.order_id(order_id), idempotency_key=inputs.idempotency_key(idempotency_key),
        wait_s=inputs.seconds(wait, "--wait"), retry=_retry(retry, order_id, idempotency_key),
    )
    with open_writable(ctx) as store, live.reporter_for("Payment", json_output) as reporter:
        env = saga_env(store, settings, only=gateway)
        try:
            outcome = saga.pay(env, request, reporter)
        except KeyboardInterrupt:
            _interrupted(store, reporter, json_output)
        finally:
            env.close()
        _finish(outcome, reporter, json_output, lambda: breaker_status(store, settings))


def _retry(retry: bool, order_id: str | None, idempotency_key: str | None) -> bool:
    """--retry needs an order, whose attempts make their own keys."""
    if retry and (order_id is None or idempotency_key is not None):
        usage("--retry needs --order-id and makes the attempt's key itself "
                           "(leave out --idempotency-key)")
    return retry


@command
def refund(
    ctx: typer.Context,
    payment_id: Annotated[str, typer.Argument(help="The payment to refund (pay_...).",
                                              autocompletion=completion.payment_ids)],
    amount: Annotated[
        str | None, typer.Option("--amount", help="Partial amount; default: all that is left.")
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why, for the gateway and the log.")] = "",
    idempotency_key: KeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Give money back for a completed payment, fully or in part.

    Example: paycli refund pay_0123456789abcdef01234567 --amount 10 --reason "damaged"
    """
    settings = state_of(ctx).settings
    request = refunds.RefundRequest(
        payment_id=inputs.entity_id(payment_id, "pay"),
        amount=inputs.amount_text(amount), reason=inputs.reason(reason),
        idempotency_key=inputs.idempotency_key(idempotency_key),
    )
    with open_writable(ctx, existing=True) as store, \
            live.reporter_for("Refund", json_output) as reporter:
        env = saga_env(store, settings)
        try:
            outcome = refunds.refund(env, request, reporter, settings.max_amount)
        except KeyboardInterrupt:
            _interrupted(store, reporter, json_output)
        finally:
            env.close()
        _finish(outcome, reporter, json_output, lambda: breaker_status(store, settings))


def _optional(check: Callable[[str], str], value: str | None) -> str | None:
    return None if value is None else check(value)


@payments_app.command("list")
@command
def payments_list(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's payments.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="PENDING, PROCESSING, COMPLETED, FAILED, "
                                                  "PARTIALLY_REFUNDED or REFUNDED.",
                                 autocompletion=completion.payment_statuses)
    ] = None,
    currency: Annotated[str | None, typer.Option("--currency", help="ISO 4217 code.")] = None,
    since: Annotated[
        str | None, typer.Option("--since",
                                 help="Created at or after (ISO 8601; UTC if no offset).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Created before (a bare date: to its end).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="How many, newest first.")] = 50,
    gateway: Annotated[str | None, typer.Option(
        "--gateway", metavar="NAME", help="Only payments charged at this gateway.")] = None,
    json_output: JsonOption = False,
) -> None:
    """List payments, newest first, with their refunds.

    Filters combine. --since and --until take an ISO 8601 date or date-time; a time without
    an offset is UTC, and a bare --until date includes that whole day.

    Example: paycli payments list --user alice --status COMPLETED --since 2024-05-01
    """
    user, status = _optional(inputs.user_id, user), _optional(inputs.payment_status, status)
    currency = _optional(inputs.currency_code, currency)
    since = None if since is None else inputs.instant(since, "--since")
    until = None if until is None else inputs.instant(until, "--until", end_of_day=True)
    limit = inputs.positive_int(limit, "--limit")
    with open_existing(ctx) as store, store.snapshot() as reader:
        result = queries.list_payments(reader, user=user, status=status, currency=currency,
                                       since=since, until=until, limit=limit, gateway=gateway)
    emit(result, json_output, views.payments_list)


@payments_app.command("show")
@command
def payments_show(
    ctx: typer.Context,
    payment_id: Annotated[str, typer.Argument(help="The payment to show (pay_...).",
                                              autocompletion=completion.payment_ids)],
    json_output: JsonOption = False,
) -> None:
    """Show one payment: its fields, its refunds, and its timeline of events oldest first,
    with each saga step's duration and gateway attempts. Exits 7 if there is no such payment.

    Example: paycli payments show pay_0123456789abcdef01234567
    """
    payment_id = inputs.entity_id(payment_id, "pay")
    with open_existing(ctx) as store, store.snapshot() as reader:
        result = queries.show_payment(reader, payment_id)
    emit(result, json_output, views.payment_show)


@payments_app.command("resolve")
@command
def payments_resolve(
    ctx: typer.Context,
    payment_id: Annotated[str, typer.Argument(help="The PROCESSING payment (pay_...).",
                                              autocompletion=completion.payment_ids)],
    approved: Annotated[bool, typer.Option("--approved", help="The gateway charged it.")]
    = False,
    declined: Annotated[bool, typer.Option("--declined", help="The gateway did not.")]
    = False,
    reason: Annotated[str, typer.Option("--reason", help="Why: what the gateway's support "
                                                         "or dashboard said.")] = "",
    gateway_ref: Annotated[
        str | None, typer.Option("--gateway-ref", help="The gateway's reference, if known.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Settle a PROCESSING payment by hand, from what the gateway's support or dashboard
    says: approved posts the hold (COMPLETED), declined releases it (FAILED).

    Anything not PROCESSING is refused (exit 9); the event records the reason and who
    acted (PAYCLI_ACTOR or the OS user).

    Example: paycli payments resolve pay_0123456789abcdef01234567 --declined --reason "no charge"
    """
    payment_id = inputs.entity_id(payment_id, "pay")
    decision = inputs.one_of({"--approved": approved, "--declined": declined})
    why = inputs.required_reason(reason)
    ref = inputs.idempotency_key(gateway_ref)
    with open_existing(ctx) as store:
        env = saga_env(store, state_of(ctx).settings)
        resolve_payment(env, payment_id, decision == "--approved", why, ref)
        result = resolved_payment(store.read, payment_id, why, store.actor)
    emit(result, json_output, views.payment_resolved)
