"""Canonical JSON and the event log's hash chain (no SQL here; `store` and `events` use it).

`hash = sha256(prev_hash + canonical_json(event))`, the first event's `prev_hash` being 64
zeros. An event's payload is stored as canonical JSON, so its hash can be computed again from
the stored columns without re-serialising anything.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64


def utc_now() -> str:
    """The current time as an ISO 8601 UTC timestamp with microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def canonical_json(value: Any) -> str:
    """The one JSON text of `value` that hashing and storage agree on."""
    return _CANONICAL.encode(value)


def event_hash(prev_hash: str, seq: int, type_: str, entity_id: str, payload: str, at: str,
               correlation_id: str | None, actor: str | None = None) -> str:
    """`sha256(prev_hash + canonical_json(event))`, built without re-parsing `payload`.

    `payload` is already canonical JSON, so splicing it in gives exactly the text that
    `canonical_json` of the whole event would. The event has an `actor` key only when it
    has an actor (events written before actors were recorded have none).
    """
    who = "" if actor is None else f'"actor":{_quoted(actor)},'
    text = (
        f'{{{who}"at":{_quoted(at)},"correlation_id":{_quoted(correlation_id)},'
        f'"entity_id":{_quoted(entity_id)},"payload":{payload},"seq":{seq},'
        f'"type":{_quoted(type_)}}}'
    )
    return hashlib.sha256((prev_hash + text).encode()).hexdigest()




def _quoted(value: str | None) -> str:
    """`json.dumps(value)`, without its cost for the plain ASCII ids and timestamps."""
    if value is None:
        return "null"
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return json.dumps(value)
