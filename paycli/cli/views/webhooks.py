"""Views of `webhooks add | list | remove | deliver | deliveries | retry`."""

from __future__ import annotations

from paycli.cli.views.base import Column, console, escaped, print_table, when
from paycli.results.webhooks import (
    DeliveriesList,
    DeliverResult,
    EndpointAdded,
    EndpointRemoved,
    EndpointsList,
)


def endpoint_added(result: EndpointAdded) -> None:
    """After `webhooks add`: the id, and the secret with the warning that it is shown once."""
    out = console()
    out.print(f"Endpoint [bold]{result.endpoint_id}[/] → {escaped(result.url)} "
              f"({escaped(', '.join(result.events))})")
    out.print(f"Signing secret (shown once, keep it): {result.secret}")


def endpoints_listed(result: EndpointsList) -> None:
    """After `webhooks list`: one row per active endpoint."""
    if not result.endpoints:
        console().print("No webhook endpoints.")
        return
    print_table("Webhook endpoints", ENDPOINT_COLUMNS, [
        (entry.endpoint_id, entry.url, ", ".join(entry.events), str(entry.cursor),
         when(entry.created_at)) for entry in result.endpoints])


ENDPOINT_COLUMNS = (Column("Endpoint", whole=True), Column("URL", whole_words=True),
                    Column("Events"), Column("Cursor", right=True, drop=2),
                    Column("Added", whole=True, drop=1))


def endpoint_removed(result: EndpointRemoved) -> None:
    """After `webhooks remove`."""
    console().print(f"Endpoint {result.endpoint_id} removed ({escaped(result.url)}): no "
                    "further deliveries; its history stays.")


def delivered(result: DeliverResult) -> None:
    """After `webhooks deliver`: the attempts and how they ended."""
    console().print(f"Sent {result.sent}: {result.delivered} delivered, {result.failed} "
                    f"failed (retried later), {result.dead} dead.")


def deliveries_listed(result: DeliveriesList) -> None:
    """After `webhooks deliveries | retry`: one row per delivery."""
    if not result.deliveries:
        console().print("No deliveries.")
        return
    print_table("Webhook deliveries (newest event first)", DELIVERY_COLUMNS, [
        (entry.delivery_id, entry.endpoint_id, entry.event_id, entry.type,
         entry.status.value, str(entry.attempts),
         "—" if entry.last_status is None else str(entry.last_status),
         when(entry.next_at) if entry.next_at else "—") for entry in result.deliveries])


DELIVERY_COLUMNS = (Column("Delivery", whole=True), Column("Endpoint", whole=True, drop=3),
                    Column("Event", whole=True, drop=2), Column("Type", whole=True),
                    Column("Status", whole=True), Column("Attempts", right=True),
                    Column("HTTP", right=True, drop=4), Column("Next try", drop=1))
