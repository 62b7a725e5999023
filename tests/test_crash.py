"""The crash matrix: SIGKILL paycli at every step boundary of pay and refund, then recover.

Each case kills `PAYCLI_CRASH_RUNS` (default 10; on PostgreSQL `PAYCLI_CRASH_RUNS_PG`,
default 4) real paycli processes at one point (the fault hook of tests/faulty_paycli.py),
several payments or refunds per ledger, then runs
`paycli recover` and checks what the saga guarantees:

- killed before the gateway was called: the payment or refund ends FAILED, its hold or
  reservation released, nothing at the gateway;
- killed after the gateway answered: it ends COMPLETED exactly as the gateway has it;
- always: nothing held, every currency sums to zero, every payment and refund final, the
  ledger's charges and refunds equal the gateway's, nothing charged or refunded twice, the
  event hash chain intact; and `recover` again (or two recovers at once) changes nothing.

Kills at random instants of a slow gateway call cover the moments between the boundaries.
`PAYCLI_CRASH_SEED` fixes those instants; the seed used is printed.

The boundaries where recover must ask the gateway (killed after its call, before the
settle), and the recover tests that ask it, run against the seed gateway's protocol too.
There a payment killed after its charge went through cannot be looked up (no look-up by
payment id): `recover` leaves it PROCESSING (exit 10) and the settlement report
(`reconcile --apply`) finishes it; a refund is one per charge, and finished by `recover`
from the charge answering `refunded`.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from gateway_server import BOTH_PROTOCOLS
from helpers import check_invariants, paycli_env, reconcile_apply, run_json, spawn, wallet

from paycli.devtools.mock_process import MockGatewayProcess
from paycli.ledger.chain import verify_chain
from paycli.records import Payment, Refund
from paycli.store import Store
from paycli.store import copy as store_copy

RUNS = int(os.environ.get("PAYCLI_CRASH_RUNS", "10"))
# Under the seed's protocol: a few payments per case are enough to show the report finishing
# them together, and a charge can be refunded once.
SEED_PAY_RUNS = min(RUNS, 3)
SEED_REFUND_RUNS = 1
SEED = int(os.environ.get("PAYCLI_CRASH_SEED", str(time.time_ns() % 1_000_000)))
PG_RUNS = int(os.environ.get("PAYCLI_CRASH_RUNS_PG", "4"))  # the same matrix, fewer kills each
PARALLEL = 4  # paycli processes alive at once: enough overlap, few enough for 2 cores
SLOW_MS = 300
PAY_MINOR = 1000  # each payment: 10.00 USD
REFUND_MINOR = 100  # each refund: 1.00 USD
FUNDS_MINOR = 100_000

PAY_STEPS = ("CheckWalletBalance", "CreatePayment", "ReserveFunds", "ProcessPayment",
             "SettlePayment")
REFUND_STEPS = ("CheckRefundable", "ReserveRefund", "ProcessRefund", "SettleRefund")


@dataclass(frozen=True)
class Boundary:
    """A kill point and what the ledger shows before and after `recover`.

    `found` is the status the killed saga left (None: nothing was written), `final` the
    status `recover` must end it in, `reserved` whether money is held or reserved meanwhile.
    """

    fault: str
    found: str | None
    final: str | None
    reserved: bool = False

    def __str__(self) -> str:
        return self.fault


# CheckWalletBalance, CreatePayment and ReserveFunds are the phases of one transaction,
# committed as ReserveFunds ends: killed inside it, nothing was written; killed after it,
# the payment is PROCESSING, uncharged, and recover finds no charge at the gateway.
PAY_BOUNDARIES = [
    Boundary("before:CheckWalletBalance", None, None),
    Boundary("after:CheckWalletBalance", None, None),
    Boundary("before:CreatePayment", None, None),
    Boundary("after:CreatePayment", None, None),
    Boundary("before:ReserveFunds", None, None),
    Boundary("after:ReserveFunds", "PROCESSING", "FAILED", reserved=True),
    Boundary("before:ProcessPayment", "PROCESSING", "FAILED", reserved=True),
    Boundary("after:ProcessPayment", "PROCESSING", "COMPLETED", reserved=True),
    Boundary("before:SettlePayment", "PROCESSING", "COMPLETED", reserved=True),
    Boundary("after:SettlePayment", "COMPLETED", "COMPLETED"),
]
REFUND_BOUNDARIES = [
    Boundary("before:CheckRefundable", None, None),
    Boundary("after:CheckRefundable", None, None),
    Boundary("before:ReserveRefund", None, None),
    Boundary("after:ReserveRefund", "PENDING", "FAILED", reserved=True),
    Boundary("before:ProcessRefund", "PENDING", "FAILED", reserved=True),
    Boundary("after:ProcessRefund", "PROCESSING", "COMPLETED", reserved=True),
    Boundary("before:SettleRefund", "PROCESSING", "COMPLETED", reserved=True),
    Boundary("after:SettleRefund", "COMPLETED", "COMPLETED"),
]


def runs_on(db: Path) -> int:
    """Kills per boundary: `RUNS` on SQLite, `PG_RUNS` on PostgreSQL (the engine's side of
    a kill is its transaction, the same at every kill: fewer runs keep the suite short)."""
    return PG_RUNS if str(db).startswith("postgresql://") else RUNS


def cases(boundaries: list[Boundary]) -> list[Any]:
    """(boundary, protocol): every boundary under the full protocol, and under the seed's
    those where recover must ask the gateway about a call made (killed after the call,
    before the settle)."""
    full = [pytest.param(b, "full", id=f"{b}-full") for b in boundaries]
    return full + [pytest.param(b, "seed", id=f"{b}-seed") for b in boundaries
                   if b.found == "PROCESSING" and b.final == "COMPLETED"]


class TestMatrix:
    def test_covers_every_step_boundary(self) -> None:
        """Every named step of both sagas is killed before and after."""
        assert {b.fault for b in PAY_BOUNDARIES} == {
            f"{when}:{step}" for step in PAY_STEPS for when in ("before", "after")}
        assert {b.fault for b in REFUND_BOUNDARIES} == {
            f"{when}:{step}" for step in REFUND_STEPS for when in ("before", "after")}


# --- running and killing paycli ---------------------------------------------------------


def run_all(db: Path, commands: list[tuple[list[str], str]], env: dict[str, str]
            ) -> list[tuple[int, str]]:
    """Run `paycli ARGS --json` killed at `FAULT_AT=FAULT` (tests/faulty_paycli.py) for each
    (ARGS, FAULT), at most PARALLEL at once; returns each (return code, stdout) in order."""
    results: list[tuple[int, str]] = []
    for start in range(0, len(commands), PARALLEL):
        batch = [spawn(db, *args, "--json", env={**env, "FAULT_AT": fault})
                 for args, fault in commands[start:start + PARALLEL]]
        for process in batch:
            out, err = process.communicate(timeout=60)
            assert "Traceback" not in err, err
            results.append((process.returncode, out))
    return results


def kill_all(db: Path, commands: list[tuple[list[str], str]], env: dict[str, str]) -> int:
    """Run the commands, asserting every one died by SIGKILL; returns how many did."""
    codes = [code for code, _ in run_all(db, commands, env)]
    assert codes == [-9] * len(commands), codes
    return len(codes)


def recover(db: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    """`paycli recover --json`, which must resolve everything; returns what it resolved."""
    code, out = run_json(db, "recover", env=env)
    assert code == 0 and out["unresolved"] == [], out
    return list(out["resolved"])


def finish_charged(db: Path, env: dict[str, str], gateway: MockGatewayProcess
                   ) -> list[dict[str, Any]]:
    """Finish payments whose charge went through: `recover` under the full protocol; under
    the seed's, which cannot look them up by payment id, recover leaves them (exit 10)
    and the settlement report (`reconcile --apply`) finishes them. Returns what was
    resolved."""
    if not gateway.is_seed:
        return recover(db, env)
    code, out = run_json(db, "recover", env=env)
    assert code == 10 and out["resolved"] == [] and out["unresolved"], out
    assert all("paycli reconcile" in u["reason"] for u in out["unresolved"]), out
    return list(reconcile_apply(db, env)["resolved"])


def pay_args(user: str = "alice") -> list[str]:
    """The arguments of one 10.00 USD payment."""
    return ["pay", "--user", user, "--amount", str(PAY_MINOR // 100)]


def refund_args(payment_id: str) -> list[str]:
    """The arguments of one 1.00 USD refund."""
    return ["refund", payment_id, "--amount", str(REFUND_MINOR // 100)]


# --- reading the ledger -------------------------------------------------------------------


def fund(db: Path, env: dict[str, str], user: str = "alice") -> None:
    """Credit 1000.00 USD to `user`."""
    code, _ = run_json(db, "wallet", "credit", "--user", user, "--amount",
                       str(FUNDS_MINOR // 100), env=env)
    assert code == 0


def completed_payment(db: Path, env: dict[str, str], amount: str = "100") -> str:
    """Make one COMPLETED payment for alice; returns its id."""
    code, out = run_json(db, "pay", "--user", "alice", "--amount", amount, env=env)
    assert code == 0 and out["status"] == "COMPLETED", out
    return str(out["payment_id"])


def payments(db: Path) -> list[Payment]:
    """Every payment in the ledger."""
    with Store(str(db)) as store:
        return store.read.payments()


def all_refunds(db: Path) -> list[Refund]:
    """Every refund in the ledger."""
    with Store(str(db)) as store:
        return [r for p in store.read.payments() for r in store.read.refunds(p.id)]


def held(db: Path) -> int:
    """Everything held on wallets, in minor units."""
    with Store(str(db)) as store:
        return sum(a.held for a in store.read.accounts())


def snapshot(db: Path) -> dict[str, Any]:
    """Balances, holds, payment and refund states and the event count: what recover could
    change."""
    with Store(str(db)) as store:
        reader = store.read
        pays = reader.payments()
        return {
            "accounts": [(a.kind, a.user_id, a.currency, a.balance, a.held)
                         for a in reader.accounts()],
            "payments": {p.id: (p.status, p.gateway_ref, p.refunded, p.refund_reserved)
                         for p in pays},
            "refunds": {r.id: (r.status, r.transfer_id is not None) for p in pays
                        for r in reader.refunds(p.id)},
            "events": reader.event_count(),
        }


def assert_consistent(db: Path, gateway: MockGatewayProcess) -> dict[str, int]:
    """Every invariant of a settled ledger, against the gateway's own record."""
    charges, gateway_refunds = gateway.charges(), gateway.refunds()
    statuses = check_invariants(db, charges, gateway_refunds)
    keys = Counter(r["idempotency_key"] for r in gateway_refunds)
    assert all(n == 1 for n in keys.values()), f"refunded twice: {keys}"
    completed = {r.gateway_key for r in all_refunds(db) if r.status == "COMPLETED"}
    assert completed == {r["idempotency_key"] for r in gateway_refunds
                         if r["status"] == "refunded"}
    assert all(r.is_final for r in all_refunds(db))
    assert all(p.refund_reserved == 0 for p in payments(db))
    with Store(str(db)) as store:
        count, broken = verify_chain(store.read.events())
    assert broken is None and count > 0, broken
    return statuses


