"""What merchant endpoints cost `pay`: single payments per second through the pay saga
(in-process gateway, one thread, as `paycli bench --mode single`) on a SQLite ledger

    none     no endpoint
    idle     3 endpoints (every event type), no `deliver` running
    follow   3 endpoints and `webhooks deliver --follow` running beside, sending each
             payment's event to a local receiver while the payments are made

    python scripts/pay_with_endpoints.py [--payments 1000] [--rounds 3]

Each round runs the three cases one after the other, each on a fresh ledger, so a noisy
machine weighs on all of them alike. The receiver is `delivery_load`'s (its own process,
answers 200 at once). Printed: payments/s per round and case, the median and range per
case, and how many deliveries `deliver` had made by the end of its case.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from delivery_load import receiver

from paycli.config import Settings
from paycli.gateway.inprocess import InProcessGateway
from paycli.ledger import wallet
from paycli.money import Money
from paycli.saga import pay as saga
from paycli.saga.core import SagaEnv
from paycli.saga.steps import SilentReporter
from paycli.saga.wiring import resilience
from paycli.store import Store
from paycli.store import webhooks as rows
from paycli.webhooks import endpoints

CASES = ("none", "idle", "follow")
AMOUNT = Money(100, "USD")
ENDPOINTS = 3


def payments_per_second(store: Store, count: int) -> float:
    """`count` payments through the saga, one after the other (the wallet credited
    before); payments per second."""
    settings = Settings(overrides={"gateway_url": "http://127.0.0.1:9"},
                        env={"PAYCLI_GATEWAY_API_KEY": "bench-api-key"})
    gateway = InProcessGateway()
    env = SagaEnv(store, lambda: gateway, lambda on: resilience(on, settings))
    reporter = SilentReporter()
    started = time.perf_counter()
    for _ in range(count):
        outcome = saga.pay(env, saga.PayRequest("shopper", AMOUNT, wait_s=0), reporter)
        assert outcome.error is None, outcome.error
    return count / (time.perf_counter() - started)


def sender(db: Path) -> subprocess.Popen[bytes]:
    """`paycli webhooks deliver --follow` on `db`, started once the ledger exists."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYCLI_")}
    return subprocess.Popen([sys.executable, "-m", "paycli", "--db", str(db), "webhooks",
                             "deliver", "--follow"], env=env, stdout=subprocess.DEVNULL)


def delivered(store: Store, count: int, seconds: float = 60.0) -> None:
    """Until `count` deliveries were made."""
    deadline = time.monotonic() + seconds
    while len(rows.deliveries(store.read, status="delivered", limit=count)) < count:
        if time.monotonic() > deadline:
            raise SystemExit("deliver --follow sent nothing within a minute")
        time.sleep(0.05)


def one_case(case: str, url: str, count: int) -> tuple[float, int | None]:
    """Payments per second in one case, and deliveries made meanwhile (following)."""
    with tempfile.TemporaryDirectory() as workdir:
        db = Path(workdir) / "ledger.db"
        with Store(str(db)) as store:
            for _ in range(0 if case == "none" else ENDPOINTS):
                endpoints.add(store, url, ["*"])
            wallet.credit(store, "shopper", Money(AMOUNT.minor * count, "USD"))
            following = sender(db) if case == "follow" else None
            try:
                if following:  # sending (the credit's events) before the payments start
                    delivered(store, ENDPOINTS)
                rate = payments_per_second(store, count)
            finally:
                if following:
                    following.terminate()
                    following.wait()
            made = len(rows.deliveries(store.read, status="delivered", limit=10**6))
        return rate, made if following else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    process, url = receiver()
    rates: dict[str, list[float]] = {case: [] for case in CASES}
    try:
        for number in range(args.rounds):
            for case in CASES:
                rate, delivered = one_case(case, url, args.payments)
                rates[case].append(rate)
                sent = "" if delivered is None else f", {delivered} deliveries made"
                print(f"round {number + 1} {case:6}: {rate:.0f} payments/s{sent}", flush=True)
    finally:
        process.kill()
    for case in CASES:
        print(f"{case:6}: median {statistics.median(rates[case]):.0f} payments/s "
              f"({min(rates[case]):.0f}-{max(rates[case]):.0f})")


if __name__ == "__main__":
    main()
