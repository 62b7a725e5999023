"""Two OS processes writing one ledger at the same moment lose nothing and break nothing."""

from __future__ import annotations

import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import pytest

from paycli.ledger.chain import verify_chain
from paycli.store import Store

CREDITS_PER_PROCESS = 500
START_TIMEOUT_S = 30.0
RUN_TIMEOUT_S = 120.0
MIN_INTERLEAVINGS = 50  # typically ~900 of a possible 999 hand-overs between the workers

# Each worker imports paycli, says it is ready, waits for the shared start signal, then
# opens the (not yet existing) ledger and credits one cent at a time, each in its own
# BEGIN IMMEDIATE transaction. Its idempotency keys (`w0-0000`, ...) become the events'
# correlation ids, so the log shows which worker wrote what, in which order. The short
# pause after each credit is there because SQLite's busy handler is not fair: without it
# one worker runs all its writes while the other sleeps in the handler's backoff, and the
# two would barely interleave.
WORKER = """
import sys, time
from pathlib import Path
from paycli.ledger import wallet
from paycli.money import Money
from paycli.store import Store

db, ready, start = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
name, count = sys.argv[4], int(sys.argv[5])
ready.touch()
while not start.exists():
    time.sleep(0.001)
with Store(db) as store:
    for n in range(count):
        wallet.credit(store, "shared", Money(1, "USD"), key=f"{name}-{n:04d}")
        time.sleep(0.001)
"""


def wait_for(paths: list[Path], procs: list[subprocess.Popen[bytes]]) -> None:
    """Wait until every path exists, failing early if a worker died."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not all(path.exists() for path in paths):
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"worker exited early: {proc.communicate()}")
        assert time.monotonic() < deadline, "workers never became ready"
        time.sleep(0.005)


@pytest.mark.slow
class TestTwoProcesses:
    def test_concurrent_credits_all_land(self, db_path: Path, tmp_path: Path) -> None:
        """Two processes crediting one wallet 500 times each at once lose no credit."""
        # Exactly 1000 cents, 1000 transfer.posted events, each worker's credits in its own
        # order, really interleaved, and the hash chain intact.
        start = tmp_path / "start"
        readies = [tmp_path / f"ready-{n}" for n in range(2)]
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(db_path), str(ready), str(start),
                 f"w{n}", str(CREDITS_PER_PROCESS)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )
            for n, ready in enumerate(readies)
        ]
        try:
            wait_for(readies, procs)
            start.touch()
            outcomes = [proc.communicate(timeout=RUN_TIMEOUT_S) for proc in procs]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        for proc, (_out, err) in zip(procs, outcomes, strict=True):
            assert proc.returncode == 0, err.decode()
            assert err == b""

        with Store(str(db_path)) as store:
            account = store.read.account("wallet", "shared", "USD")
            assert account is not None
            assert (account.balance, account.held) == (2 * CREDITS_PER_PROCESS, 0)
            assert store.read.currency_sums() == {"USD": 0}
            events = list(store.read.events())
            assert [e.type for e in events] == ["transfer.posted"] * (2 * CREDITS_PER_PROCESS)
            assert len({e.entity_id for e in events}) == 2 * CREDITS_PER_PROCESS
            assert verify_chain(events) == (2 * CREDITS_PER_PROCESS, None)
            for worker in ("w0", "w1"):
                keys = [e.correlation_id for e in events
                        if (e.correlation_id or "").startswith(worker)]
                assert keys == [f"{worker}-{n:04d}" for n in range(CREDITS_PER_PROCESS)]
            writers = [(e.correlation_id or "")[:2] for e in events]
            switches = sum(a != b for a, b in pairwise(writers))
            assert switches >= MIN_INTERLEAVINGS, "the workers did not really run together"
            lines = store.read.entries(account.id, 10 * CREDITS_PER_PROCESS)
            assert [line.balance for line in reversed(lines)] == list(
                range(1, 2 * CREDITS_PER_PROCESS + 1))