def assert_recover_changes_nothing(db: Path, env: dict[str, str]) -> None:
    """A second `recover` resolves nothing and leaves the ledger exactly as it was."""
    before = snapshot(db)
    assert recover(db, env) == []
    assert snapshot(db) == before


def report(record_property: Callable[[str, object], None], name: str, **counts: int) -> None:
    """Show a case's counts in the test output and the junit report."""
    for key, value in counts.items():
        record_property(key, value)
    print(f"crash {name}: " + " ".join(f"{k}={v}" for k, v in counts.items()))


@pytest.fixture
def env(gateway: MockGatewayProcess) -> dict[str, str]:
    """A paycli environment pointed at the test's mock gateway."""
    return paycli_env(gateway.url)


# --- the matrix ---------------------------------------------------------------------------


@pytest.mark.slow
class TestPayBoundaries:
    @pytest.mark.parametrize(("boundary", "protocol"), cases(PAY_BOUNDARIES),
                             indirect=["protocol"])
    def test_kill_then_recover(self, db_path: Path, env: dict[str, str],
                               gateway: MockGatewayProcess, boundary: Boundary,
                               record_property: Callable[[str, object], None]) -> None:
        """Killed at this boundary, every payment is finished by recover as the saga
        promises (FAILED before the charge, COMPLETED after), with the invariants held;
        under the seed's protocol what was charged is finished by the settlement report."""
        runs = SEED_PAY_RUNS if gateway.is_seed else runs_on(db_path)
        fund(db_path, env)
        kills = kill_all(db_path, [(pay_args(), boundary.fault)] * runs, env)
        found = payments(db_path)
        expected = 0 if boundary.found is None else runs
        assert [p.status for p in found] == [boundary.found] * expected
        assert held(db_path) == (runs * PAY_MINOR if boundary.reserved else 0)
        charged = runs if boundary.final == "COMPLETED" else 0
        assert len(gateway.charges()) == charged

        if boundary.found == "PROCESSING":
            resolved = finish_charged(db_path, env, gateway)
        else:
            resolved = recover(db_path, env)
        unfinished = 0 if boundary.found in (None, "COMPLETED") else runs
        assert len(resolved) == unfinished
        assert {r["status"] for r in resolved} <= {boundary.final}
        assert [p.status for p in payments(db_path)] == [boundary.final] * expected
        statuses = assert_consistent(db_path, gateway)
        with Store(str(db_path)) as store:
            alice = store.read.account("wallet", "alice", "USD")
        assert alice is not None and alice.balance == FUNDS_MINOR - charged * PAY_MINOR
        assert_recover_changes_nothing(db_path, env)
        report(record_property, f"pay {boundary}", kills=kills, payments=len(found),
               charged=charged, recovered=len(resolved), **statuses)


