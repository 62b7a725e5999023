"""`events tail`: the event log as it grows, newest last, as one line per event.

A reader keeps the sequence number of the last event it showed and asks for those after
it (the primary key), so following a big log costs one indexed read per poll, and events
committed by any process or host appear on the next poll.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from typing import Any

from paycli.errors import UsageError
from paycli.money import UnknownCurrency, format_minor
from paycli.records import Event
from paycli.results.stats import EventLine
from paycli.store import Store
from paycli.store import stats as queries

SUMMARY_WIDTH = 120
_SKIPPED = frozenset({"id", "gateway_key", "idempotency_key", "steps", "error_message"})


def patterns(text: str | None) -> tuple[str, ...]:
    """`--type payment.*,refund.completed` as its patterns (none: every type)."""
    if text is None:
        return ()
    found = tuple(part.strip() for part in text.split(",") if part.strip())
    if not found or any(not _is_pattern(part) for part in found):
        raise UsageError(f"invalid --type {text!r}: expected event types or patterns like "
                         "payment.* or refund.completed, separated by commas")
    return found


def _is_pattern(text: str) -> bool:
    return all(ch.isalnum() or ch in "._*?" for ch in text)


def start(store: Store, since: str | None, last: int) -> int:
    """The sequence number to show from: the first event since `since`, or else the
    `last` newest events."""
    with store.snapshot() as read:
        if since is not None:
            return queries.first_seq_since(read.conn, since) - 1
        return max(queries.last_seq(read.conn) - last, 0)


def newer(store: Store, after: int, wanted: tuple[str, ...], since: str | None = None
          ) -> Iterator[tuple[int, EventLine | None]]:
    """Every event after sequence number `after`, oldest first, as (its number, its line
    or None when its type does not match `wanted` or it was written before `since`)."""
    for event in store.read.events(after):
        shown = since is None or event.at >= since
        if shown and (not wanted or any(fnmatch.fnmatchcase(event.type, p) for p in wanted)):
            yield event.seq, line(event)
        else:
            yield event.seq, None


def line(event: Event) -> EventLine:
    """One event as `events tail` shows it."""
    data = json.loads(event.payload)
    return EventLine(seq=event.seq, at=event.at, type=event.type, id=event.entity_id,
                     actor=event.actor, summary=summary(data), data=data)


def summary(data: dict[str, Any]) -> str:
    """What an event says, in one line: its amount, then its fields or changes."""
    parts = []
    if isinstance(data.get("amount"), int) and isinstance(data.get("currency"), str):
        parts.append(f"{_amount(data['amount'], data['currency'])} {data['currency']}")
    changes = data.get("changes")
    fields: dict[str, Any] = changes if isinstance(changes, dict) else data
    parts += [f"{key}={value}" for key, value in sorted(fields.items())
              if key not in _SKIPPED and key not in ("amount", "currency", "changes")
              and value is not None and not isinstance(value, (dict, list))]
    text = " ".join(parts)
    return text if len(text) <= SUMMARY_WIDTH else text[:SUMMARY_WIDTH - 1] + "…"


def _amount(minor: int, code: str) -> str:
    try:
        return format_minor(minor, code)
    except UnknownCurrency:  # a currency this build does not know: its minor units as stored
        return str(minor)
