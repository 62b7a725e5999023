"""The gateway webhooks `listen` acted on (`tables.GATEWAY_WEBHOOKS`): taking an id once,
and the breaks kept for `reconcile`.

Invariant: `take_webhook` runs inside the transaction that acts on the event, which holds
the ledger's one write lock (SQLite's `BEGIN IMMEDIATE`, PostgreSQL's advisory lock): of
any number of listeners, on one host or many, exactly one inserts an id, and its action
commits with it or not at all.
"""

from __future__ import annotations

from typing import NamedTuple

from paycli.store.reads import Reader
from paycli.store.writes import Tx

_TAKE = ("INSERT INTO gateway_webhooks (id, type, entity_id, outcome, ledger_status, "
         "gateway_status, received_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
         "ON CONFLICT (id) DO NOTHING")


class ReceivedWebhook(NamedTuple):
    """One webhook acted on: what the event was about and what became of it."""

    id: str
    type: str
    entity_id: str | None
    outcome: str
    ledger_status: str | None
    gateway_status: str | None
    received_at: str


def take_webhook(tx: Tx, webhook: ReceivedWebhook) -> bool:
    """Record the webhook unless its id is already there; False if it was (a replay)."""
    cursor = tx.conn.execute(_TAKE, tuple(webhook))
    return cursor.rowcount == 1


def webhook_taken(read: Reader, webhook_id: str) -> bool:
    """Whether a webhook with this id was acted on already."""
    row = read.conn.execute("SELECT 1 FROM gateway_webhooks WHERE id = ?",
                            (webhook_id,)).fetchone()
    return row is not None


def webhook_breaks(read: Reader, limit: int = 1000) -> list[ReceivedWebhook]:
    """The webhooks that contradicted a final state, oldest first."""
    cursor = read.conn.execute(
        "SELECT id, type, entity_id, outcome, ledger_status, gateway_status, received_at "
        "FROM gateway_webhooks WHERE outcome = 'break' ORDER BY received_at, id LIMIT ?",
        (limit,))
    return [ReceivedWebhook(*row) for row in cursor.fetchall()]
