"""The window's figures for `stats` and `metrics`: payments by outcome, approval, exact
volume per currency, gateway latency percentiles, declines, breaker openings, refunds and
webhook breaks; and `--by` groups.

Counts and sums are grouped queries (`store.stats`) over the hourly summary rows for the
window's whole hours and over the payments for its first, partial hour; latency is each
payment's charge time (the ProcessPayment step's `duration_ms`), recorded on the payment
when it settles, in the window by when it was recorded; its percentiles are exact
nearest ranks, found through an hourly histogram and read by the database.
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
SETTLE_EVENTS = queries.SETTLE_EVENTS
PERCENTILES = (50, 95, 99)


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
        latencies = _latency(conn, window.start)
        breaks = queries.webhook_breaks(conn, window.start)
    figures = _figures(rows)
    return Stats(
        since=window.start, until=window.until.isoformat(), **figures,
        failed_rate=_rate(figures["failed"], figures["completed"] + figures["failed"]),
        gateway_latency_ms=latencies, declines=declines, breaker_opens=opens,
        refunds=_refunds(refunds), webhook_breaks=breaks, by=by,
        groups=_groups(grouped) if by else [])


def charge_durations(store: Store, window: Window) -> list[float]:
    """The gateway call time (ms) of every charge timed in `window`, smallest first."""
    with store.snapshot() as read:
        return queries.charge_times(read.conn, window.start)


def stuck(store: Store, older_than_s: float, now: datetime | None = None) -> int:
    """How many payments are PENDING or PROCESSING for longer than `older_than_s`."""
    before = (now or datetime.now(UTC)) - timedelta(seconds=older_than_s)
    with store.snapshot() as read:
        return queries.unfinished_before(read.conn, before.isoformat())


def latency(values: list[float]) -> Latency:
    """p50, p95 and p99 of `values` by nearest rank (the smallest value with at least p %
    of them at or below it)."""
    ordered = sorted(values)
    ranks = {p: ordered[_rank(p, len(ordered)) - 1] for p in PERCENTILES} if ordered else {}
    return _percentiles(ranks, len(ordered))


def _latency(conn: Any, start: str) -> Latency:
    """`latency` of the charges timed since `start`: counted from the hourly histogram,
    each percentile one indexed read within its millisecond."""
    bins = queries.charge_histogram(conn, start)
    count = sum(bins.values())
    ranks = {p: queries.charge_ranked(conn, start, _rank(p, count), bins)
             for p in PERCENTILES} if count else {}
    return _percentiles(ranks, count)


def _rank(p: int, count: int) -> int:
    """The nearest rank (from 1) of percentile `p` among `count` values."""
    return max(math.ceil(p / 100 * count), 1)


def _percentiles(ranks: dict[int, float], count: int) -> Latency:
    return Latency(p50=ranks.get(50), p95=ranks.get(95), p99=ranks.get(99), count=count)


def charge_ms(payload: str) -> float | None:
    """The ProcessPayment step's duration in a settle event's payload, if it ran."""
    return queries.charge_ms(json.loads(payload).get("steps"))


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
