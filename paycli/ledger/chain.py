"""The event log's hash chain: verifying it from the first event on.

Each event stores `hash = sha256(prev_hash + canonical_json(event))` where the first
event's `prev_hash` is 64 zeros. Verification recomputes every hash from the event's own
fields and the hash of the event actually before it, so an edited, deleted, inserted or
swapped event breaks the chain at the first place it touches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from paycli.records import Event
from paycli.store.hashing import GENESIS_HASH, event_hash


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """Where and why the hash chain first fails."""

    seq: int
    reason: str


def verify_chain(events: Iterable[Event]) -> tuple[int, ChainBreak | None]:
    """Walk the events in order; returns how many were read and the first break, if any."""
    prev_hash, expected_seq, count = GENESIS_HASH, 1, 0
    first_break: ChainBreak | None = None
    for event in events:
        count += 1
        if first_break is None:
            first_break = _check(event, prev_hash, expected_seq)
        prev_hash, expected_seq = event.hash, event.seq + 1
    return count, first_break


def _check(event: Event, prev_hash: str, expected_seq: int) -> ChainBreak | None:
    if event.seq != expected_seq:
        return ChainBreak(event.seq, f"sequence gap: expected event {expected_seq}, "
                                     f"found {event.seq} (an event was removed)")
    if event.prev_hash != prev_hash:
        return ChainBreak(event.seq, "prev_hash does not match the hash of the event before")
    digest = event_hash(prev_hash, event.seq, event.type, event.entity_id, event.payload,
                        event.at, event.correlation_id, event.actor)
    if digest != event.hash:
        return ChainBreak(event.seq, "hash does not match the event's content (edited)")
    return None
