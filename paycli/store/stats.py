"""The aggregate reads behind `stats`, `metrics` and `events tail`, in the SQL both
engines share.

Every figure of a window is one grouped query over an index: payments by their creation
time (`payments_created`), stuck ones by status (`payments_status`), events by their
sequence number (the primary key). The events carry no index on time, so the first event
of a window is found by bisecting the sequence numbers, whose times grow with them.

Gateway latency is each payment's `charge_ms`, recorded when it settles (`charge_ms`
below is the rule, shared by the settle path, replay and migration 10's SQL). A
percentile is one read along `payments_charge` in duration order (`LIMIT 1 OFFSET k`):
the window's charges are counted and ranked by the database, never loaded.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from paycli.store.sql import Connection

# The grouping columns `--by` may name, as SQL over the payments table (each payment
# records the gateway that took its charge; older ones read `default`).
GROUPINGS = {
    "currency": "currency",
    "status": "status",
    "hour": "substr(created_at, 1, 13)",
    "gateway": "gateway",
}


SETTLE_EVENTS = ("payment.completed", "payment.failed", "payment.unresolved")
CHARGE_STEP = "ProcessPayment"


def charge_ms(steps: Sequence[Any] | None) -> float | None:
    """The charge step's duration among a settle's step records, if it ran (the first
    one named so that has a duration)."""
    for step in steps or ():
        if isinstance(step, dict) and step.get("name") == CHARGE_STEP:
            took = step.get("duration_ms")
            if isinstance(took, int | float) and not isinstance(took, bool):
                return float(took)
    return None


def charges_since(conn: Connection, since: str) -> int:
    """How many payments had their charge timed at or after `since`."""
    row = conn.execute("SELECT count(*) FROM payments WHERE charge_ms IS NOT NULL "
                       "AND charged_at >= ?", (since,)).fetchone()
    return int(row[0])


def charge_ranked(conn: Connection, since: str, rank: int) -> float:
    """The `rank`-th smallest (from 1) charge time of those timed since `since`."""
    row = conn.execute(
        "SELECT charge_ms FROM payments WHERE charge_ms IS NOT NULL AND charged_at >= ? "
        "ORDER BY charge_ms LIMIT 1 OFFSET ?", (since, rank - 1)).fetchone()
    return float(row[0])


def charge_times(conn: Connection, since: str) -> list[float]:
    """Every charge time recorded since `since`, smallest first."""
    rows = conn.execute(
        "SELECT charge_ms FROM payments WHERE charge_ms IS NOT NULL AND charged_at >= ? "
        "ORDER BY charge_ms", (since,)).fetchall()
    return [float(took) for took, in rows]


def outcomes(conn: Connection, since: str, by: str | None = None
             ) -> list[tuple[Any, ...]]:
    """(group key, status, currency, count, amount) of the payments created since `since`;
    the key is the status without `by`."""
    key = GROUPINGS[by] if by else "status"
    sql = (f"SELECT {key} AS grouped, status, currency, count(*), sum(amount) "
           "FROM payments WHERE created_at >= ? GROUP BY grouped, status, currency")
    return [tuple(row) for row in conn.execute(sql, (since,)).fetchall()]


def declines(conn: Connection, since: str) -> dict[str, int]:
    """The failed payments created since `since`, counted by their reason code."""
    rows = conn.execute(
        "SELECT coalesce(error_type, 'unknown'), count(*) FROM payments "
        "WHERE created_at >= ? AND status = 'FAILED' GROUP BY 1", (since,)).fetchall()
    return {str(reason): int(count) for reason, count in rows}


def refund_outcomes(conn: Connection, since: str) -> list[tuple[str, str, int, int]]:
    """(status, currency, count, amount) of the refunds created since `since`."""
    rows = conn.execute(
        "SELECT status, currency, count(*), sum(amount) FROM refunds "
        "WHERE created_at >= ? GROUP BY status, currency", (since,)).fetchall()
    return [(str(s), str(c), int(n), int(a)) for s, c, n, a in rows]


def unfinished_before(conn: Connection, before: str) -> int:
    """How many payments are still PENDING or PROCESSING, created before `before`."""
    row = conn.execute(
        "SELECT count(*) FROM payments WHERE status IN ('PENDING', 'PROCESSING') "
        "AND created_at < ?", (before,)).fetchone()
    return int(row[0])


def breakers_opened(conn: Connection, since_epoch: float) -> int:
    """How many gateway breakers last opened at or after `since_epoch` (the breaker row
    keeps its latest opening only)."""
    row = conn.execute("SELECT count(*) FROM breaker WHERE opened_at >= ?",
                       (since_epoch,)).fetchone()
    return int(row[0])


def webhook_breaks(conn: Connection, since: str) -> int:
    """How many gateway webhooks received at or after `since` contradicted a final state
    (`listen` keeps them, never rewriting the ledger)."""
    row = conn.execute("SELECT count(*) FROM gateway_webhooks WHERE outcome = 'break' "
                       "AND received_at >= ?", (since,)).fetchone()
    return int(row[0])


def first_seq_since(conn: Connection, since: str) -> int:
    """The sequence number of the first event written at or after `since` (one past the
    last when none was): bisection over the primary key, a few point reads."""
    last = conn.execute("SELECT max(seq) FROM events").fetchone()[0]
    low, high = 1, int(last or 0) + 1
    while low < high:
        middle = (low + high) // 2
        row = conn.execute("SELECT seq, at FROM events WHERE seq >= ? ORDER BY seq LIMIT 1",
                           (middle,)).fetchone()
        if row is None or str(row[1]) >= since:
            high = middle
        else:
            low = int(row[0]) + 1
    return low


def events_of_types(conn: Connection, from_seq: int, types: tuple[str, ...],
                    batch: int = 5000) -> Iterator[tuple[int, str, str, str]]:
    """(seq, type, payload, at) of the events of `types` from `from_seq` on, in order."""
    marks = ", ".join("?" for _ in types)
    after = from_seq - 1
    while True:
        rows = conn.execute(
            f"SELECT seq, type, payload, at FROM events WHERE seq > ? AND type IN ({marks}) "
            "ORDER BY seq LIMIT ?", (after, *types, batch)).fetchall()
        yield from ((int(s), str(t), str(p), str(a)) for s, t, p, a in rows)
        if len(rows) < batch:
            return
        after = int(rows[-1][0])


def last_seq(conn: Connection) -> int:
    """The newest event's sequence number (0 for an empty log)."""
    return int(conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])


def breakers(conn: Connection) -> list[tuple[str, str]]:
    """(name, state) of every gateway breaker that has a row."""
    rows = conn.execute("SELECT name, state FROM breaker ORDER BY name").fetchall()
    return [(str(name), str(state)) for name, state in rows]
