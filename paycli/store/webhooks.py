"""The rows of merchant webhooks: endpoints, their deliveries, and the lease that lets one
`deliver` process at a time send a delivery.

Every change is written inside the caller's transaction with its event (`webhook.*`,
entity the endpoint or the delivery, actor the transaction's), so the event log tells
who added, removed, sent, gave up on or retried what. Times are ISO 8601 UTC strings
given by the caller (the deliverer's clock, which tests replace), compared as text.

Invariants:
- A secret is written once, read only to sign, and never put in an event.
- A delivery is claimed only when it is due, its lease is free or expired, its endpoint
  is not removed, and no earlier delivery of the same endpoint and `order_key` is still
  to be sent: the events of one payment go out in order, one at a time.
- An outcome is recorded only by the lease's holder; a process that lost its lease
  writes nothing (the new holder sends again: at least once, same event id).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from paycli.records import DeliveryStatus, Event
from paycli.store.reads import Reader
from paycli.store.writes import Tx

ENDPOINT_COLUMNS = "id, url, events, cursor, created_at, removed_at"
DELIVERY_COLUMNS = ("id, endpoint_id, event_seq, event_id, type, order_key, status, attempts, "
                    "last_status, next_at, created_at, updated_at")
OPEN = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)


class EndpointRow(NamedTuple):
    """An endpoint as listed (no secret)."""

    id: str
    url: str
    events: str
    cursor: int
    created_at: str
    removed_at: str | None


class DeliveryRow(NamedTuple):
    """A delivery as listed."""

    id: str
    endpoint_id: str
    event_seq: int
    event_id: str
    type: str
    order_key: str
    status: str
    attempts: int
    last_status: int | None
    next_at: str | None
    created_at: str
    updated_at: str


class Claimed(NamedTuple):
    """A delivery leased for sending, with what sending needs of its endpoint."""

    delivery: DeliveryRow
    url: str
    secret: str


class NewDelivery(NamedTuple):
    """A delivery to create: one event for one endpoint."""

    id: str
    event_seq: int
    event_id: str
    type: str
    order_key: str


def add_endpoint(tx: Tx, endpoint_id: str, url: str, events: str, secret: str) -> int:
    """Store a new endpoint whose cursor is the log's head (it hears of later events
    only); returns the cursor."""
    head = tx.conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
    tx.conn.execute(
        "INSERT INTO webhook_endpoints (id, url, events, secret, cursor, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)", (endpoint_id, url, events, secret, head, tx.at))
    tx.append_event("webhook.endpoint_added", endpoint_id,
                    {"id": endpoint_id, "url": url, "events": events, "cursor": head})
    return int(head)


def remove_endpoint(tx: Tx, endpoint_id: str) -> bool:
    """Mark an endpoint removed (its deliveries stay); False if none is active."""
    cursor = tx.conn.execute(
        "UPDATE webhook_endpoints SET removed_at = ? WHERE id = ? AND removed_at IS NULL",
        (tx.at, endpoint_id))
    if cursor.rowcount != 1:
        return False
    tx.append_event("webhook.endpoint_removed", endpoint_id, {"id": endpoint_id})
    return True


def endpoints(reader: Reader, *, removed: bool = False) -> list[EndpointRow]:
    """The active endpoints, oldest first (the removed ones too with `removed`)."""
    where = "" if removed else " WHERE removed_at IS NULL"
    rows = reader.conn.execute(
        f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints{where} ORDER BY created_at, id")
    return [EndpointRow(*row) for row in rows]


def endpoint(reader: Reader, endpoint_id: str) -> EndpointRow | None:
    """One endpoint, removed or not."""
    row = reader.conn.execute(f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?",
                              (endpoint_id,)).fetchone()
    return EndpointRow(*row) if row else None


def unread_after(reader: Reader, cursor: int) -> tuple[bool, int]:
    """Whether an event other than the webhooks' own follows `cursor`, and how many
    events do in all: a reading cheap enough to make before each batch."""
    row = reader.conn.execute(
        "SELECT EXISTS (SELECT 1 FROM events WHERE seq > ? AND type NOT LIKE 'webhook.%'), "
        "(SELECT coalesce(max(seq), 0) FROM events)", (cursor,)).fetchone()
    return bool(row[0]), int(row[1]) - cursor


def add_deliveries(tx: Tx, endpoint_id: str, cursor: int, new: list[NewDelivery],
                   now: str) -> None:
    """Create deliveries due `now` and move the endpoint's cursor to `cursor`."""
    tx.conn.executemany(
        "INSERT INTO webhook_deliveries (id, endpoint_id, event_seq, event_id, type, "
        "order_key, status, attempts, next_at, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
        [(d.id, endpoint_id, d.event_seq, d.event_id, d.type, d.order_key,
          DeliveryStatus.PENDING, now, now, now) for d in new])
    tx.conn.execute("UPDATE webhook_endpoints SET cursor = ? WHERE id = ?",
                    (cursor, endpoint_id))
    for d in new:
        tx.append_event("webhook.delivery_created", d.id, {
            "id": d.id, "endpoint_id": endpoint_id, "event_id": d.event_id, "type": d.type})


