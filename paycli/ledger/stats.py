"""The window's figures for `stats` and `metrics`: payments by outcome, approval, exact
volume per currency, gateway latency percentiles, declines, breaker openings, refunds and
webhook breaks; and `--by` groups.

Counts and sums are grouped queries (`store.stats`); latency is the ProcessPayment step's
`duration_ms`, which every settle event already stores with the saga's steps, read from
the window's settle events only (found by sequence number, not by scanning the log).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from paycli.money import format_minor
from paycli.records import CAPTURED_STATUSES, UNFINISHED_STATUSES, PaymentStatus
from paycli.results.stats import Group, Latency, RefundFigures, Stats
from paycli.store import Store
from paycli.store import stats as queries

BY = tuple(queries.GROUPINGS)
SETTLE_EVENTS = ("payment.completed", "payment.failed", "payment.unresolved")
# What `listen` will write for a gateway event that contradicts a final state.
CHARGE_STEP = "ProcessPayment"


@dataclass(frozen=True)
class Window:
    """From `since` to `until`, both aware UTC datetimes."""

    since: datetime
    until: datetime

    @classmethod
    def last(cls, seconds: float, now: datetime | None = None) -> Window:
        """The window of the last `seconds` up to `now`."""
        until = now or datetime.now(UTC)
        return cls(until - timedelta(seconds=seconds), until)

    @property
    def start(self) -> str:
        """`since` as the ledger writes times, so text comparison orders them."""
        return self.since.isoformat()


def stats(store: Store, window: Window, by: str | None = None) -> Stats:
    """Every figure of `window` (grouped `by` a column of `BY` when given)."""
    with store.snapshot() as read:
        conn = read.conn
        rows = queries.outcomes(conn, window.start)
        grouped = queries.outcomes(conn, window.start, by) if by else []
        declines = queries.declines(conn, window.start)
        refunds = queries.refund_outcomes(conn, window.start)
        opens = queries.breakers_opened(conn, window.since.timestamp())
        latencies = _charge_durations(conn, window.start)
        breaks = queries.webhook_breaks(conn, window.start)
    figures = _figures(rows)
    return Stats(
        since=window.start, until=window.until.isoformat(), **figures,
        failed_rate=_rate(figures["failed"], figures["completed"] + figures["failed"]),
        gateway_latency_ms=latency(latencies), declines=declines, breaker_opens=opens,
        refunds=_refunds(refunds), webhook_breaks=breaks, by=by,
        groups=_groups(grouped) if by else [])


def charge_durations(store: Store, window: Window) -> list[float]:
    """The gateway call time (ms) of every charge settled in `window`, oldest first."""
    with store.snapshot() as read:
        return _charge_durations(read.conn, window.start)


def stuck(store: Store, older_than_s: float, now: datetime | None = None) -> int:
    """How many payments are PENDING or PROCESSING for longer than `older_than_s`."""
    before = (now or datetime.now(UTC)) - timedelta(seconds=older_than_s)
    with store.snapshot() as read:
        return queries.unfinished_before(read.conn, before.isoformat())


def latency(values: list[float]) -> Latency:
    """p50, p95 and p99 of `values` by nearest rank (the smallest value with at least p %
    of them at or below it)."""
    ordered = sorted(values)

    def rank(p: int) -> float | None:
        return ordered[max(math.ceil(p / 100 * len(ordered)), 1) - 1] if ordered else None

    return Latency(p50=rank(50), p95=rank(95), p99=rank(99), count=len(ordered))


def _charge_durations(conn: Any, start: str) -> list[float]:
    """The charge durations among the settle events since `start`."""
    first = queries.first_seq_since(conn, start)
    durations: list[float] = []
    for _, _, payload, at in queries.events_of_types(conn, first, SETTLE_EVENTS):
        if at < start:
            continue  # written by another host whose clock ran behind: before the window
        if (took := charge_ms(payload)) is not None:
            durations.append(took)
    return durations


def charge_ms(payload: str) -> float | None:
    """The ProcessPayment step's duration in a settle event's steps, if it ran."""
    data = json.loads(payload)
    for step in data.get("steps") or ():
        if step.get("name") == CHARGE_STEP and step.get("duration_ms") is not None:
            return float(step["duration_ms"])
    return None


def _figures(rows: Iterable[tuple[Any, ...]]) -> dict[str, Any]:
    """payments, completed, failed, processing, approval_rate and volume of `rows`."""
    counts = {"payments": 0, "completed": 0, "failed": 0, "processing": 0}
    volume: dict[str, int] = {}
    for _, status, currency, count, amount in rows:
        counts["payments"] += int(count)
        if status in CAPTURED_STATUSES:
            counts["completed"] += int(count)
            volume[currency] = volume.get(currency, 0) + int(amount)
        elif status == PaymentStatus.FAILED:
            counts["failed"] += int(count)
        elif status in UNFINISHED_STATUSES:
            counts["processing"] += int(count)
    rate = _rate(counts["completed"], counts["completed"] + counts["failed"])
    return {**counts, "approval_rate": rate, "volume": _exact(volume)}


def _groups(rows: list[tuple[Any, ...]]) -> list[Group]:
    by_key: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_key.setdefault(str(row[0]), []).append(row)
    return [Group(key=key, **_figures(by_key[key])) for key in sorted(by_key)]


def _refunds(rows: list[tuple[str, str, int, int]]) -> RefundFigures:
    counts = {"refunds": 0, "completed": 0, "failed": 0, "processing": 0}
    volume: dict[str, int] = {}
    for status, currency, count, amount in rows:
        counts["refunds"] += count
        if status == "COMPLETED":
            counts["completed"] += count
            volume[currency] = volume.get(currency, 0) + amount
        elif status == "FAILED":
            counts["failed"] += count
        else:
            counts["processing"] += count
    return RefundFigures(**counts, volume=_exact(volume))


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def _exact(volume: dict[str, int]) -> dict[str, str]:
    return {code: format_minor(volume[code], code) for code in sorted(volume)}
