"""The bench counts commits itself (`devtools.commits.CountedStore`): the ledger's `Store`
carries nothing of the bench, and `paycli bench` still reports its commits per payment."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from doubles import ScriptedGateway, saga_env
from helpers import run

from paycli.devtools.commits import CountedStore
from paycli.ledger import wallet
from paycli.money import Money
from paycli.saga.pay import PayRequest, pay
from paycli.saga.steps import SilentReporter
from paycli.store import Store
from paycli.store.base import ENGINES

BOTH = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


class TestTheStoreKnowsNoBench:
    def test_no_counter_on_the_ledger(self, db_path: Path) -> None:
        """A plain `Store` has no commit counter."""
        with Store(str(db_path)) as store:
            wallet.credit(store, "alice", Money(1000, "USD"))
            assert not hasattr(store, "commits")

    def test_the_wrapper_is_no_backend(self) -> None:
        """Subclassing `Store` to wrap one registers no engine: `Store(target)` still picks
        only SQLite or PostgreSQL."""
        for module in ENGINES.values():
            importlib.import_module(module)
        assert set(Store._backends) == {"sqlite", "postgresql"}
        assert CountedStore not in Store._backends.values()


@BOTH
class TestCountedStore:
    def test_counts_committed_transactions_only(self, db_path: Path) -> None:
        """A committed write counts; one rolled back does not; reads never do; what it
        commits is in the ledger the plain store reads."""
        with Store(str(db_path)) as inner:
            counted = CountedStore(inner)
            assert (counted.backend, counted.name) == (inner.backend, inner.name)
            wallet.credit(counted, "alice", Money(1000, "USD"))
            with pytest.raises(RuntimeError), counted.transaction():
                raise RuntimeError("abandoned")
            with counted.snapshot() as read:
                assert wallet.balance(read, "alice", "USD").balance == "10.00"
            assert wallet.balance(counted.read, "alice", "USD").balance == "10.00"
            assert wallet.balance(inner.read, "alice", "USD").balance == "10.00"
            assert counted.commits == 1


@pytest.mark.sqlite_only
def test_a_payments_count_is_the_commits_sqlite_saw(db_path: Path) -> None:
    """Through a saga, the count equals the COMMITs SQLite itself ran (its trace)."""
    with Store(str(db_path)) as inner:
        counted = CountedStore(inner)
        wallet.credit(counted, "alice", Money(1000, "USD"))
        seen: list[str] = []
        inner.conn.set_trace_callback(seen.append)  # type: ignore[attr-defined]
        before = counted.commits
        outcome = pay(saga_env(counted, ScriptedGateway()),
                      PayRequest("alice", Money(100, "USD"), wait_s=5), SilentReporter())
        inner.conn.set_trace_callback(None)  # type: ignore[attr-defined]
        assert outcome.error is None and outcome.result.status == "COMPLETED"
        assert counted.commits - before == seen.count("COMMIT") > 0


@pytest.mark.slow  # the bench as its own process
def test_bench_still_reports_its_commits(tmp_path: Path) -> None:
    """`paycli bench --payments 200 --json` reports its fields, the commits per payment
    (counted by the bench) among them."""
    done = run(tmp_path / "unused.db", "bench", "--payments", "200", "--no-startup", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["payments"], result["failed"]) == (200, 0)
    assert result["commits_per_payment"] >= 1
    assert result["commits_per_payment"] == int(result["commits_per_payment"])
    for field in ("throughput", "p50_ms", "p99_ms", "baseline_throughput", "ratio"):
        assert result[field] > 0, field
    assert result["replay"]["consistent"]