_DUE_OF_STATUS = f"""
SELECT * FROM (
  SELECT {", ".join(f"d.{c.strip()}" for c in DELIVERY_COLUMNS.split(","))}, e.url, e.secret
  FROM webhook_deliveries d
  JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.removed_at IS NULL
  WHERE d.status = '{{status}}' AND d.next_at <= ?
    AND (d.lease_until IS NULL OR d.lease_until < ?)
    AND NOT EXISTS (SELECT 1 FROM webhook_deliveries o
                    WHERE o.endpoint_id = d.endpoint_id AND o.order_key = d.order_key
                      AND o.event_seq < d.event_seq AND o.status IN ('{OPEN[0]}', '{OPEN[1]}'))
  ORDER BY d.next_at LIMIT ?) AS due_{{status}}
"""
# One walk of the `(status, next_at)` index per open status, each stopping at `limit`
# rows, then the two merged: one `status IN (...)` query sorted every due row (its cost
# grew with the backlog, ~8 ms a claim at 6,000 due).
_CLAIMABLE = (" UNION ALL ".join(_DUE_OF_STATUS.format(status=status) for status in OPEN)
              + " ORDER BY next_at, event_seq LIMIT ?")


def claim(tx: Tx, owner: str, now: str, until: str, limit: int) -> list[Claimed]:
    """Lease up to `limit` due deliveries to `owner` until `until`, and return them (one
    read and one batched write, whatever their number)."""
    found = tx.conn.execute(_CLAIMABLE, (now, now, limit) * 2 + (limit,)).fetchall()
    if not found:
        return []
    tx.conn.executemany("UPDATE webhook_deliveries SET lease_owner = ?, lease_until = ? "
                        "WHERE id = ?", [(owner, until, row[0]) for row in found])
    return [Claimed(DeliveryRow(*row[:-2]), row[-2], row[-1]) for row in found]


def record_outcome(tx: Tx, delivery_id: str, owner: str, changes: dict[str, Any],
                   body: str | None, now: str) -> bool:
    """Write one attempt's outcome (`changes`: status, attempts, last_status, next_at) and
    free the lease, if `owner` still holds it; its event carries the changes."""
    cursor = tx.conn.execute(
        "UPDATE webhook_deliveries SET status = ?, attempts = ?, last_status = ?, "
        "next_at = ?, last_body = ?, lease_owner = NULL, lease_until = NULL, updated_at = ? "
        "WHERE id = ? AND lease_owner = ?",
        (changes["status"], changes["attempts"], changes["last_status"], changes["next_at"],
         body, now, delivery_id, owner))
    if cursor.rowcount != 1:
        return False
    tx.append_event(f"webhook.delivery_{changes['status']}", delivery_id,
                    {"id": delivery_id, "changes": changes})
    return True


def retry(tx: Tx, delivery_ids: list[str], now: str) -> None:
    """Make deliveries due now again (their attempts kept), each with its event."""
    tx.conn.executemany(
        "UPDATE webhook_deliveries SET status = ?, next_at = ?, lease_owner = NULL, "
        "lease_until = NULL, updated_at = ? WHERE id = ?",
        [(DeliveryStatus.PENDING, now, now, delivery_id) for delivery_id in delivery_ids])
    for delivery_id in delivery_ids:
        tx.append_event("webhook.delivery_retried", delivery_id,
                        {"id": delivery_id, "changes": {"status": DeliveryStatus.PENDING,
                                                        "next_at": now}})


def deliveries(reader: Reader, *, endpoint_id: str | None = None, status: str | None = None,
               limit: int = 100) -> list[DeliveryRow]:
    """Deliveries, newest event first, filtered by endpoint and status."""
    filters = [(column, value) for column, value in
               (("endpoint_id", endpoint_id), ("status", status)) if value is not None]
    where = " AND ".join(f"{column} = ?" for column, _ in filters)
    rows = reader.conn.execute(
        f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries"
        f"{' WHERE ' + where if where else ''} ORDER BY event_seq DESC, id LIMIT ?",
        (*(value for _, value in filters), limit))
    return [DeliveryRow(*row) for row in rows]


def delivery(reader: Reader, delivery_id: str) -> DeliveryRow | None:
    """One delivery."""
    row = reader.conn.execute(f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries "
                              "WHERE id = ?", (delivery_id,)).fetchone()
    return DeliveryRow(*row) if row else None


def dead_ids(reader: Reader) -> list[str]:
    """Every dead delivery, oldest event first."""
    rows = reader.conn.execute("SELECT id FROM webhook_deliveries WHERE status = ? "
                               "ORDER BY event_seq", (DeliveryStatus.DEAD,))
    return [row[0] for row in rows]


def credit_balance(reader: Reader, account_id: int, transfer_id: str) -> int | None:
    """The credited account's balance just after a transfer (its entry's), if any; by
    the account's index, as entries have none by transfer."""
    row = reader.conn.execute(
        "SELECT balance FROM entries WHERE account_id = ? AND transfer_id = ?",
        (account_id, transfer_id)).fetchone()
    return None if row is None else int(row[0])


def event(reader: Reader, seq: int) -> Event | None:
    """One event of the log by its sequence number."""
    row = reader.conn.execute(
        "SELECT seq, type, entity_id, payload, at, correlation_id, prev_hash, hash, actor "
        "FROM events WHERE seq = ?", (seq,)).fetchone()
    return Event(*row) if row else None
