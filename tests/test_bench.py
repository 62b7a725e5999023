"""`paycli bench` runs and reports its figures (how fast is for the bench, not for tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from helpers import run

from paycli import money
from paycli.devtools import bench, profile, statsbench


def assert_profiled_if_missed(target: dict[str, Any]) -> None:
    """A missed throughput target carries where a profiled run's time went, most first;
    a met one carries none."""
    if target["met"]:
        assert target["profile"] is None
        return
    lines = target["profile"]
    assert 0 < len(lines) <= 12 and all(line["calls"] > 0 for line in lines)
    assert [line["own_ms"] for line in lines] == sorted(
        (line["own_ms"] for line in lines), reverse=True)
    assert 0 < sum(line["share"] for line in lines) <= 1.001
    assert not profile.PARKED & {line["function"] for line in lines}  # parked, not work


def bench_json(tmp_path: Path, *args: str, timeout: float = 60) -> dict[str, Any]:
    """`paycli bench ARGS --json` (its ledger a scratch one of its own): the result."""
    done = run(tmp_path / "unused.db", "bench", *args, "--json", timeout=timeout)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


class TestProfile:
    def test_worker_threads_are_profiled_and_named(self) -> None:
        """Work done in threads started inside the block is counted, under the module's
        path inside paycli; a thread parked waiting is not."""
        amounts = [f"{n % 900 + 1}.25" for n in range(2000)]
        with profile.every_thread() as profiles, ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda amount: money.parse_amount(amount, "USD"), amounts))
        lines = profile.top(profiles, limit=50)
        names = [line.function for line in lines]
        assert any(name.startswith("paycli/money.py:") for name in names), names
        assert not profile.PARKED & set(names)


class TestBench:
    @pytest.mark.slow
    def test_inprocess_bench_reports_every_contract_field(self, tmp_path: Path) -> None:
        """A small in-process run prints one JSON object with the figures and the ratio."""
        result = bench_json(tmp_path, "--payments", "40", "--concurrency", "2")
        for field in ("payments", "gateway", "throughput", "p50_ms", "p95_ms", "p99_ms",
                      "baseline_throughput", "ratio"):
            assert field in result
        assert result["payments"] == 40 and result["gateway"] == "inprocess"
        assert result["failed"] == 0 and result["commits_per_payment"] == 2  # open, settle
        assert result["throughput"] > 0 and result["baseline_throughput"] > 0
        assert result["ratio"] == pytest.approx(
            result["throughput"] / result["baseline_throughput"], rel=0.01)
        assert result["replay"]["consistent"] and result["replay"]["events"] > 0
        assert set(result["steps"]) == {"CheckWalletBalance", "CreatePayment", "ReserveFunds",
                                        "ProcessPayment", "SettlePayment"}
        startup = result["startup"]
        assert startup["help_ms"] > 0 and startup["balance_ms"] > 0
        assert startup["help_ratio"] == pytest.approx(startup["help_ms"] / startup["bare_typer_ms"],
                                                      rel=0.5)
        names = {target["name"]: target for target in result["targets"]}
        assert {"start-up, paycli --help", "start-up, paycli wallet balance",
                "peak memory of this bench process"} <= set(names)
        assert names["start-up, paycli --help"]["met"] == (startup["help_ratio"] <= 1.0)
        assert result["peak_rss_mb"] > 0

    @pytest.mark.slow
    def test_single_thread_targets_are_judged(self, tmp_path: Path) -> None:
        """One thread in process: the ratio and p99 targets, each with its verdict."""
        result = bench_json(tmp_path, "--payments", "120", "--no-startup",
                            "--stats-payments", "0")
        names = {target["name"]: target for target in result["targets"]}
        single = names["single payment, in process, one thread, SQLite"]
        assert result["engine"] == "sqlite"
        assert single["ratio"] == pytest.approx(result["ratios"]["storage"], abs=0.002)
        assert single["met"] == (single["ratio"] >= 0.5)
        assert_profiled_if_missed(single)
        assert names["single payment p99"]["met"] == (result["p99_ms"] < 5)
        assert result["startup"] is None
        growth = result["growth"]
        assert (growth["ledger_from"], growth["ledger_to"]) == (0, 120)
        assert growth["ratio"] == pytest.approx(growth["last_per_s"] / growth["first_per_s"],
                                                rel=0.01)

    @pytest.mark.slow
    def test_http_bench_measures_against_the_network_limit(self, tmp_path: Path) -> None:
        """Over HTTP the baseline is raw httpx to the same mock gateway."""
        result = bench_json(tmp_path, "--payments", "30", "--gateway", "http", "--no-startup",
                            "--stats-payments", "0")
        assert result["gateway"] == "http" and result["failed"] == 0
        assert result["baseline_throughput"] == result["baselines"]["network"]
        assert result["baselines"]["storage"] > 0

    @pytest.mark.slow
    def test_failover_bench_moves_payments_and_loses_none(self, tmp_path: Path) -> None:
        """`--failover`: the first gateway killed half way, the rest complete at the
        second (Stripe-shaped); every payment is accounted for, none lost or charged at
        both, and the time to the first payment at the second gateway is measured."""
        result = bench_json(tmp_path, "--payments", "60", "--concurrency", "2", "--gateway",
                            "http", "--failover", "--no-startup", "--stats-payments", "0",
                            timeout=300)
        moved = result["failover"]
        assert moved["at_primary"] + moved["at_backup"] + moved["failed"] + moved["held"] == 60
        assert moved["at_backup"] > 0 and moved["failover_ms"] is not None
        assert (moved["lost"], moved["charged_twice"]) == (0, 0), moved
        target = result["targets"][-1]
        assert target["name"].startswith("failover") and target["met"]

    @pytest.mark.slow
    def test_failover_needs_the_http_gateway(self, tmp_path: Path) -> None:
        """`--failover` in process (no gateways to kill) is a usage error."""
        done = run(tmp_path / "unused.db", "bench", "--failover")
        assert done.returncode == 2 and "--failover needs --gateway http" in done.stderr

    def test_prefill_leaves_a_consistent_ledger(self, tmp_path: Path) -> None:
        """Pre-filled payments are real ledger history: balances sum to zero and the
        chain verifies."""
        from paycli.ledger.chain import verify_chain
        from paycli.store import Store

        with Store(str(tmp_path / "l.db")) as store:
            bench.prefill(store, 250, chunk=100)
            assert store.read.currency_sums() == {"USD": 0}
            assert len(store.read.payments(status="COMPLETED")) == 250
            count, broken = verify_chain(store.read.events())
        assert count == 250 + 250 * 6 and broken is None  # a credit a user, 6 a payment

    @pytest.mark.slow
    def test_bad_gateway_choice_is_a_usage_error(self, tmp_path: Path) -> None:
        """Only inprocess and http exist."""
        done = run(tmp_path / "unused.db", "bench", "--gateway", "carrier-pigeon")
        assert done.returncode == 2 and "--gateway" in done.stderr

    @pytest.mark.slow
    def test_a_postgresql_bench_runs_on_postgresql(self, tmp_path: Path, pg: Any) -> None:
        """`bench --db postgresql://…` runs the saga on a scratch database of that server
        (dropped afterwards), not on a file named after it: nothing appears in the working
        folder, and the scratch database is gone."""
        done = subprocess.run(
            [sys.executable, "-m", "paycli", "--db", pg.admin_url, "bench", "--payments",
             "20", "--no-startup", "--stats-payments", "0", "--json"],
            capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["failed"] == 0 and result["replay"]["consistent"]
        assert result["engine"] == "postgresql"
        names = {target["name"]: target for target in result["targets"]}
        single = names["single payment, in process, one thread, PostgreSQL"]
        assert single["goal"] == ">= 0.4 x raw PostgreSQL"
        assert single["met"] == (single["ratio"] >= 0.4)
        assert_profiled_if_missed(single)
        assert list(tmp_path.iterdir()) == []
        with psycopg.connect(pg.admin_url) as admin:
            names = [row[0] for row in admin.execute("SELECT datname FROM pg_database")]
        assert not [name for name in names if name.startswith("paycli_bench_")]

    @pytest.mark.slow
    def test_batch_mode_runs_the_billing_engine(self, tmp_path: Path) -> None:
        """`--mode batch` pays through the batch engine: every payment completed, fewer
        than one commit per payment, a batched raw baseline, a ledger that replays."""
        result = bench_json(tmp_path, "--mode", "batch", "--payments", "600", "--no-startup",
                            "--stats-payments", "0")
        assert (result["mode"], result["payments"], result["failed"]) == ("batch", 600, 0)
        assert 0 < result["commits_per_payment"] < 1
        assert result["baseline_throughput"] == result["baselines"]["storage"] > 0
        assert result["replay"]["consistent"]
        names = {target["name"]: target for target in result["targets"]}
        batch = names["batch, in-process gateway, SQLite"]
        assert batch["ratio"] == pytest.approx(result["ratios"]["storage"], abs=0.002)
        assert batch["met"] == (result["throughput"] >= 10_000)
        assert_profiled_if_missed(batch)
        if batch["profile"]:  # the engine's own code is among where the time went
            assert any(line["function"].startswith("paycli/") for line in batch["profile"])
        assert result["growth"] is None  # 600 rows: too few groups for two tenths


class TestStatsBench:
    """`bench --stats-payments N`: `stats` and a `top` refresh over a big ledger, filled
    in bulk, reported as two targets naming the engine (timings are not asserted)."""

    def test_a_filled_ledger_is_measured_and_judged(self, tmp_path: Path) -> None:
        """2,000 payments on SQLite: `stats` sees them all, and both targets are reported
        with a verdict that matches the figure."""
        from paycli.ledger import stats
        from paycli.store import Store

        found = statsbench.measure(tmp_path, None, 2000)
        assert (found.engine, found.payments) == ("sqlite", 2000)
        with Store(str(tmp_path / "stats-ledger.db")) as store:
            figures = stats.stats(store, stats.Window.last(2 * 86400))
        assert figures.payments == 2000 + 12  # and a second's payments for top's refresh
        assert figures.gateway_latency_ms.count == figures.payments
        names = {target.name: target for target in statsbench.targets(found)}
        over = names["stats, 24 h window over 2,000 payments, SQLite"]
        refresh = names["top refresh over 2,000 payments, SQLite"]
        assert over.met == (found.stats_ms < 1000) and over.goal == "< 1000 ms"
        assert refresh.met == (found.top_refresh_ms < 50) and refresh.goal == "< 50 ms"

    @pytest.mark.postgresql
    def test_a_postgresql_ledger_is_filled_by_copy(self, tmp_path: Path, pg: Any) -> None:
        """On PostgreSQL the scratch ledger is a database of the server's own, dropped
        afterwards; the targets name PostgreSQL."""
        found = statsbench.measure(tmp_path, pg.admin_url, 2000)
        assert (found.engine, found.payments) == ("postgresql", 2000)
        names = [target.name for target in statsbench.targets(found)]
        assert names == ["stats, 24 h window over 2,000 payments, PostgreSQL",
                         "top refresh over 2,000 payments, PostgreSQL"]

    @pytest.mark.slow
    def test_bench_reports_the_stats_targets(self, tmp_path: Path) -> None:
        """`bench --stats-payments 2000 --json` carries the figures and both targets."""
        result = bench_json(tmp_path, "--payments", "20", "--no-startup",
                            "--stats-payments", "2000")
        assert result["stats_bench"]["payments"] == 2000
        names = {target["name"]: target for target in result["targets"]}
        assert names["stats, 24 h window over 2,000 payments, SQLite"]["met"] == (
            result["stats_bench"]["stats_ms"] < 1000)
        assert "top refresh over 2,000 payments, SQLite" in names