@pytest.mark.slow
class TestRefundBoundaries:
    @pytest.mark.parametrize(("boundary", "protocol"), cases(REFUND_BOUNDARIES),
                             indirect=["protocol"])
    def test_kill_then_recover(self, db_path: Path, env: dict[str, str],
                               gateway: MockGatewayProcess, boundary: Boundary,
                               record_property: Callable[[str, object], None]) -> None:
        """Killed at this boundary, every refund is finished by recover as the saga
        promises (FAILED and released before the gateway call, COMPLETED and credited
        after), with the invariants held."""
        runs = SEED_REFUND_RUNS if gateway.is_seed else runs_on(db_path)
        fund(db_path, env)
        payment_id = completed_payment(db_path, env)
        kills = kill_all(db_path, [(refund_args(payment_id), boundary.fault)] * runs, env)
        found = all_refunds(db_path)
        expected = 0 if boundary.found is None else runs
        assert [r.status for r in found] == [boundary.found] * expected
        [payment] = payments(db_path)
        assert payment.refund_reserved == (runs * REFUND_MINOR if boundary.reserved else 0)
        refunded = runs if boundary.final == "COMPLETED" else 0
        assert len(gateway.refunds()) == refunded

        resolved = recover(db_path, env)
        unfinished = 0 if boundary.found in (None, "COMPLETED") else runs
        assert len(resolved) == unfinished
        assert {r["status"] for r in resolved} <= {boundary.final}
        assert [r.status for r in all_refunds(db_path)] == [boundary.final] * expected
        [payment] = payments(db_path)
        assert payment.refunded == refunded * REFUND_MINOR
        assert payment.status == ("PARTIALLY_REFUNDED" if refunded else "COMPLETED")
        assert_consistent(db_path, gateway)
        with Store(str(db_path)) as store:
            alice = store.read.account("wallet", "alice", "USD")
        assert alice is not None
        assert alice.balance == FUNDS_MINOR - 10_000 + refunded * REFUND_MINOR
        assert_recover_changes_nothing(db_path, env)
        report(record_property, f"refund {boundary}", kills=kills, payments=1,
               refunds=len(found), refunded=refunded, recovered=len(resolved))


