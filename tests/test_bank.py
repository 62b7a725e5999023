"""Jepsen's "bank" workload on one ledger file: concurrent writers, a snapshot reader, a
misbehaving gateway, and at the end every unit of money accounted for.

Four worker processes each run a seeded random mix of wallet credits, payments and
refunds (of their own payments and of anybody's) against the mock gateway, while this test
switches the gateway between `ok`, `flaky`, `decline` and `pending`. A fifth process reads
every account and payment in ONE read transaction (`Store.snapshot()`), again and again:
each snapshot must have every currency's balances summing to zero, no wallet's available
balance negative, and every wallet's held amount equal to the holds of its unfinished
payments (a cross-table check only a consistent snapshot passes).

How the workers drive paycli: through the real CLI entry point, `paycli.cli.app` (what
`python -m paycli` and the `paycli` script run), called as `app(argv, standalone_mode=False)`
in a loop inside one long-lived Python process per worker, with stdout and stderr captured
per command. Each command still parses its arguments, opens the ledger, builds its own
gateway client and shared breaker, runs its saga and closes everything, exactly as a
separate process would; what is saved is the ~0.3 s interpreter start-up per command,
which would otherwise eat the time budget (4 x 100 commands). The final `recover`, and
`replay-events` where it exists, run as real `python -m paycli` processes.

At the end (gateway `ok`, pendings settled, `paycli recover`): money credited - paid +
refunded equals the wallets' total per currency (paid and refunded as the gateway recorded
them); nothing is left PENDING or PROCESSING and nothing is held; the ledger agrees with
the gateway charge by charge; no command saw "database is locked"; `PRAGMA
integrity_check` is ok and the event log's hash chain verifies.
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT, check_invariants, paycli_env, run_json

from paycli.cli import app
from paycli.devtools.mock_process import MockGatewayProcess
from paycli.ledger.chain import verify_chain
from paycli.money import parse_amount
from paycli.store import Store

SEED = 20_241_127
WORKERS = 4
OPERATIONS = 100  # per worker
RUN_TIMEOUT_S = 90.0
MODES = ("ok", "flaky", "decline", "pending")
ALLOWED_EXITS = {"credit": {0}, "pay": {0, 3, 4, 5, 10}, "refund": {0, 5, 9, 10}}

WORKER = r"""
import contextlib, io, json, random, sys, time
from pathlib import Path
from paycli.cli import app
from paycli.store import Store

db, ready, start, name, seed, count = sys.argv[1:7]
rng = random.Random(int(seed))
USERS, CURRENCIES = ("u0", "u1", "u2", "u3"), ("USD", "JPY")


