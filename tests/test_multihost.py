"""The multi-host rehearsal: the bank workload with 8 worker processes, each with its own
connection to one PostgreSQL ledger (as 8 hosts would have), mixing wallet credits,
payments, refunds and `recover` runs, while the mock gateway is switched between `ok`,
`flaky`, `decline` and `pending`.

At the end (gateway `ok`, pendings settled, one last `recover`): money is conserved
(credited - charged + refunded = the wallets' total, per currency, as the gateway recorded
the charges and refunds), no wallet is negative and nothing is held, each completed payment
has exactly one approved charge (nothing charged twice), and the event log's hash chain
verifies from the first event to the last, with `replay-events` consistent.

The workers are test_bank's, with `recover` added to their mix; test_bank runs the same
workload against one SQLite file.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from helpers import LedgerUrl, check_invariants, paycli_env, run_json
from test_bank import SEED, WORKER, gathered, start_process, stir, wait_for

from paycli.devtools.mock_process import MockGatewayProcess
from paycli.ledger.chain import verify_chain
from paycli.store import Store

HOSTS = 8
OPERATIONS = 40  # per host
ALLOWED_EXITS = {"credit": {0}, "pay": {0, 3, 4, 5, 10}, "refund": {0, 5, 9, 10},
                 "recover": {0, 5, 10}}

# test_bank's worker, with `recover` (no arguments but --json) in one operation of ten.
HOST_WORKER = WORKER.replace(
    'kind = rng.choices(("credit", "pay", "refund"), (3, 5, 2))[0]',
    'kind = rng.choices(("credit", "pay", "refund", "recover"), (3, 4, 2, 1))[0]',
).replace(
    '        else:\n            amount = rng.choice((None, "1", "5", "100000"))',
    '        elif kind == "recover":\n            args = ("recover",)\n'
    '        else:\n            amount = rng.choice((None, "1", "5", "100000"))',
)
assert HOST_WORKER.count("recover") == 3, "test_bank's worker changed: update HOST_WORKER"


@pytest.mark.slow
class TestMultiHost:
    def test_eight_hosts_share_one_ledger_without_losing_money(
            self, db_path: Path, backend: str, tmp_path: Path, gateway: MockGatewayProcess
    ) -> None:
        """8 processes with their own connections: no money lost or made, nothing charged
        twice, nothing negative, one unbroken hash chain."""
        if not isinstance(db_path, LedgerUrl):
            pytest.skip("the multi-host rehearsal is PostgreSQL's (test_bank runs SQLite's)")
        env = paycli_env(gateway.url, PAYCLI_BREAKER_FAILURES="1000")
        readies = [tmp_path / f"ready-{n}" for n in range(HOSTS)]
        start = tmp_path / "start"
        hosts = [start_process(HOST_WORKER, str(db_path), str(readies[n]), str(start),
                               f"h{n}", str(SEED + n), str(OPERATIONS), env=env)
                 for n in range(HOSTS)]
        try:
            wait_for(readies, hosts)
            began = time.monotonic()
            start.touch()
            switches = stir(gateway, hosts, random.Random(SEED))
            outcomes = gathered(hosts)
            elapsed = time.monotonic() - began
        finally:
            for proc in hosts:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        ops = self.check_hosts(outcomes)
        gateway.set_mode("ok")
        time.sleep(0.4)  # a charge left pending settles 150 ms after it was made
        code, recovered = run_json(db_path, "recover", env=env)
        assert code == 0, recovered
        check_invariants(db_path, gateway.charges(), gateway.refunds())
        events = self.check_chain(db_path, env)
        counts = Counter(f"{op['kind']} exit {op['code']}" for op in ops)
        print(f"\nmulti-host: {HOSTS} processes, {len(ops)} operations in {elapsed:.1f} s, "
              f"{events} events; " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
              + f"; gateway mode switches {dict(switches)}; violations: 0")

    def check_hosts(self, outcomes: list[tuple[str, str, int]]) -> list[dict[str, Any]]:
        """Every host finished; every command gave one JSON object, an allowed exit code
        and nothing on stderr (no serialisation failure or deadlock surfaced)."""
        ops: list[dict[str, Any]] = []
        for out, err, code in outcomes:
            assert code == 0, err
            ops.extend(json.loads(out))
        for op in ops:
            assert op["stdout_lines"] == 1 and op["json_object"], op
            assert op["code"] in ALLOWED_EXITS[op["kind"]], op
            assert op["stderr"] == "", op
        assert len(ops) == HOSTS * OPERATIONS
        return ops

    def check_chain(self, db: Path, env: dict[str, str]) -> int:
        """One hash chain, seq 1..n without a gap, and a consistent replay."""
        with Store(str(db)) as store:
            events = list(store.read.events())
        count, broken = verify_chain(iter(events))
        assert broken is None and [e.seq for e in events] == list(range(1, count + 1))
        code, replayed = run_json(db, "replay-events", env=env)
        assert code == 0 and replayed["consistent"] and replayed["chain_ok"], replayed
        return count
