"""The mock gateway's webhooks, received by `paycli listen`: end to end, and with every
fault a real sender has (twice, out of order, late, never, a bad signature).

Each test runs the real processes: the mock with `--webhook-url`, `paycli listen`, and
`paycli pay --wait 0` against a pending gateway.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from helpers import paycli_command, paycli_env, run, run_json
from typer.testing import CliRunner

from paycli.cli import app
from paycli.devtools.mock_process import MockGatewayProcess, free_port
from paycli.store import Store

SECRET = "whsec_" + base64.b64encode(b"mock-webhook-secret-0123").decode()
SETTLE_MS = 300


class Rig(NamedTuple):
    """A ledger, the mock sending webhooks to a running `paycli listen`."""

    db: Path
    env: dict[str, str]
    mock: MockGatewayProcess
    listener: subprocess.Popen[str]


def start_listener(db: Path, port: int, stdout: Any = subprocess.PIPE
                   ) -> subprocess.Popen[str]:
    """`paycli listen --json` on `port`, returned once it says it is listening."""
    listener = subprocess.Popen(
        [*paycli_command(None), "--db", str(db), "listen", "--port", str(port), "--json"],
        env=paycli_env(PAYCLI_WEBHOOK_SECRET=SECRET), text=True,
        stdout=stdout, stderr=subprocess.PIPE)
    assert listener.stderr is not None and "listening" in listener.stderr.readline()
    return listener


@contextlib.contextmanager
def rig_of(tmp_path: Path, *mock_args: str, credit: str = "100") -> Iterator[Rig]:
    """The three processes, the mock started with `mock_args` besides `pending` mode and
    the webhook URL; alice holds `credit` USD."""
    db, port = tmp_path / "ledger.db", free_port()
    listener = start_listener(db, port)
    mock = MockGatewayProcess("test-api-key", "--mode", "pending", "--latency-ms",
                              str(SETTLE_MS), *mock_args, "--webhook-url",
                              f"http://127.0.0.1:{port}/webhooks/gateway").start()
    env = paycli_env(mock.url)
    try:
        assert run_json(db, "wallet", "credit", "--user", "alice", "--amount", credit,
                        env=env)[0] == 0
        yield Rig(db, env, mock, listener)
    finally:
        mock.stop()
        listener.terminate()
        listener.communicate(timeout=30)


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    """The three processes; alice holds 100.00 USD; the mock answers `pending`."""
    monkeypatch.setenv("PAYCLI_WEBHOOK_SECRET", SECRET)
    with rig_of(tmp_path) as made:
        yield made


def pay_pending(rig: Rig, count: int) -> list[str]:
    """`count` payments of 1.00 with `--wait 0`: each exits 10, PROCESSING."""
    ids = []
    for _ in range(count):
        code, out = run_json(rig.db, "pay", "--user", "alice", "--amount", "1", "--wait", "0",
                             env=rig.env)
        assert code == 10 and out["status"] == "PROCESSING", out
        ids.append(out["payment_id"])
    return ids


def statuses(rig: Rig) -> dict[str, str]:
    """Every payment's status by id."""
    code, out = run_json(rig.db, "payments", "list", "--json", env=rig.env)
    assert code == 0
    return {p["payment_id"]: p["status"] for p in out["payments"]}


def wait_for(rig: Rig, ids: list[str], status: str = "COMPLETED",
             seconds: float = 15) -> dict[str, str]:
    """Poll until every one of `ids` has `status` (or time runs out); the statuses."""
    deadline = time.monotonic() + seconds
    while True:
        found = statuses(rig)
        if all(found.get(i) == status for i in ids) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def lines(rig: Rig) -> list[dict[str, Any]]:
    """Stop the listener; the JSON lines it printed, one per delivery."""
    rig.listener.terminate()
    out, _ = rig.listener.communicate(timeout=30)
    assert rig.listener.returncode == 130
    return [json.loads(line) for line in out.splitlines()]


def ledger_statuses(db: Path) -> dict[str, str]:
    """Every payment's status by id, read straight from the ledger (no listing limit)."""
    with Store(str(db)) as store:
        return {p.id: str(p.status) for p in store.read.payments()}


