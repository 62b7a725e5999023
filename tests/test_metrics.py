"""`paycli metrics`: the Prometheus exposition, scraped over HTTP and read with
`prometheus_client`'s own parser, agrees with `stats` on both engines; a second scrape
counts what was paid in between; a port in use is a usage error."""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from doubles import ScriptedGateway, saga_env
from helpers import paycli_env, run, spawn
from history import History, pay
from prometheus_client.parser import text_string_to_metric_families

from paycli.store import Store

CAPTURED = {"COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(db_path: Path, history: History) -> Iterator[str]:
    """`paycli metrics` on a free port over the history ledger; its URL."""
    port = _free_port()
    server = spawn(db_path, "metrics", "--port", str(port), env=paycli_env())
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        for _ in range(100):
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        server.send_signal(signal.SIGINT)
        code = server.wait(timeout=10)
        for stream in (server.stdout, server.stderr):
            assert stream is not None
            stream.close()
    assert code == 130


def _scrape(url: str) -> dict[str, list[Any]]:
    text = httpx.get(url, timeout=10).text
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def _stats(db_path: Path) -> dict[str, Any]:
    done = run(db_path, "stats", "--json", env=paycli_env())
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_scrape_agrees_with_stats(db_path: Path, served: str) -> None:
    """Payments by status, failures by reason, volume, refunds and the charge-time
    histogram's count equal the figures `stats` reports."""
    families, stats = _scrape(served), _stats(db_path)
    payments = families["paycli_payments"]
    assert sum(s.value for s in payments) == stats["payments"]
    assert sum(s.value for s in payments if s.labels["status"] in CAPTURED) == stats["completed"]
    assert sum(s.value for s in payments if s.labels["status"] == "FAILED") == stats["failed"]
    assert {s.labels["reason"]: s.value for s in families["paycli_payment_failures"]} == (
        stats["declines"])
    volume: dict[str, float] = {}
    for sample in families["paycli_payment_volume"]:
        if sample.labels["status"] in CAPTURED:
            code = sample.labels["currency"]
            volume[code] = volume.get(code, 0.0) + sample.value
    assert volume == {code: float(amount) for code, amount in stats["volume"].items()}
    assert sum(s.value for s in families["paycli_refunds"]) == stats["refunds"]["refunds"]
    histogram = {s.name: s for s in families["paycli_gateway_request_duration_seconds"]
                 if s.name.endswith("_count")}
    count = histogram["paycli_gateway_request_duration_seconds_count"].value
    assert count == stats["gateway_latency_ms"]["count"]
    states = {s.labels["state"]: s.value for s in families["paycli_gateway_breaker_state"]}
    assert states == {"closed": 1.0, "open": 0.0, "half-open": 0.0}


def test_a_later_scrape_counts_new_payments(db_path: Path, store: Store, served: str) -> None:
    """What is paid between two scrapes shows in the second: the counter and the
    histogram grow by one, and the payment is counted once."""
    first = _scrape(served)
    pay(saga_env(store, ScriptedGateway(settle_after=None)), "alice", "5")
    second = _scrape(served)

    def total(families: dict[str, list[Any]], name: str) -> float:
        return sum(s.value for s in families[name] if not s.name.endswith(("_bucket", "_sum")))

    assert total(second, "paycli_payments") == total(first, "paycli_payments") + 1
    name = "paycli_gateway_request_duration_seconds"
    assert total(second, name) == total(first, name) + 1


@pytest.mark.sqlite_only
def test_a_port_in_use_is_a_usage_error(db_path: Path) -> None:
    """Another server on the port: one line, exit 2."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = run(db_path, "metrics", "--port", str(taken.getsockname()[1]),
                   env=paycli_env(), timeout=30)
    assert done.returncode == 2
    assert done.stderr.startswith("Error: cannot listen on 127.0.0.1:")