# --- random instants ----------------------------------------------------------------------


def instants(rng: random.Random, low: float = 0.05, high: float = 0.5) -> list[float]:
    """RUNS kill delays spread over [low, high): one random instant in each equal slice."""
    width = (high - low) / RUNS
    return [round(low + width * (i + rng.random()), 3) for i in range(RUNS)]


def assert_killed_in_the_call(results: list[tuple[int, str]], delays: list[float]) -> int:
    """Each process died by SIGKILL or finished COMPLETED, and every one whose kill came well
    inside the 300 ms gateway call died; returns how many died."""
    for (code, out), delay in zip(results, delays, strict=True):
        assert code in (-9, 0), (code, out)
        assert code == -9 or json.loads(out)["status"] == "COMPLETED", out
        assert code == -9 or delay >= 0.2, f"not killed {delay}s into a {SLOW_MS} ms call"
    return sum(code == -9 for code, _ in results)


@pytest.mark.slow
class TestRandomInstants:
    def test_kills_during_a_slow_charge(self, db_path: Path, env: dict[str, str],
                                        gateway: MockGatewayProcess,
                                        record_property: Callable[[str, object], None]
                                        ) -> None:
        """Killed at random instants around a 300 ms charge: each payment ends COMPLETED
        if and only if the gateway holds its charge, and nothing stays held."""
        rng = random.Random(SEED)
        delays = instants(rng)
        fund(db_path, env)
        gateway.set_mode("slow", latency_ms=SLOW_MS)
        results = run_all(db_path, [(pay_args(), f"during:ProcessPayment:{d}")
                                    for d in delays], env)
        kills = assert_killed_in_the_call(results, delays)
        time.sleep(SLOW_MS / 1000 + 0.2)  # the mock has decided every request it was sent
        resolved = recover(db_path, env)
        gateway.set_mode("ok")
        statuses = assert_consistent(db_path, gateway)
        assert sum(statuses.values()) == len(payments(db_path)) <= RUNS
        assert_recover_changes_nothing(db_path, env)
        report(record_property, f"pay during:ProcessPayment seed={SEED}", kills=kills,
               payments=sum(statuses.values()), recovered=len(resolved), **statuses)

    def test_kills_during_a_slow_refund(self, db_path: Path, env: dict[str, str],
                                        gateway: MockGatewayProcess,
                                        record_property: Callable[[str, object], None]
                                        ) -> None:
        """Killed at random instants around a 300 ms refund: each refund ends COMPLETED
        if and only if the gateway made it, and no reservation is left."""
        rng = random.Random(SEED + 1)
        delays = instants(rng)
        fund(db_path, env)
        payment_id = completed_payment(db_path, env)
        gateway.set_mode("slow", latency_ms=SLOW_MS)
        results = run_all(db_path, [(refund_args(payment_id), f"during:ProcessRefund:{d}")
                                    for d in delays], env)
        kills = assert_killed_in_the_call(results, delays)
        time.sleep(SLOW_MS / 1000 + 0.2)
        resolved = recover(db_path, env)
        gateway.set_mode("ok")
        assert_consistent(db_path, gateway)
        refunds = Counter(r.status for r in all_refunds(db_path))
        assert sum(refunds.values()) == RUNS
        [payment] = payments(db_path)
        assert payment.refunded == refunds["COMPLETED"] * REFUND_MINOR
        assert_recover_changes_nothing(db_path, env)
        report(record_property, f"refund during:ProcessRefund seed={SEED + 1}", kills=kills,
               refunds=RUNS, recovered=len(resolved), **refunds)


