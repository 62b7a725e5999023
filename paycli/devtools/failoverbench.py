"""`paycli bench --gateway http --failover`: how fast payments move to a second gateway
when the first dies, and that none is lost on the way.

Two mock gateways are started, a primary speaking paycli's protocol and a backup speaking
the Stripe-shaped one, listed in that order (`PAYCLI_GATEWAYS`). `payments` payments run
through `saga.pay` from `concurrency` threads, each with its own ledger connection and
routing; when half have ended, the primary is killed (SIGKILL). Measured: the time from
the kill to the first payment completed at the backup; the payments held (the charges in
flight at the primary as it died: their answers lost, they stay PROCESSING with their
funds held, with the primary, for `recover` once it is back, never sent elsewhere); and
the payments lost: COMPLETED with no approved charge at their gateway, or FAILED with one
at either (the primary keeps its charges in a state file, and is started again at the
end to list them), or charged at both.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from paycli.config import Settings
from paycli.devtools.mock_process import MockGatewayProcess
from paycli.devtools.report import BenchReport, Failover, Target
from paycli.ledger import wallet
from paycli.money import Money
from paycli.records import PaymentStatus
from paycli.saga import pay as saga
from paycli.saga.steps import SilentReporter
from paycli.saga.wiring import saga_env
from paycli.store import Store


def with_failover(report: BenchReport, workdir: Path, db: Path | str, amount: Money,
                  api_key: str, tick: Callable[[int], None] | None) -> BenchReport:
    """`report` with the failover run's figures and its target (nothing lost)."""
    with Store(str(db)) as store:
        for user in range(1, report.concurrency + 1):
            wallet.credit(store, f"bench_{user}",
                          Money(amount.minor * report.payments, amount.currency))
    found = run_failover(workdir, db, report.payments, report.concurrency, amount, api_key,
                         tick)
    after = "none moved" if found.failover_ms is None else f"{found.failover_ms:.0f} ms"
    target = Target(
        name="failover, the first gateway killed half way",
        measured=f"{found.lost} lost, {found.charged_twice} charged twice, {found.held} "
                 f"held for recover; the first at the second gateway {after} after the kill",
        baseline=None, ratio=None, goal="0 lost, 0 charged twice",
        met=found.lost == 0 and found.charged_twice == 0)
    return report.model_copy(update={"failover": found, "targets": [*report.targets, target]})


def run_failover(workdir: Path, db: Path | str, payments: int, concurrency: int,
                 amount: Money, api_key: str, tick: Callable[[int], None] | None) -> Failover:
    """Pay `payments` payments of `amount` (users `bench_1..concurrency`, funded), the
    primary killed half way; the figures."""
    keep = ("--state", str(workdir / "primary.json"))
    with MockGatewayProcess(api_key, *keep) as primary, \
            MockGatewayProcess(api_key, "--protocol", "stripe") as backup:
        settings = Settings(env={
            "PAYCLI_GATEWAYS": f"primary={primary.url},backup={backup.url}|stripe",
            "PAYCLI_GATEWAY_PRIMARY_API_KEY": api_key,
            "PAYCLI_GATEWAY_BACKUP_API_KEY": api_key})
        run = _Run(db, settings, payments, primary)
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for _ in pool.map(lambda number: run.one(number % concurrency + 1, amount, tick),
                              range(payments)):
                pass
        run.close()
        primary.start()  # back, with the charges it made before it died
        return run.figures({gateway: _approved(mock) for gateway, mock in
                            (("primary", primary), ("backup", backup))})


def _approved(mock: MockGatewayProcess) -> set[str]:
    return {charge["payment_id"] for charge in mock.charges()
            if charge["status"] == "approved"}


class _Run:
    """The payments, their end times, and the kill."""

    def __init__(self, db: Path | str, settings: Settings, payments: int,
                 primary: MockGatewayProcess) -> None:
        self.db, self.settings, self.half, self.primary = db, settings, payments // 2, primary
        self.ended: dict[str, float] = {}
        self.killed_at: float | None = None
        self.lock = threading.Lock()
        self.local = threading.local()
        self.stores: list[Store] = []

    def one(self, user: int, amount: Money, tick: Callable[[int], None] | None) -> None:
        if not hasattr(self.local, "env"):
            store = Store(str(self.db))
            with self.lock:
                self.stores.append(store)
            self.local.env = saga_env(store, self.settings)
        outcome = saga.pay(self.local.env, saga.PayRequest(f"bench_{user}", amount, wait_s=30),
                           SilentReporter())
        with self.lock:
            if outcome.result.payment_id is not None:
                self.ended[outcome.result.payment_id] = time.perf_counter()
            if len(self.ended) >= self.half and self.killed_at is None:
                self.primary.kill()
                self.killed_at = time.perf_counter()
        if tick is not None:
            tick(1)

    def close(self) -> None:
        for store in self.stores:
            store.close()

    def figures(self, charged: dict[str, set[str]]) -> Failover:
        """What the run came to, from the ledger and each gateway's approved charges."""
        with Store(str(self.db)) as store:
            found = [p for p in store.read.payments() if p.id in self.ended]
        completed = [p for p in found if p.status == PaymentStatus.COMPLETED]
        moved = [self.ended[p.id] for p in completed if p.gateway == "backup"
                 and self.killed_at is not None and self.ended[p.id] >= self.killed_at]
        anywhere = charged["primary"] | charged["backup"]
        uncharged = [p for p in completed if p.id not in charged.get(p.gateway, set())]
        taken = [p for p in found if p.status == PaymentStatus.FAILED and p.id in anywhere]
        twice = charged["primary"] & charged["backup"] & set(self.ended)
        return Failover(
            held=sum(not p.is_final for p in found),
            charged_twice=len(twice),
            at_primary=sum(p.gateway == "primary" for p in completed),
            at_backup=sum(p.gateway == "backup" for p in completed),
            failed=sum(p.status == PaymentStatus.FAILED for p in found),
            lost=len(uncharged) + len(taken),
            failover_ms=(round((min(moved) - self.killed_at) * 1000, 1)
                         if moved and self.killed_at is not None else None))