def call(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = app(["--db", db, *args, "--json"], standalone_mode=False)
    return int(code or 0), out.getvalue(), err.getvalue()


def refund_target(store, mine):
    others = [p.id for p in store.read.payments(status="COMPLETED", limit=30)]
    pool = mine if mine and rng.random() < 0.6 else others
    return rng.choice(pool) if pool else None


ops, mine = [], []
Path(ready).touch()
while not Path(start).exists():
    time.sleep(0.002)
with Store(db) as store:  # only to pick other workers' payments to refund
    for n in range(int(count)):
        kind = rng.choices(("credit", "pay", "refund"), (3, 5, 2))[0]
        user, currency = rng.choice(USERS), rng.choice(CURRENCIES)
        target = refund_target(store, mine) if kind == "refund" else None
        if kind == "refund" and target is None:
            kind = "credit"
        if kind == "credit":
            amount = str(rng.randint(1, 200))
            args = ("wallet", "credit", "--user", user, "--amount", amount, "--currency",
                    currency, "--idempotency-key", f"{name}-{n}")
        elif kind == "pay":
            amount = str(rng.randint(1, 150))
            args = ("pay", "--user", user, "--amount", amount, "--currency", currency,
                    "--wait", "3", "--order-id", f"{name}-{n}")
        else:
            amount = rng.choice((None, "1", "5", "100000"))
            extra = ("--amount", amount) if amount else ()
            args = ("refund", target, "--reason", "bank test", *extra)
        code, out, err = call(*args)
        lines = out.splitlines()
        result = json.loads(lines[0]) if len(lines) == 1 else None
        if kind == "pay" and code == 0:
            mine.append(result["payment_id"])
        ops.append({"kind": kind, "code": code, "currency": result and result.get("currency"),
                    "amount": result and result.get("amount"), "stdout_lines": len(lines),
                    "json_object": isinstance(result, dict), "stderr": err})
print(json.dumps(ops))
"""

READER = r"""
import json, sys, time
from collections import Counter
from pathlib import Path
from paycli.store import Store

db, ready, stop = sys.argv[1:4]
reads, busy, violations = 0, 0, []
with Store(db) as store:
    Path(ready).touch()
    while not Path(stop).exists():
        with store.snapshot() as read:
            accounts = read.accounts()
            sums = read.currency_sums()
            payments = read.payments()
        reads += 1
        totals, holds = Counter(), Counter()
        for account in accounts:
            totals[account.currency] += account.balance
        for payment in payments:
            if payment.status in ("PENDING", "PROCESSING") and payment.hold_id:
                holds[(payment.user_id, payment.currency)] += payment.amount
        wallets = [a for a in accounts if a.kind == "wallet"]
        busy += any(a.held for a in wallets)
        problems = [f"{c} sums to {t}" for c, t in totals.items() if t]
        problems += [f"sum query {sums} != accounts {dict(totals)}"] if sums != dict(totals) else []
        problems += [f"{a.user_id} {a.currency} available {a.available}"
                     for a in wallets if a.available < 0]
        problems += [f"{a.user_id} {a.currency} held {a.held} != holds "
                     f"{holds[(a.user_id, a.currency)]}" for a in wallets
                     if a.held != holds[(a.user_id, a.currency)]]
        if problems and len(violations) < 10:
            violations.append({"read": reads, "problems": problems})
        time.sleep(0.005)
print(json.dumps({"reads": reads, "reads_with_holds": busy, "violations": violations}))
"""


def start_process(script: str, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """A Python process running `script` with `args`, from the repository root."""
    return subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)


def wait_for(paths: list[Path], procs: list[subprocess.Popen[str]]) -> None:
    """Wait until every path exists, failing early if a process died."""
    deadline = time.monotonic() + 30
    while not all(path.exists() for path in paths):
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"a process exited early: {proc.communicate()}")
        assert time.monotonic() < deadline, "the processes never became ready"
        time.sleep(0.01)


def stir(gateway: MockGatewayProcess, procs: list[subprocess.Popen[str]], rng: random.Random
         ) -> Counter[str]:
    """Switch the gateway's mode until every worker is done: every mode in each round,
    in a random order, for a random short while."""
    switches: Counter[str] = Counter()
    deadline = time.monotonic() + RUN_TIMEOUT_S
    schedule: list[str] = []
    while any(proc.poll() is None for proc in procs):
        assert time.monotonic() < deadline, "the workers did not finish in time"
        if not schedule:
            schedule = rng.sample(MODES, len(MODES))
        mode = schedule.pop()
        gateway.set_mode(mode, count=2 if mode == "flaky" else None,
                         latency_ms=150 if mode == "pending" else None)
        switches[mode] += 1
        time.sleep(rng.uniform(0.1, 0.3))
    return switches


def gathered(procs: list[subprocess.Popen[str]]) -> list[tuple[str, str, int]]:
    """(stdout, stderr, exit code) of each process, once it ends."""
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=RUN_TIMEOUT_S)
        outcomes.append((out, err, proc.returncode))
    return outcomes


def minor(amount: str, currency: str) -> int:
    """A decimal amount as minor units."""
    return parse_amount(amount, currency).minor


def has_command(name: str) -> bool:
    """Whether this paycli has the command `name` (others are adding commands)."""
    import typer

    group: Any = typer.main.get_command(app)
    return name in group.commands


@pytest.mark.slow
class TestBank:
    def test_money_is_conserved_under_concurrency_and_gateway_chaos(
            self, db_path: Path, tmp_path: Path, gateway: MockGatewayProcess) -> None:
        """Under concurrency and gateway chaos no snapshot is inconsistent, no money is lost."""
        Store(str(db_path)).close()
        env = paycli_env(gateway.url)
        readies = [tmp_path / f"ready-{n}" for n in range(WORKERS + 1)]
        start, stop = tmp_path / "start", tmp_path / "stop"
        workers = [start_process(WORKER, str(db_path), str(readies[n]), str(start), f"w{n}",
                                 str(SEED + n), str(OPERATIONS), env=env)
                   for n in range(WORKERS)]
        reader = start_process(READER, str(db_path), str(readies[-1]), str(stop), env=env)
        try:
            wait_for(readies, [*workers, reader])
            began = time.monotonic()
            start.touch()
            switches = stir(gateway, workers, random.Random(SEED))
            worker_outcomes = gathered(workers)
            elapsed = time.monotonic() - began
        finally:
            stop.touch()
            reader_outcome = gathered([reader])[0]
            for proc in [*workers, reader]:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()

        ops = self.check_workers(worker_outcomes)
        reads = self.check_reader(reader_outcome)
        gateway.set_mode("ok")
        time.sleep(0.4)  # a charge left pending settles 150 ms after it was made
        code, recovered = run_json(db_path, "recover", env=env)
        assert code == 0, recovered
        self.check_money(db_path, gateway, ops)
        self.check_files(db_path, env)
        self.report(ops, reads, switches, recovered, elapsed)

    def check_workers(self, outcomes: list[tuple[str, str, int]]) -> list[dict[str, Any]]:
        """Every worker finished, every command gave one JSON object, an allowed exit
        code and an empty stderr (so no "database is locked" and no traceback)."""
        ops: list[dict[str, Any]] = []
        for out, err, code in outcomes:
            assert code == 0 and "locked" not in err, err
            ops.extend(json.loads(out))
        for op in ops:
            assert op["stdout_lines"] == 1 and op["json_object"], op
            assert op["code"] in ALLOWED_EXITS[op["kind"]], op
            assert op["stderr"] == "", op
        assert len(ops) == WORKERS * OPERATIONS
        return ops

    def check_reader(self, outcome: tuple[str, str, int]) -> dict[str, Any]:
        """The reader saw only consistent snapshots, and saw many of them."""
        out, err, code = outcome
        assert code == 0 and "locked" not in err, err
        reads: dict[str, Any] = json.loads(out)
        assert reads["violations"] == [], reads["violations"]
        assert reads["reads"] >= 50 and reads["reads_with_holds"] >= 1, reads
        return reads

    def check_money(self, db: Path, gateway: MockGatewayProcess, ops: list[dict[str, Any]]) -> None:
        """Credited - paid + refunded = the wallets' total, and ledger and gateway agree."""
        charges, refunds = gateway.charges(), gateway.refunds()
        check_invariants(db, charges, refunds)
        expected: Counter[str] = Counter()
        for op in ops:
            if op["kind"] == "credit":
                expected[op["currency"]] += minor(op["amount"], op["currency"])
        currency_of = {c["id"]: c["currency"] for c in charges}
        for charge in charges:
            if charge["status"] == "approved":
                expected[charge["currency"]] -= minor(charge["amount"], charge["currency"])
        for refund in refunds:
            if refund["status"] == "refunded":
                currency = currency_of[refund["external_id"]]
                expected[currency] += minor(refund["amount"], currency)
        with Store(str(db)) as store:
            wallets: Counter[str] = Counter()
            for account in store.read.accounts():
                if account.kind == "wallet":
                    wallets[account.currency] += account.balance
            assert +wallets == +expected, (wallets, expected)
            assert not store.read.unfinished_payments() and not store.read.unfinished_refunds()

    def check_files(self, db: Path, env: dict[str, str]) -> None:
        """A SQLite file passes `PRAGMA integrity_check`; the hash chain (and replay)
        verify on either engine."""
        if not str(db).startswith("postgresql://"):
            conn = sqlite3.connect(db)
            try:
                assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            finally:
                conn.close()
        with Store(str(db)) as store:
            count, broken = verify_chain(store.read.events())
            assert broken is None and count == store.read.event_count() > 0
        if has_command("replay-events"):
            code, replayed = run_json(db, "replay-events", env=env)
            assert code == 0 and replayed["chain_ok"] and replayed["consistent"], replayed

    def report(self, ops: list[dict[str, Any]], reads: dict[str, Any],
               switches: Counter[str], recovered: dict[str, Any], elapsed: float) -> None:
        """Print the run's figures (shown with `pytest -s`)."""
        outcomes = Counter(f"{op['kind']} exit {op['code']}" for op in ops)
        print(f"\nbank: {WORKERS} worker processes + 1 reader, {len(ops)} operations in "
              f"{elapsed:.1f} s")
        print("  operations: " + ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items())))
        print(f"  gateway mode switches: {dict(switches)}")
        print(f"  snapshot reads: {reads['reads']} ({reads['reads_with_holds']} with holds "
              f"in flight), violations: {len(reads['violations'])}")
        print(f"  recover: {len(recovered['resolved'])} resolved, "
              f"{len(recovered['unresolved'])} unresolved")
        credited: dict[str, Decimal] = {}
        for op in ops:
            if op["kind"] == "credit":
                credited[op["currency"]] = credited.get(op["currency"], 0) + Decimal(op["amount"])
        print("  credited: " + ", ".join(f"{v} {k}" for k, v in sorted(credited.items())))
