"""The aggregate reads behind `stats`, `metrics` and `events tail`, in the SQL both
engines share.

A window's payments are counted from the hourly summary rows (`summaries`: kept by
triggers with every write) for its whole hours, and from the payments themselves, along
`payments_created`, for its first, partial hour: a day's figures are a few dozen summary
rows and at most an hour of payments, whatever the ledger's size. Stuck ones are read by
status (`payments_status`); events by their sequence number (the primary key). The
events carry no index on time, so the first event of a window is found by bisecting the
sequence numbers, whose times grow with them.

Gateway latency is each payment's `charge_ms`, recorded when it settles (`charge_ms`
below is the rule, shared by the settle path, replay and migration 10's SQL). A
percentile's whole millisecond is found in the window's histogram (`charge_hours` for
whole hours, the first hour's charges along `payments_charged`), then its exact value is
one read along `payments_charge` among that millisecond's charges (`LIMIT 1 OFFSET k`):
exact nearest ranks, never the window's charges loaded.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
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


def charge_histogram(conn: Connection, since: str) -> dict[int, int]:
    """How many charges timed at or after `since` took each whole number of ms: the
    whole hours from `charge_hours`, the first, partial hour from the payments."""
    hour, edge = _first_hour(since)
    bins: dict[int, int] = {}
    for ms, charges in conn.execute("SELECT ms, sum(charges) FROM charge_hours "
                                    "WHERE hour > ? GROUP BY ms", (hour,)).fetchall():
        bins[int(ms)] = bins.get(int(ms), 0) + int(charges)
    for took, in conn.execute(
            "SELECT charge_ms FROM payments WHERE charge_ms IS NOT NULL AND charged_at >= ? "
            "AND charged_at < ?", (since, edge)).fetchall():
        bins[math.floor(took)] = bins.get(math.floor(took), 0) + 1
    return {ms: count for ms, count in bins.items() if count}


def charge_ranked(conn: Connection, since: str, rank: int, bins: dict[int, int]) -> float:
    """The `rank`-th smallest (from 1) charge time of those timed since `since`: its
    whole ms found in `bins` (`charge_histogram`), its exact value read along
    `payments_charge` among that millisecond's charges."""
    below = 0
    for ms in sorted(bins):
        if below + bins[ms] >= rank:
            break
        below += bins[ms]
    row = conn.execute(
        "SELECT charge_ms FROM payments WHERE charge_ms >= ? AND charge_ms < ? "
        "AND charged_at >= ? ORDER BY charge_ms LIMIT 1 OFFSET ?",
        (ms, ms + 1, since, rank - below - 1)).fetchone()
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
    the key is the status without `by`. Whole hours are read from `payment_hours`, the
    first, partial hour from the payments."""
    hour, edge = _first_hour(since)
    key = by or "status"
    rows = conn.execute(
        f"SELECT {key}, status, currency, sum(payments), sum(amount) FROM payment_hours "
        "WHERE hour > ? GROUP BY 1, 2, 3", (hour,)).fetchall()
    rows += conn.execute(
        f"SELECT {GROUPINGS[key]}, status, currency, count(*), sum(amount) FROM payments "
        "WHERE created_at >= ? AND created_at < ? GROUP BY 1, 2, 3", (since, edge)).fetchall()
    merged: dict[tuple[str, str, str], tuple[int, int]] = {}
    for grouped, status, currency, count, amount in rows:
        had = merged.get((str(grouped), str(status), str(currency)), (0, 0))
        merged[str(grouped), str(status), str(currency)] = (had[0] + int(count),
                                                             had[1] + int(amount or 0))
    return [(*group, count, amount) for group, (count, amount) in merged.items() if count]


def declines(conn: Connection, since: str) -> dict[str, int]:
    """The failed payments created since `since`, counted by their reason code (whole
    hours from `payment_hours`, the first, partial hour from the payments)."""
    hour, edge = _first_hour(since)
    rows = conn.execute(
        "SELECT reason, sum(payments) FROM payment_hours WHERE hour > ? "
        "AND status = 'FAILED' GROUP BY 1", (hour,)).fetchall()
    rows += conn.execute(
        "SELECT coalesce(error_type, 'unknown'), count(*) FROM payments "
        "WHERE created_at >= ? AND created_at < ? AND status = 'FAILED' GROUP BY 1",
        (since, edge)).fetchall()
    found: dict[str, int] = {}
    for reason, count in rows:
        found[str(reason)] = found.get(str(reason), 0) + int(count)
    return {reason: count for reason, count in found.items() if count}


def _first_hour(since: str) -> tuple[str, str]:
    """The summaries' key of the hour `since` falls in, and the start of the next hour as
    the ledger writes times: the window's partial first hour is [since, that). From the
    start of time (`since` empty) every hour is whole."""
    if not since:
        return "", ""
    hour = since[:13]
    start = datetime.fromisoformat(f"{hour}:00:00+00:00")
    return hour, (start + timedelta(hours=1)).isoformat()


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
