"""`paycli stats`: every figure equals the one recomputed independently from `export` and
the event log, on both engines; `--by` groups; each `--check` rule passing and failing
(exit 8 naming it); bad windows and rules refused (exit 2)."""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from doubles import ScriptedGateway, saga_env
from history import History, pay

from paycli.store import Store

CAPTURED = {"COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED"}


def _json(cli: Any, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("stats", "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def _exported(cli: Any) -> list[dict[str, Any]]:
    result = cli("export", "--format", "jsonl")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def _nearest_rank(values: list[float], p: int) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(p * len(ordered) / 100) - 1]


def _charge_times(store: Store) -> list[float]:
    """The ProcessPayment step of every settle event, read straight from the log."""
    times = []
    for event in store.read.events():
        if event.type in ("payment.completed", "payment.failed", "payment.unresolved"):
            steps = json.loads(event.payload).get("steps", [])
            times += [s["duration_ms"] for s in steps if s["name"] == "ProcessPayment"]
    return times


def test_figures_equal_those_recomputed_from_export(cli: Any, store: Store,
                                                    history: History) -> None:
    """payments, outcomes, approval, volumes, declines, refunds and percentiles agree."""
    code, stats = _json(cli)
    assert code == 0
    rows = _exported(cli)
    payments = [row for row in rows if row["record"] == "payment"]
    refunds = [row for row in rows if row["record"] == "refund"]
    captured = [row for row in payments if row["status"] in CAPTURED]
    failed = [row for row in payments if row["status"] == "FAILED"]
    assert stats["payments"] == len(payments) == 6
    assert (stats["completed"], stats["failed"]) == (len(captured), len(failed))
    assert stats["approval_rate"] == round(len(captured) / (len(captured) + len(failed)), 6)
    volume: dict[str, Decimal] = {}
    for row in captured:
        volume[row["currency"]] = volume.get(row["currency"], Decimal(0)) + Decimal(row["amount"])
    assert {code: Decimal(amount) for code, amount in stats["volume"].items()} == volume
    assert stats["volume"] == {"JPY": "1200", "USD": "350.75"}  # exact strings
    assert stats["declines"] == dict(Counter(row["error_type"] for row in failed))
    assert stats["refunds"]["refunds"] == len(refunds)
    assert stats["refunds"]["completed"] == sum(r["status"] == "COMPLETED" for r in refunds)
    times = _charge_times(store)
    latency = stats["gateway_latency_ms"]
    assert latency["count"] == len(times) > 0
    assert [latency["p50"], latency["p95"], latency["p99"]] == [
        _nearest_rank(times, p) for p in (50, 95, 99)]


def test_grouped_by_currency_and_status_add_up(cli: Any, history: History) -> None:
    """Each grouping splits the same payments: their counts add up to the whole."""
    _, whole = _json(cli)
    for by in ("currency", "status", "hour", "gateway"):
        code, stats = _json(cli, "--by", by)
        assert code == 0 and stats["by"] == by
        assert sum(group["payments"] for group in stats["groups"]) == whole["payments"]
    _, by_gateway = _json(cli, "--by", "gateway")
    assert [group["key"] for group in by_gateway["groups"]] == ["default"]
    _, by_currency = _json(cli, "--by", "currency")
    assert {g["key"]: g["volume"] for g in by_currency["groups"]} == {
        "JPY": {"JPY": "1200"}, "USD": {"USD": "350.75"}}


def test_a_window_before_the_payments_holds_none(cli: Any, history: History) -> None:
    """`--since 1s` after a pause sees none of the history's payments."""
    time.sleep(1.1)
    code, stats = _json(cli, "--since", "1s")
    assert code == 0
    assert (stats["payments"], stats["approval_rate"], stats["volume"]) == (0, None, {})
    assert stats["gateway_latency_ms"]["p99"] is None


@pytest.mark.parametrize(("rule", "ok"), [
    ("approval_rate>=0.5", True), ("approval_rate>=0.9", False),
    ("failed_rate<=0.5", True), ("failed_rate<=0.01", False),
    ("p99_ms<=60000", True), ("p99_ms<=0.001", False),
])
def test_each_check_rule_passes_and_fails(cli: Any, history: History, rule: str,
                                          ok: bool) -> None:
    """A rule that holds exits 0; one that fails exits 8 and names itself."""
    result = cli("stats", "--check", rule)
    assert result.exit_code == (0 if ok else 8), result.output
    code, stats = _json(cli, "--check", rule)
    assert code == result.exit_code
    assert stats["checks"][0]["rule"] == rule and stats["checks"][0]["ok"] is ok
    if not ok:
        assert f"check failed: {rule}" in result.stderr
        assert stats["error"]["type"] == "check_failed"


def test_processing_older_than_counts_stuck_payments(cli: Any, store: Store,
                                                     history: History) -> None:
    """A payment left PROCESSING is fine for a while, then fails the rule."""
    env = saga_env(store, ScriptedGateway(settle_after=None))
    env.gateway.set_mode("pending")  # type: ignore[attr-defined]
    pay(env, "alice", "5")
    assert cli("stats", "--check", "processing_older_than=10m==0").exit_code == 0
    time.sleep(1.1)
    result = cli("stats", "--check", "processing_older_than=1s==0")
    assert result.exit_code == 8
    assert "processing_older_than=1s==0 (is 1)" in result.stderr


@pytest.mark.parametrize("args", [("--since", "2x"), ("--since", "0h"), ("--by", "user"),
                                  ("--check", "approval_rate"), ("--check", "speed>=1"),
                                  ("--check", "processing_older_than==0")])
def test_bad_options_are_usage_errors(cli: Any, db_path: Path, args: tuple[str, ...]) -> None:
    """A bad window, grouping or rule: one line, exit 2."""
    result = cli("stats", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: invalid") and "Traceback" not in result.output


def test_hour_chart_and_table_are_drawn(cli: Any, history: History) -> None:
    """`--by hour` draws one bar per hour; the table names every figure."""
    result = cli("stats", "--by", "hour")
    assert result.exit_code == 0
    assert "Payments by hour" in result.stdout and "█" in result.stdout
    for label in ("approval rate", "volume USD", "gateway p99 ms", "declined: declined"):
        assert label in result.stdout
