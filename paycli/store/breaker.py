"""The shared circuit breaker's row in the ledger database (store layer: SQL lives here).

Every paycli process using the same ledger sees and changes the same breaker, on one host
(SQLite) or on many (PostgreSQL); each change is one short write transaction of the store,
in SQL both engines share. The half-open probe is handed out by compare-and-set (a
conditional UPDATE whose row count says who won), so exactly one process gets it.
"""

from __future__ import annotations

import time
from typing import Any

from paycli.records import BreakerState
from paycli.store.base import Store


class BreakerStore:
    """The shared circuit breaker's row, changed by single atomic statements.

    Every paycli process using the same ledger sees and changes the same breaker. The
    half-open probe is handed out by compare-and-set, so exactly one process gets it.
    """

    def __init__(self, store: Store, name: str = "gateway") -> None:
        self.store = store
        self.name = name
        # How long a read of the row may be answered again without asking the ledger: 0
        # (always ask) but for a billing run's charging threads, which call the gateway
        # hundreds of times a second; this object's own writes forget it at once.
        self.reuse_s = 0.0
        self._kept: tuple[float, BreakerState] | None = None

    def read(self) -> BreakerState:
        """The breaker as stored now (or as read less than `reuse_s` ago)."""
        now = time.monotonic()
        if self._kept is not None and now - self._kept[0] < self.reuse_s:
            return self._kept[1]
        row = self.store.read.breaker(self.name)
        self._kept = (now, row) if self.reuse_s > 0 else None
        return row

    def _write(self, sql: str, args: tuple[Any, ...]) -> int:
        self._kept = None
        with self.store.transaction() as tx:
            tx.conn.execute(
                "INSERT INTO breaker (name, state, failures) VALUES (?, 'closed', 0) "
                "ON CONFLICT (name) DO NOTHING",
                (self.name,),
            )
            return int(tx.conn.execute(sql, args).rowcount)

    def add_failure(self) -> int:
        """Count one more consecutive failure; returns the new count."""
        self._kept = None
        with self.store.transaction() as tx:
            row = tx.conn.execute(
                "INSERT INTO breaker (name, state, failures) VALUES (?, 'closed', 1) "
                "ON CONFLICT (name) DO UPDATE SET failures = breaker.failures + 1 "
                "RETURNING failures",
                (self.name,),
            ).fetchone()
        return int(row[0])

    def reset_failures(self) -> None:
        """A success: the consecutive failure count goes back to zero."""
        if self.read().failures:
            self._write("UPDATE breaker SET failures = 0 WHERE name = ?", (self.name,))

    def open(self, now: float) -> None:
        """Open the breaker as of `now` (epoch seconds)."""
        self._write("UPDATE breaker SET state = 'open', opened_at = ?, probe_started = NULL "
                    "WHERE name = ?", (now, self.name))

    def close(self) -> None:
        """Close the breaker and forget its failures."""
        self._write("UPDATE breaker SET state = 'closed', failures = 0, opened_at = NULL, "
                    "probe_started = NULL WHERE name = ?", (self.name,))

    def claim_probe(self, now: float, reset_s: float, lease_s: float) -> bool:
        """Compare-and-set the breaker to half-open for this caller's one probe.

        Succeeds when the breaker has been open for `reset_s`, or when an earlier probe
        was claimed more than `lease_s` ago and never reported back (its process died).
        """
        return self._write(
            "UPDATE breaker SET state = 'half-open', probe_started = ? WHERE name = ? AND ("
            "(state = 'open' AND opened_at <= ?) OR "
            "(state = 'half-open' AND probe_started <= ?))",
            (now, self.name, now - reset_s, now - lease_s),
        ) == 1