# --- recover against recover --------------------------------------------------------------


def copy_ledger(db: Path, to: Path) -> None:
    """A consistent copy of a ledger: SQLite's online backup of a file, `db copy`'s row
    copy of a PostgreSQL ledger into the file `to`."""
    if "://" in str(db):
        with Store(str(db)) as source, Store(str(to)) as target:
            store_copy.copy_ledger(source, target)
        return
    source, target = sqlite3.connect(db), sqlite3.connect(to)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


def crash_everything(db: Path, env: dict[str, str]) -> int:
    """Leave payments and refunds killed at every point where recover has work to do."""
    payment_id = completed_payment(db, env)
    unfinished = [b.fault for b in PAY_BOUNDARIES if b.found in ("PENDING", "PROCESSING")]
    unfinished_refunds = [b.fault for b in REFUND_BOUNDARIES
                          if b.found in ("PENDING", "PROCESSING")]
    commands = [(pay_args(), fault) for fault in unfinished]
    commands += [(refund_args(payment_id), fault) for fault in unfinished_refunds]
    return kill_all(db, commands, env)


@pytest.mark.slow
class TestRecoverTwice:
    def test_two_recovers_at_once_act_like_one(self, db_path: Path, tmp_path: Path,
                                               env: dict[str, str], gateway: MockGatewayProcess,
                                               record_property: Callable[[str, object], None]
                                               ) -> None:
        """On a fresh crash, two recovers running at once leave exactly the ledger one
        recover leaves (same balances, statuses and number of events), and a third changes
        nothing."""
        fund(db_path, env)
        kills = crash_everything(db_path, env)
        alone = tmp_path / "alone.db"
        copy_ledger(db_path, alone)
        assert snapshot(alone) == snapshot(db_path)
        resolved = recover(alone, env)

        racing = [spawn(db_path, "recover", "--json", env=env) for _ in range(2)]
        outs = [p.communicate(timeout=60) for p in racing]
        codes = [p.returncode for p in racing]
        assert codes == [0, 0], outs
        together = [json.loads(out)["resolved"] for out, _ in outs]
        assert sorted(map(json.dumps, together[0] + together[1])) == sorted(
            map(json.dumps, resolved)), "each saga must be resolved by exactly one recover"
        assert snapshot(db_path) == snapshot(alone)
        assert_consistent(db_path, gateway)
        assert_recover_changes_nothing(db_path, env)
        report(record_property, "recover racing recover", kills=kills,
               payments=len(payments(db_path)), refunds=len(all_refunds(db_path)),
               recovered=len(resolved))

    def test_recover_leaves_a_live_payment_to_its_process(
            self, db_path: Path, env: dict[str, str], gateway: MockGatewayProcess) -> None:
        """Recover run while a payment is in flight does not take it over: it waits, the
        paying process completes it, and recover claims nothing (it lists the payment as
        settled elsewhere, if it saw it); one charge."""
        fund(db_path, env)
        gateway.set_mode("slow", latency_ms=1500)
        paying = spawn(db_path, *pay_args(), "--json", env=env)
        deadline = time.monotonic() + 10
        while [p.status for p in payments(db_path)] != ["PROCESSING"]:
            assert time.monotonic() < deadline and paying.poll() is None
            time.sleep(0.05)
        code, out = run_json(db_path, "recover", env=env)
        assert code == 0 and (out["resolved"], out["unresolved"]) == ([], [])
        paid, _ = paying.communicate(timeout=30)
        # ... unless the payment ended before recover even looked (a loaded machine)
        assert out["settled_elsewhere"] in ([], [{"payment_id": json.loads(paid)["payment_id"],
                                                  "status": "COMPLETED"}])
        assert paying.returncode == 0 and json.loads(paid)["status"] == "COMPLETED"
        [payment] = payments(db_path)
        assert payment.status == "COMPLETED" and len(gateway.charges()) == 1
        assert_consistent(db_path, gateway)

    @BOTH_PROTOCOLS
    def test_recover_with_the_gateway_down_keeps_what_it_cannot_know(
            self, db_path: Path, env: dict[str, str], gateway: MockGatewayProcess) -> None:
        """Killed after the charge with the gateway then down: recover exits 10 and keeps
        the hold (it cannot know); once the gateway is back, recover completes it (under
        seed the settlement report does)."""
        fund(db_path, env)
        kill_all(db_path, [(pay_args(), "before:SettlePayment")], env)
        gateway.set_mode("down")
        code, out = run_json(db_path, "recover", env=env)
        assert code == 10 and out["resolved"] == []
        assert [u["status"] for u in out["unresolved"]] == ["PROCESSING"]
        assert held(db_path) == PAY_MINOR
        gateway.set_mode("ok")
        assert [r["status"] for r in finish_charged(db_path, env, gateway)] == ["COMPLETED"]
        assert_consistent(db_path, gateway)

    @BOTH_PROTOCOLS
    def test_refund_recover_with_the_gateway_down_keeps_the_reservation(
            self, db_path: Path, env: dict[str, str], gateway: MockGatewayProcess) -> None:
        """A refund killed after the gateway refunded, recovered while the gateway is down:
        exit 10, reservation kept; once it is back, recover credits the wallet."""
        fund(db_path, env)
        payment_id = completed_payment(db_path, env)
        kill_all(db_path, [(refund_args(payment_id), "before:SettleRefund")], env)
        gateway.set_mode("down")
        code, out = run_json(db_path, "recover", env=env)
        assert code == 10 and out["resolved"] == []
        [payment] = payments(db_path)
        assert payment.refund_reserved == REFUND_MINOR
        gateway.set_mode("ok")
        assert [r["status"] for r in recover(db_path, env)] == ["COMPLETED"]
        [payment] = payments(db_path)
        assert (payment.refunded, payment.refund_reserved) == (REFUND_MINOR, 0)
        assert_consistent(db_path, gateway)


