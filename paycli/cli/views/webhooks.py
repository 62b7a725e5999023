"""Views of `webhooks add | list | remove | deliver | deliveries | retry`."""

from __future__ import annotations

from paycli.cli.views.base import console, escaped, new_table, when
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
    table = new_table("Webhook endpoints")
    for name in ("Endpoint", "URL", "Events", "Cursor", "Added"):  # an id is never wrapped
        table.add_column(name, justify="right" if name == "Cursor" else "left",
                         no_wrap=name == "Endpoint")
    for entry in result.endpoints:
        table.add_row(entry.endpoint_id, escaped(entry.url), escaped(", ".join(entry.events)),
                      str(entry.cursor), when(entry.created_at))
    console().print(table)


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
    table = new_table("Webhook deliveries (newest event first)")
    for name in ("Delivery", "Endpoint", "Event", "Type", "Status", "Attempts", "HTTP",
                 "Next try"):
        table.add_column(name, justify="right" if name in ("Attempts", "HTTP") else "left",
                         no_wrap=name == "Delivery")
    for entry in result.deliveries:
        table.add_row(entry.delivery_id, entry.endpoint_id, entry.event_id, entry.type,
                      entry.status.value, str(entry.attempts),
                      "—" if entry.last_status is None else str(entry.last_status),
                      when(entry.next_at) if entry.next_at else "—")
    console().print(table)