def settle_times(db: Path, ids: list[str], seconds: float) -> float:
    """Poll the ledger until every one of `ids` is COMPLETED; the seconds it took (fails
    once `seconds` have passed)."""
    started = time.monotonic()
    while True:
        found = ledger_statuses(db)
        if all(found.get(i) == "COMPLETED" for i in ids):
            return time.monotonic() - started
        assert time.monotonic() - started < seconds, [i for i in ids if found[i] != "COMPLETED"]
        time.sleep(0.2)


def pay_in_process(rig: Rig, count: int) -> list[str]:
    """`count` payments of 1.00 with `pay --wait 0`, run in this process (the CLI's own
    code; a process each would spend the test's time starting Python): each exits 10,
    PROCESSING."""
    ids = []
    for _ in range(count):
        done = CliRunner().invoke(app, ["--db", str(rig.db), "pay", "--user", "alice",
                                        "--amount", "1", "--wait", "0", "--json"], env=rig.env)
        out = json.loads(done.stdout)
        assert done.exit_code == 10 and out["status"] == "PROCESSING", done.output
        ids.append(out["payment_id"])
    return ids


def assert_settled_once(rig: Rig, ids: list[str], balance: str) -> None:
    """Each payment COMPLETED by exactly one settle event, by `webhook`; alice's balance
    exact, nothing held; replay-events consistent."""
    with Store(str(rig.db)) as store:
        for payment_id in ids:
            settled = [e for e in store.read.events_of(payment_id)
                       if e.type in ("payment.completed", "payment.failed")]
            assert [(e.type, e.actor) for e in settled] == [("payment.completed", "webhook")]
    code, out = run_json(rig.db, "wallet", "balance", "--user", "alice", "--json", env=rig.env)
    assert code == 0 and (out["balance"], out["held"]) == (balance, "0.00"), out
    code, out = run_json(rig.db, "replay-events", "--json", env=rig.env)
    assert code == 0 and out["consistent"] is True and out["chain_ok"] is True


@pytest.mark.slow
def test_200_pending_payments_complete_from_webhooks_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """200 payments with --wait 0 (exit 10 each) all COMPLETED
    by webhooks within 15 s of the last one's exit, each settled once, balances exact,
    replay consistent, and paycli asked the gateway nothing but the 200 charges."""
    monkeypatch.setenv("PAYCLI_WEBHOOK_SECRET", SECRET)
    with rig_of(tmp_path, credit="300") as rig:
        ids = pay_in_process(rig, 200)
        took = settle_times(rig.db, ids, 15)
        print(f"200 payments COMPLETED {took:.2f} s after the last one's exit")
        assert_settled_once(rig, ids, "100.00")
        assert rig.mock.requests() == 200
        applied = [line for line in lines(rig) if line.get("outcome") == "applied"]
        assert sorted(line["entity_id"] for line in applied) == sorted(ids)


class Restarts:
    """A `paycli listen` on `port`, killed with SIGKILL at random moments and started
    again at once, from another thread, until `stop`: the kills counted."""

    def __init__(self, db: Path, port: int, seed: int) -> None:
        self.db, self.port, self.random = db, port, random.Random(seed)
        self.listener = start_listener(db, port, stdout=subprocess.DEVNULL)
        self.kills = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._kill_and_restart)

    def _kill_and_restart(self) -> None:
        while not self.stopping.wait(self.random.uniform(0.2, 1.2)):
            self.listener.kill()
            self.listener.communicate(timeout=30)
            self.kills += 1
            self.listener = start_listener(self.db, self.port, stdout=subprocess.DEVNULL)

    def stop(self) -> None:
        """No more kills; the listener last started keeps running."""
        self.stopping.set()
        if self.thread.ident is not None:  # started
            self.thread.join()