@pytest.mark.slow
class TestSameKeyAfterCrash:
    @BOTH_PROTOCOLS
    def test_a_killed_payment_repeated_with_its_key_is_charged_once(
            self, db_path: Path, env: dict[str, str], gateway: MockGatewayProcess) -> None:
        """Killed after the charge, the payment repeated with its key reports exit 10 and
        charges nothing; after recover (under seed, reconcile) the repeat gives the
        COMPLETED first payment."""
        fund(db_path, env)
        args = [*pay_args(), "--idempotency-key", "crash-k"]
        kill_all(db_path, [(args, "before:SettlePayment")], env)
        code, out = run_json(db_path, *args, env=env)
        assert code == 10 and out["status"] == "PROCESSING", out
        assert len(gateway.charges()) == 1
        assert [r["status"] for r in finish_charged(db_path, env, gateway)] == ["COMPLETED"]
        code, again = run_json(db_path, *args, env=env)
        assert code == 0 and again["payment_id"] == out["payment_id"]
        assert again["status"] == "COMPLETED" and len(gateway.charges()) == 1
        assert_consistent(db_path, gateway)

    @BOTH_PROTOCOLS
    def test_a_killed_refund_repeated_with_its_key_is_refunded_once(
            self, db_path: Path, env: dict[str, str], gateway: MockGatewayProcess) -> None:
        """Killed after the gateway refunded, the refund repeated with its key reports exit
        10 and refunds nothing more; after recover the repeat gives the COMPLETED refund."""
        fund(db_path, env)
        args = [*refund_args(completed_payment(db_path, env)), "--idempotency-key", "crash-r"]
        kill_all(db_path, [(args, "before:SettleRefund")], env)
        code, out = run_json(db_path, *args, env=env)
        assert code == 10 and out["status"] == "PROCESSING", out
        assert len(gateway.refunds()) == 1
        assert [r["status"] for r in recover(db_path, env)] == ["COMPLETED"]
        code, again = run_json(db_path, *args, env=env)
        assert code == 0 and again["refund_id"] == out["refund_id"]
        assert again["status"] == "COMPLETED" and len(gateway.refunds()) == 1
        assert_consistent(db_path, gateway)


@pytest.mark.slow
class TestSeedProtocol:
    @pytest.mark.parametrize("protocol", ["seed"], indirect=True)
    def test_killed_while_polling_a_pending_charge_recover_completes(
            self, db_path: Path, gateway: MockGatewayProcess) -> None:
        """Killed while polling a pending charge at a gateway that looks charges up only by
        externalId: the saga stored the charge's reference when it arrived, so recover can
        ask for it and completes the payment once it settles."""
        env = paycli_env(gateway.url, PAYCLI_GATEWAY_TIMEOUT="0.5")
        fund(db_path, env)
        gateway.set_mode("pending", latency_ms=1500)
        kill_all(db_path, [([*pay_args(), "--wait", "10"], "during:ProcessPayment:0.6")], env)
        [payment] = payments(db_path)
        [charge] = gateway.charges()
        assert payment.status == "PROCESSING" and payment.gateway_ref == charge["id"]
        time.sleep(1.5)
        assert [r["status"] for r in recover(db_path, env)] == ["COMPLETED"]
        assert wallet(db_path, "alice") == (FUNDS_MINOR - PAY_MINOR, 0)
        check_invariants(db_path)
