"""`paycli bench --mode batch`: the billing run's engine (group commit) measured the same
way as the single saga, beside its own raw limits.

`payments` rows go through `saga.batch.Batch` exactly as `paycli batch` runs them (groups
of 256 opened in one commit, charged from `concurrency` threads, settled together). A
row's latency is from the moment its group started opening to the moment it was settled.
Its raw limits, measured in the same run under the same conditions (`baselines`):

- storage: raw SQLite (or psycopg) doing the same work per group as paycli's commits do,
  batched the same way: one transaction inserting the group's rows, then the same number
  of further commits per group as paycli made, each updating the group's rows;
- network (with `--gateway http`): raw httpx charging the same mock gateway from the same
  number of threads.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from paycli.config import Settings
from paycli.devtools import baselines
from paycli.devtools.commits import CountedStore
from paycli.gateway.inprocess import InProcessGateway
from paycli.ledger.batchfile import BatchRow
from paycli.money import Money
from paycli.saga.batch import Batch, BatchOptions
from paycli.saga.batchrows import RowOutcome
from paycli.saga.wiring import saga_env
from paycli.store import Store

GROUP = 256


def run_batch(db: Path | str, settings: Settings, url: str | None, payments: int,
              concurrency: int, amount: Money, tick: Callable[[int], None] | None,
              finished: array[float], prefix: str = "bench"
              ) -> tuple[float, array[float], int, int]:
    """Pay `payments` rows of `amount` through the batch engine, orders `PREFIX-N`;
    (seconds, latencies in ms, failed rows, commits made). Each row's end time goes into
    `finished`."""
    opened: dict[str, float] = {}
    latencies: array[float] = array("d")  # 8 bytes a row, for a million rows
    failed = 0

    def rows() -> Iterator[BatchRow]:
        for number in range(payments):
            order = f"{prefix}-{number}"
            opened[order] = time.perf_counter()
            yield BatchRow(number + 2, f"bench_{number % concurrency + 1}", amount, order, None)

    def on_row(outcome: RowOutcome) -> None:
        nonlocal failed
        started = opened.pop(str(outcome.order_id), None)
        now = time.perf_counter()
        finished.append(now)
        if started is not None:
            latencies.append((now - started) * 1000)
        failed += outcome.status != "completed"
        if tick is not None:
            tick(1)

    shared = InProcessGateway()
    store = CountedStore(Store(str(db)))
    with store:
        # Over HTTP each charging thread makes its own client, as the raw baseline does.
        env = saga_env(store, settings, gateway=shared if url is None else None)
        started = time.perf_counter()
        try:
            Batch(env, "bat_bench", BatchOptions(concurrency=concurrency, group=GROUP),
                  on_row).run(rows())
        finally:
            env.close()
        elapsed = time.perf_counter() - started
        commits = store.commits
    return elapsed, latencies, failed, commits


def storage_limit(db: Path | str, workdir: Path, payments: int, commits: int,
                  concurrency: int) -> float:
    """Raw rows per second for the same commits per group as paycli made."""
    groups = max(1, -(-payments // GROUP))
    per_group = max(1, round(commits / groups))
    if isinstance(db, str):
        return baselines.storage_postgres_batched(db, payments, GROUP, per_group)
    return baselines.storage_batched(workdir / "baseline.db", payments, GROUP, per_group)


def report_fields(elapsed: float, latencies: list[float], failed: int, commits: int,
                  payments: int) -> dict[str, Any]:
    """What the batch run adds to the bench report."""
    return {"elapsed": elapsed, "latencies": latencies, "failed": failed,
            "commits_per_payment": round(commits / max(payments, 1), 3)}
