"""`webhooks deliveries | retry`: what was tried, and sending again now.

Invariants: a retry only makes a delivery due again (the next `deliver` sends it, under
its lease, with the same event id); it never sends by itself and never touches one
already delivered.
"""

from __future__ import annotations

from datetime import datetime

from paycli.errors import NotFound, RefusedInState
from paycli.records import DeliveryStatus
from paycli.results.webhooks import DeliveriesList, DeliveryEntry
from paycli.store import Reader, Store
from paycli.store import webhooks as rows


def entry(row: rows.DeliveryRow) -> DeliveryEntry:
    """A delivery row as listed."""
    return DeliveryEntry(delivery_id=row.id, endpoint_id=row.endpoint_id,
                         event_id=row.event_id, type=row.type,
                         status=DeliveryStatus(row.status), attempts=row.attempts,
                         last_status=row.last_status, next_at=row.next_at)


def listing(reader: Reader, endpoint_id: str | None, status: DeliveryStatus | None,
            limit: int) -> DeliveriesList:
    """Deliveries, newest event first, filtered."""
    return DeliveriesList(deliveries=[entry(row) for row in rows.deliveries(
        reader, endpoint_id=endpoint_id, status=status, limit=limit)])


def retry(store: Store, delivery_id: str | None, now: datetime) -> DeliveriesList:
    """Make one delivery (not yet delivered), or every dead one, due `now`."""
    stamp = now.isoformat(timespec="microseconds")
    with store.transaction() as tx:
        ids = rows.dead_ids(tx) if delivery_id is None else [_retriable(tx, delivery_id)]
        rows.retry(tx, ids, stamp)
        found = [rows.delivery(tx, one) for one in ids]
    return DeliveriesList(deliveries=[entry(row) for row in found if row is not None])


def _retriable(reader: Reader, delivery_id: str) -> str:
    row = rows.delivery(reader, delivery_id)
    if row is None:
        raise NotFound(f"no webhook delivery {delivery_id[:40]!r}")
    if row.status == DeliveryStatus.DELIVERED:
        raise RefusedInState(f"delivery {delivery_id} was already delivered")
    return delivery_id
