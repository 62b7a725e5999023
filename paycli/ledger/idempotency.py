"""Idempotency keys: key -> command, request fingerprint, the entity it made, exit code.

The same key with the same request gives back the first result and moves no money again;
the same key with a different request is an `IdempotencyConflict` (exit 6). The check and
the write happen in the same `BEGIN IMMEDIATE` transaction as the movement itself, so two
processes racing with one key cannot both act.

Invariant: a key keeps facts only (which entity its request made); the answer of a repeat
is rebuilt from that entity's records, never from a stored `--json` object. Rows written by
earlier versions also hold such an object (`result`): it is never read, so a change of the
output contract cannot break the replay of an old key.
"""

from __future__ import annotations

import hashlib
from typing import Any

from paycli.errors import IdempotencyConflict
from paycli.store import Reader
from paycli.store.hashing import canonical_json


def fingerprint(command: str, request: dict[str, Any]) -> str:
    """A digest of a command and its arguments."""
    return hashlib.sha256(canonical_json({"command": command, **request}).encode()).hexdigest()


def lookup(reader: Reader, key: str, command: str, digest: str) -> dict[str, Any] | None:
    """The stored row for `key` if it was used for this very request; None if unused.

    Raises `IdempotencyConflict` if the key was used for a different request.
    """
    return matching(reader.idempotency(key), key, command, digest)


def matching(row: dict[str, Any] | None, key: str, command: str, digest: str
             ) -> dict[str, Any] | None:
    """`lookup` of a row already read (a billing run reads a group's keys in one query)."""
    if row is None:
        return None
    if row["command"] != command or row["fingerprint"] != digest:
        raise IdempotencyConflict(
            f"idempotency key {key!r} was already used with different arguments"
        )
    return row

