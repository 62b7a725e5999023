"""Helpers shared by the system tests: run paycli as a real process, read the ledger, and
check the money invariants against the gateway's own record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from paycli.store import Store

ROOT = Path(__file__).resolve().parent.parent


class LedgerUrl(str):
    """A PostgreSQL ledger's URL where the tests pass a ledger file's `Path`: `str(url)`
    is the URL, which `--db` and `Store` take as they take a path."""

    def exists(self) -> bool:
        """Whether a paycli ledger was created there (as a file exists once opened)."""
        import psycopg  # late: only PostgreSQL cases need it

        with psycopg.connect(str(self), autocommit=True) as conn:
            row = conn.execute("SELECT to_regclass('paycli_ledger') IS NOT NULL").fetchone()
        return bool(row and row[0])

    def event_count(self) -> int:
        """How many events the ledger holds (0 if there is none yet)."""
        if not self.exists():
            return 0
        with Store(str(self)) as store:
            return store.read.event_count()


def paycli_env(gateway_url: str | None = None, **extra: str) -> dict[str, str]:
    """A clean environment for a paycli process: fast retries, no stray PAYCLI_* settings,
    and no COLUMNS or LINES (paycli reads a set COLUMNS as a terminal of that width, so
    one left in the test process would turn a pipe into a terminal, or widen a
    pseudo-terminal; a test that means a width passes it in `extra`)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PAYCLI_") and k not in ("COLUMNS", "LINES")}
    env.update({"PAYCLI_GATEWAY_TIMEOUT": "2", "PAYCLI_BREAKER_RESET_SECONDS": "30"})
    if gateway_url:
        env["PAYCLI_GATEWAY_URL"] = gateway_url
    env.update(extra)
    return env


def paycli_command(env: dict[str, str] | None) -> list[str]:
    """`python -m paycli`, or with `FAULT_AT` in `env` the paycli that kills itself there."""
    if env is not None and "FAULT_AT" in env:
        return [sys.executable, str(ROOT / "tests" / "faulty_paycli.py")]
    return [sys.executable, "-m", "paycli"]


def run(db: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60
        ) -> subprocess.CompletedProcess[str]:
    """Run `python -m paycli --db DB ARGS` as its own process."""
    return subprocess.run(
        [*paycli_command(env), "--db", str(db), *args],
        env=env or paycli_env(), capture_output=True, text=True, timeout=timeout, cwd=ROOT,
    )


def spawn(db: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start `python -m paycli --db DB ARGS` without waiting for it."""
    return subprocess.Popen(
        [*paycli_command(env), "--db", str(db), *args],
        env=env or paycli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=ROOT,
    )


def run_json(db: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, Any]:
    """Run a paycli command with `--json`; returns (exit code, parsed stdout)."""
    done = run(db, *args, "--json", env=env)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def wallet(db: Path, user: str, currency: str = "USD") -> tuple[int, int]:
    """(balance, held) of a wallet in minor units, read straight from the ledger."""
    with Store(str(db)) as store:
        account = store.read.account("wallet", user, currency)
    return (account.balance, account.held) if account else (0, 0)


def check_invariants(db: Path, charges: list[dict[str, Any]] | None = None,
                     refunds: list[dict[str, Any]] | None = None, *, settled: bool = True
                     ) -> dict[str, int]:
    """Assert the ledger's money invariants; with the gateway's lists, that both agree.

    - every currency's balances sum to zero; no wallet's available balance is negative;
    - `settled`: no payment or refund is left non-final and nothing is held;
    - each COMPLETED payment has exactly one approved charge at the gateway (`refunded`
      counts as approved: the seed's gateway marks a refunded charge so) and no other
      payment has any; completed refunds add up to the gateway's refunded amounts.
    Returns counts by payment status.
    """
    with Store(str(db)) as store:
        reader = store.read
        assert all(total == 0 for total in reader.currency_sums().values()), \
            reader.currency_sums()
        accounts = reader.accounts()
        assert all(a.balance - a.held >= 0 for a in accounts if a.kind == "wallet")
        payments = reader.payments()
        statuses = Counter(p.status for p in payments)
        if settled:
            assert statuses["PENDING"] == statuses["PROCESSING"] == 0, statuses
            assert all(a.held == 0 for a in accounts), [a for a in accounts if a.held]
            assert not reader.unfinished_refunds()
        if charges is not None:
            _agree_on_charges(payments, charges)
        if refunds is not None:
            _agree_on_refunds(store, payments, charges or [], refunds)
    return dict(statuses)


CAPTURED_AT_GATEWAY = ("approved", "refunded")


def _agree_on_charges(payments: list[Any], charges: list[dict[str, Any]]) -> None:
    approved = Counter(c["payment_id"] for c in charges if c["status"] in CAPTURED_AT_GATEWAY)
    assert all(n == 1 for n in approved.values()), f"charged twice: {approved}"
    captured = {p.id for p in payments
                if p.status in ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED")}
    assert set(approved) == captured, (set(approved) ^ captured)
    by_payment = {c["payment_id"]: c for c in charges if c["status"] in CAPTURED_AT_GATEWAY}
    for payment in payments:
        if payment.id in by_payment:
            assert by_payment[payment.id]["id"] == payment.gateway_ref


def _agree_on_refunds(store: Store, payments: list[Any], charges: list[dict[str, Any]],
                      refunds: list[dict[str, Any]]) -> None:
    exponent = {p.id: p for p in payments}
    refunded_at_gateway = {c["payment_id"]: Decimal(c["refunded"]) for c in charges
                           if c["status"] in CAPTURED_AT_GATEWAY}
    for payment_id, amount in refunded_at_gateway.items():
        payment = exponent.get(payment_id)
        assert payment is not None
        from paycli.money import format_minor

        assert Decimal(format_minor(payment.refunded, payment.currency)) == amount, payment_id
    assert sum(1 for r in refunds if r["status"] == "refunded") == sum(
        len([x for x in store.read.refunds(p.id) if x.status == "COMPLETED"]) for p in payments)


def reconcile_apply(db: Path, env: dict[str, str]) -> dict[str, Any]:
    """`paycli reconcile --from-gateway --apply --json`, which must leave no break: what
    finishes a saga the gateway cannot be asked about (the seed's, by payment id)."""
    code, out = run_json(db, "reconcile", "--from-gateway", "--apply", env=env)
    assert code == 0 and out["breaks"] == [], out
    return dict(out)
