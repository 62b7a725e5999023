"""`top`'s board: what the shared ledger is doing now, read incrementally.

`Board.refresh` reads only the events after the last one it saw (by event number, the
primary key) and counts them into per-interval buckets, so a refresh of a big ledger
costs the new events and three small indexed reads (payments in flight, stuck ones, the
breakers), not a walk of the log.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from paycli.ledger.stats import SETTLE_EVENTS, charge_ms, latency
from paycli.results.stats import Latency
from paycli.store import Store
from paycli.store import stats as queries

BUCKET_S = 10          # one sparkline column per 10 seconds
BUCKETS = 30           # five minutes of them
STUCK_S = 600          # PROCESSING for longer than this is stuck
RECENT_CHARGES = 1000  # the latency figures are over the newest charges


@dataclass(frozen=True)
class Failure:
    """One failed payment, as the board lists it."""

    at: str
    payment_id: str
    reason: str


@dataclass
class Board:
    """The live figures; `refresh` brings them up to the ledger's newest event."""

    after: int = 0
    completed: deque[int] = field(default_factory=lambda: deque([0] * BUCKETS, BUCKETS))
    failed: deque[int] = field(default_factory=lambda: deque([0] * BUCKETS, BUCKETS))
    bucket: int = 0  # the epoch bucket number of the newest column
    charges: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT_CHARGES))
    failures: deque[Failure] = field(default_factory=lambda: deque(maxlen=20))
    in_flight: int = 0
    stuck: int = 0
    breakers: list[tuple[str, str]] = field(default_factory=list)

    def refresh(self, store: Store, now: datetime | None = None) -> None:
        """Read what was committed since the last refresh."""
        now = now or datetime.now(UTC)
        self._advance(int(now.timestamp()) // BUCKET_S)
        with store.snapshot() as read:
            conn = read.conn
            if self.after == 0:  # the first look: the last five minutes only
                since = now - timedelta(seconds=BUCKET_S * BUCKETS)
                self.after = queries.first_seq_since(conn, since.isoformat()) - 1
            for seq, kind, payload, at in queries.events_of_types(
                    conn, self.after + 1, SETTLE_EVENTS):
                self._count(kind, payload, at)
                self.after = seq
            self.after = max(self.after, queries.last_seq(conn))
            self.in_flight = queries.unfinished_before(conn, "9999")
            self.stuck = queries.unfinished_before(
                conn, (now - timedelta(seconds=STUCK_S)).isoformat())
            self.breakers = queries.breakers(conn) or [("gateway", "closed")]

    def _advance(self, bucket: int) -> None:
        for _ in range(min(bucket - self.bucket, BUCKETS) if self.bucket else 0):
            self.completed.append(0)
            self.failed.append(0)
        self.bucket = bucket

    def _count(self, kind: str, payload: str, at: str) -> None:
        age = self.bucket - int(datetime.fromisoformat(at).timestamp()) // BUCKET_S
        column = BUCKETS - 1 - max(age, 0)
        if kind == "payment.completed" and column >= 0:
            self.completed[column] += 1
        elif kind == "payment.failed":
            if column >= 0:
                self.failed[column] += 1
            data = json.loads(payload)
            reason = (data.get("changes") or {}).get("error_type") or "unknown"
            self.failures.appendleft(Failure(at, str(data.get("id", "")), str(reason)))
        if (took := charge_ms(payload)) is not None:
            self.charges.append(took)

    @property
    def throughput(self) -> float:
        """Payments settled per second over the last minute."""
        last = list(self.completed)[-6:] + list(self.failed)[-6:]
        return sum(last) / (6 * BUCKET_S)

    @property
    def approval_rate(self) -> float | None:
        """Completed / settled over the board's five minutes."""
        done, failed = sum(self.completed), sum(self.failed)
        return done / (done + failed) if done + failed else None

    @property
    def latency(self) -> Latency:
        """Percentiles of the newest charges."""
        return latency(list(self.charges))