@pytest.mark.slow
def test_listen_killed_again_and_again_settles_each_payment_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """500 payments left pending while `listen` is killed with SIGKILL at random moments
    (at least 10 times, started again each time) as their webhooks arrive: the mock's
    retries cover each gap, and every payment is COMPLETED by exactly one webhook settle,
    nothing lost, balances exact, the ledger replays consistent."""
    monkeypatch.setenv("PAYCLI_WEBHOOK_SECRET", SECRET)
    db, port = tmp_path / "ledger.db", free_port()
    restarts = Restarts(db, port, seed=23)
    mock = MockGatewayProcess("test-api-key", "--mode", "pending", "--latency-ms",
                              str(SETTLE_MS), "--webhook-attempts", "12",
                              "--webhook-backoff-ms", "100", "--webhook-url",
                              f"http://127.0.0.1:{port}/webhooks/gateway").start()
    rig = Rig(db, paycli_env(mock.url), mock, restarts.listener)
    try:
        assert run_json(db, "wallet", "credit", "--user", "alice", "--amount", "600",
                        env=rig.env)[0] == 0
        restarts.thread.start()
        ids = pay_in_process(rig, 500)
        while restarts.kills < 10 and restarts.thread.is_alive():  # it dies on a failure
            time.sleep(0.1)
        restarts.stop()
        assert restarts.kills >= 10, "a listener did not start again"
        settle_times(db, ids, 60)
        print(f"listen killed {restarts.kills} times")
        assert_settled_once(rig, ids, "100.00")
        assert mock.requests() == 500  # the charges: paycli asked nothing more
    finally:
        restarts.stop()
        mock.stop()
        restarts.listener.terminate()
        restarts.listener.communicate(timeout=30)


@pytest.mark.parametrize("fault", ["duplicate", "reorder", "delay", "bad-signature"])
def test_faults_still_settle_each_payment_once(rig: Rig, fault: str) -> None:
    """Twice, out of order, late, or first with a bad signature: each payment COMPLETED,
    applied exactly once; the duplicate answered 200 `duplicate`, the forgery 401."""
    rig.mock._call("POST", "/admin/webhooks", {"mode": fault, "count": 2})
    ids = pay_pending(rig, 3)
    assert set(wait_for(rig, ids).values()) == {"COMPLETED"}
    seen = lines(rig)
    applied = [line["entity_id"] for line in seen if line.get("outcome") == "applied"]
    assert sorted(applied) == sorted(ids)
    if fault == "duplicate":
        assert sum(1 for line in seen if line.get("outcome") == "duplicate") == 2
    if fault == "bad-signature":
        assert sum(1 for line in seen if line["status"] == 401) == 2


def test_a_charge_whose_answer_was_lost_is_announced(rig: Rig) -> None:
    """The mock commits an approved charge and drops the connection (paycli makes one
    attempt): its webhook still comes, applied (or agreeing, had paycli's look-up settled
    the payment first), and the payment ends COMPLETED by one settle."""
    rig.mock.set_mode("lost-response", count=1)
    code, out = run_json(rig.db, "pay", "--user", "alice", "--amount", "1", "--wait", "0",
                         env={**rig.env, "PAYCLI_RETRY_ATTEMPTS": "1"})
    assert code in (0, 10), out
    [payment_id] = [out["payment_id"]]
    assert wait_for(rig, [payment_id])[payment_id] == "COMPLETED"
    seen = [line for line in lines(rig) if line.get("entity_id") == payment_id]
    assert [line["outcome"] for line in seen] in (["applied"], ["agreed"])
    with Store(str(rig.db)) as store:
        settled = [e for e in store.read.events_of(payment_id)
                   if e.type in ("payment.completed", "payment.failed")]
    assert len(settled) == 1


def test_a_dropped_webhook_is_found_by_reconcile(rig: Rig) -> None:
    """Never delivered: the payment stays PROCESSING, and reconcile's report finds it."""
    rig.mock._call("POST", "/admin/webhooks", {"mode": "drop", "count": 1})
    dropped, delivered = pay_pending(rig, 2)
    found = wait_for(rig, [delivered])
    time.sleep(SETTLE_MS / 1000 * 3)
    assert found[delivered] == "COMPLETED" and statuses(rig)[dropped] == "PROCESSING"
    done = run(rig.db, "reconcile", "--from-gateway", "--json", env=rig.env)
    assert dropped in done.stdout and "resolvable" in done.stdout
