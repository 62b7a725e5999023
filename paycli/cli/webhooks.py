"""`paycli webhooks add | list | remove | deliver | deliveries | retry`: tell the merchant's
shop, signed and reliably, what happened to its payments."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from paycli.cli import inputs
from paycli.cli.common import JsonOption, command, emit, fail, open_existing, open_store
from paycli.cli.views import webhooks as views
from paycli.errors import DeliveriesFailed, UsageError
from paycli.records import DeliveryStatus
from paycli.webhooks import endpoints, repair
from paycli.webhooks.deliver import Deliverer, batch_for, system_clock
from paycli.webhooks.sender import TIMEOUT, Connections

webhooks_app = typer.Typer(help="Signed notifications of payments and refunds to the "
                                "merchant's endpoints, with retries.", no_args_is_help=True)
_ENDPOINT_ID = re.compile(r"whe_[0-9a-f]{24}")
_DELIVERY_ID = re.compile(r"whd_[0-9a-f]{24}")


def register(app: typer.Typer) -> None:
    """Add the `webhooks` group to the app."""
    app.add_typer(webhooks_app, name="webhooks")


def _id(text: str, shape: re.Pattern[str], what: str) -> str:
    if not shape.fullmatch(text):
        raise UsageError(f"invalid {what} id {text[:40]!r}: expected {shape.pattern[:4]} "
                         "and 24 hex digits")
    return text


@webhooks_app.command("add")
@command
def webhooks_add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="The endpoint, http:// or https://.")],
    events: Annotated[str | None, typer.Option(
        "--events", help="Event types or patterns, comma-separated (default: all).")] = None,
    allow_private: Annotated[bool, typer.Option(
        "--allow-private", help="Allow a private or loopback address.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Register a merchant endpoint for paycli's events and print its id and signing
    secret, once.

    Types: payment.completed, payment.failed, payment.refunded,
    payment.partially_refunded, refund.completed, refund.failed, wallet.credited. The
    endpoint hears of events from now on; the secret verifies the `webhook-signature`
    header (Standard Webhooks) and is never shown again.

    Example: paycli webhooks add https://shop.example/hooks --events 'payment.*'
    """
    checked = endpoints.check_url(url, allow_private)
    patterns = endpoints.parse_patterns(events)
    with open_store(ctx) as store:
        result = endpoints.add(store, checked, patterns)
    emit(result, json_output, views.endpoint_added)


@webhooks_app.command("list")
@command
def webhooks_list(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """List the active endpoints (never their secrets).

    Example: paycli webhooks list
    """
    with open_existing(ctx) as store:
        result = endpoints.listing(store)
    emit(result, json_output, views.endpoints_listed)


@webhooks_app.command("remove")
@command
def webhooks_remove(
    ctx: typer.Context,
    endpoint_id: Annotated[str, typer.Argument(help="The endpoint's id (whe_...).")],
    json_output: JsonOption = False,
) -> None:
    """Stop sending to an endpoint; its deliveries' history stays.

    Example: paycli webhooks remove whe_0123456789abcdef01234567
    """
    checked = _id(endpoint_id, _ENDPOINT_ID, "endpoint")
    with open_existing(ctx) as store:
        result = endpoints.remove(store, checked)
    emit(result, json_output, views.endpoint_removed)


@webhooks_app.command("deliver")
@command
def webhooks_deliver(
    ctx: typer.Context,
    follow: Annotated[bool, typer.Option(
        "--follow", help="Keep going as new events arrive (Ctrl-C stops).")] = False,
    concurrency: Annotated[int, typer.Option(
        "--concurrency", help="Requests in flight at once.")] = 16,
    timeout: Annotated[float, typer.Option(
        "--timeout", help="Seconds to wait for an endpoint's answer.")] = TIMEOUT,
    json_output: JsonOption = False,
) -> None:
    """Send every due delivery: new events since each endpoint's cursor, and failed ones
    whose retry time has come.

    In order per payment, at least once, signed. A non-2xx, a timeout or a refused
    connection is retried after 30 s, 2 min, 8 min, 32 min, ~2 h, ~8.5 h and 12 h (plus
    jitter); after 8 attempts or 3 days the delivery is dead. Several deliver processes
    may run at once. Exits 0 when nothing is left due, 8 when deliveries failed.

    Example: paycli webhooks deliver --follow
    """
    workers = inputs.positive_int(concurrency, "--concurrency", maximum=256)
    wait = inputs.seconds(timeout, "--timeout", maximum=60.0)
    if wait <= 0:
        raise UsageError("--timeout must be more than 0 seconds")
    with open_store(ctx) as store, Connections(wait) as http:
        result = Deliverer(store, http, concurrency=workers, batch=batch_for(workers),
                           timeout=wait).run(follow)
    if result.failed or result.dead:
        fail(result, DeliveriesFailed(f"{result.failed} deliveries failed (retried later), "
                                      f"{result.dead} dead"), json_output, views.delivered)
    emit(result, json_output, views.delivered)


@webhooks_app.command("deliveries")
@command
def webhooks_deliveries(
    ctx: typer.Context,
    endpoint_id: Annotated[str | None, typer.Option(
        "--endpoint", help="Only this endpoint's.")] = None,
    status: Annotated[str | None, typer.Option(
        "--status", help="pending, failed, dead or delivered.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many.")] = 50,
    json_output: JsonOption = False,
) -> None:
    """List deliveries, newest event first: status, attempts, last HTTP status, next try.

    Example: paycli webhooks deliveries --status dead
    """
    endpoint = None if endpoint_id is None else _id(endpoint_id, _ENDPOINT_ID, "endpoint")
    wanted = None if status is None else DeliveryStatus(
        inputs.choice(status, tuple(DeliveryStatus), "--status"))
    count = inputs.positive_int(limit, "--limit", maximum=10_000)
    with open_existing(ctx) as store, store.snapshot() as reader:
        result = repair.listing(reader, endpoint, wanted, count)
    emit(result, json_output, views.deliveries_listed)


@webhooks_app.command("retry")
@command
def webhooks_retry(
    ctx: typer.Context,
    delivery_id: Annotated[str | None, typer.Argument(help="The delivery (whd_...).")] = None,
    dead: Annotated[bool, typer.Option("--dead", help="Every dead delivery.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Make a delivery, or every dead one, due now: the next deliver sends it.

    Example: paycli webhooks retry --dead && paycli webhooks deliver
    """
    inputs.one_of({"DELIVERY_ID": delivery_id is not None, "--dead": dead})
    checked = None if delivery_id is None else _id(delivery_id, _DELIVERY_ID, "delivery")
    with open_existing(ctx) as store:
        result = repair.retry(store, checked, system_clock())
    emit(result, json_output, views.deliveries_listed)
