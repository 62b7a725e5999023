"""`metrics`: the ledger's figures as Prometheus metric families, computed on each scrape.

`LedgerCollector` is a custom collector: every scrape opens the ledger, reads the totals
with the same grouped queries as `stats` (over all time: Prometheus counters only grow),
and closes it again, so every process and host's work counts once, whoever serves it.
The charge-time histogram is kept incrementally: each scrape reads only the settle
events after the last one it counted (by event number), so a scrape of a big ledger
costs the grouped counts, not a walk of the log.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from paycli.ledger.stats import SETTLE_EVENTS, charge_ms
from paycli.money import format_minor
from paycli.records import UNFINISHED_STATUSES, BreakerStatus
from paycli.store import Store
from paycli.store import stats as queries

BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, float("inf"))
GATEWAY = "gateway"  # payments record no gateway of their own yet: the one shared gateway


class _Histogram:
    """Charge times counted so far, by bucket, and the event number counted up to."""

    def __init__(self) -> None:
        self.after = 0
        self.counts = [0] * len(BUCKETS_S)
        self.total_s = 0.0

    def add(self, seconds: float) -> None:
        for index, bound in enumerate(BUCKETS_S):
            if seconds <= bound:
                self.counts[index] += 1
        self.total_s += seconds


class LedgerCollector(Collector):
    """The ledger's metrics, read afresh on every scrape from a store `open_store` opens."""

    def __init__(self, open_store: Callable[[], Store]) -> None:
        self.open_store = open_store
        self.histogram = _Histogram()
        self.lock = threading.Lock()  # scrapes may come in together

    def collect(self) -> Iterator[Metric]:
        with self.lock, self.open_store() as store, store.snapshot() as read:
            yield from _payments(queries.outcomes(read.conn, ""))
            yield _declines(queries.declines(read.conn, ""))
            yield from _refunds(queries.refund_outcomes(read.conn, ""))
            yield _breakers(queries.breakers(read.conn))
            yield self._charge_times(read.conn)

    def _charge_times(self, conn: Any) -> Metric:
        seen = self.histogram
        for seq, _, payload, _ in queries.events_of_types(conn, seen.after + 1, SETTLE_EVENTS):
            took = charge_ms(payload)
            if took is not None:
                seen.add(took / 1000)
            seen.after = seq
        buckets = [(_bound(bound), count) for bound, count in zip(BUCKETS_S, seen.counts,
                                                                  strict=True)]
        family = HistogramMetricFamily(
            "paycli_gateway_request_duration_seconds",
            "Time of each charge at the gateway (the ProcessPayment step, retries included).",
            labels=["gateway"])
        family.add_metric([GATEWAY], buckets, sum_value=seen.total_s)
        return family


def _payments(rows: list[tuple[Any, ...]]) -> Iterator[Metric]:
    total = CounterMetricFamily("paycli_payments", "Payments by status, currency and gateway.",
                                labels=["status", "currency", "gateway"])
    volume = CounterMetricFamily("paycli_payment_volume", "Amount of the payments by status "
                                 "and currency, in major units.", labels=["status", "currency"])
    unfinished = 0
    for _, status, currency, count, amount in rows:
        total.add_metric([status, currency, GATEWAY], int(count))
        volume.add_metric([status, currency], float(format_minor(int(amount), currency)))
        unfinished += int(count) if status in UNFINISHED_STATUSES else 0
    yield total
    yield volume
    yield GaugeMetricFamily("paycli_payments_in_flight",
                            "Payments PENDING or PROCESSING now.", value=unfinished)


def _declines(reasons: dict[str, int]) -> Metric:
    family = CounterMetricFamily("paycli_payment_failures", "Failed payments by reason code.",
                                 labels=["reason"])
    for reason, count in sorted(reasons.items()):
        family.add_metric([reason], count)
    return family


def _refunds(rows: list[tuple[str, str, int, int]]) -> Iterator[Metric]:
    total = CounterMetricFamily("paycli_refunds", "Refunds by status and currency.",
                                labels=["status", "currency"])
    volume = CounterMetricFamily("paycli_refund_volume", "Amount of the refunds by status "
                                 "and currency, in major units.", labels=["status", "currency"])
    for status, currency, count, amount in rows:
        total.add_metric([status, currency], count)
        volume.add_metric([status, currency], float(format_minor(amount, currency)))
    yield total
    yield volume


def _breakers(rows: list[tuple[str, str]]) -> Metric:
    family = GaugeMetricFamily("paycli_gateway_breaker_state", "Each gateway breaker's state: "
                               "1 for the state it is in, 0 for the others.",
                               labels=["gateway", "state"])
    for name, state in rows or [(GATEWAY, BreakerStatus.CLOSED)]:
        for each in BreakerStatus:
            family.add_metric([name, str(each)], 1.0 if state == each else 0.0)
    return family


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)
