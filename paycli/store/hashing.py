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


def _unencodable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# The C encoder `_CANONICAL.encode` builds anew on every call, built once: half the cost
# of an event's payload (a billing run encodes millions). The same settings, so the same
# text; where the interpreter has no C encoder, `_CANONICAL` does it.
_MAKE_ENCODER = getattr(json.encoder, "c_make_encoder", None)
_C_ENCODER = None if _MAKE_ENCODER is None else _MAKE_ENCODER(
    None, _unencodable, json.encoder.encode_basestring_ascii, None, ":", ",", True, False,
    True)


def canonical_json(value: Any) -> str:
    """The one JSON text of `value` that hashing and storage agree on."""
    if _C_ENCODER is None or isinstance(value, str | int | float | None):
        return _CANONICAL.encode(value)
    return "".join(_C_ENCODER(value, 0))


def event_hash(prev_hash: str, seq: int, type_: str, entity_id: str, payload: str, at: str,
               correlation_id: str | None, actor: str | None = None) -> str:
    """`sha256(prev_hash + canonical_json(event))`, built without re-parsing `payload`.

    `payload` is already canonical JSON, so splicing it in gives exactly the text that
    `canonical_json` of the whole event would. The event has an `actor` key only when it
    has an actor (events written before actors were recorded have none).
    """
    return EventHasher(at, correlation_id, actor).hash(prev_hash, seq, type_, entity_id,
                                                       payload)


class EventHasher:
    """`event_hash` for the events of one transaction, which share their time,
    correlation id and actor: those are quoted once, and each event costs one splice and
    one sha256 (a group of payments appends thousands of events in one transaction)."""

    __slots__ = ("_head",)

    def __init__(self, at: str, correlation_id: str | None, actor: str | None) -> None:
        who = "" if actor is None else f'"actor":{_quoted(actor)},'
        self._head = f'{{{who}"at":{_quoted(at)},"correlation_id":{_quoted(correlation_id)},'

    def hash(self, prev_hash: str, seq: int, type_: str, entity_id: str, payload: str) -> str:
        """The hash of one event after the event hashed `prev_hash`."""
        text = (f'{prev_hash}{self._head}"entity_id":{_quoted(entity_id)},"payload":{payload},'
                f'"seq":{seq},"type":{_quoted(type_)}}}')
        return hashlib.sha256(text.encode()).hexdigest()


def _quoted(value: str | None) -> str:
    """`json.dumps(value)`, without its cost for the plain ASCII ids and timestamps."""
    if value is None:
        return "null"
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return json.dumps(value)
