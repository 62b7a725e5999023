"""`paycli events tail`: the newest events, last; `--type` patterns and `--since`; JSON
lines that parse; `--follow` sees what another process commits within a second, and
Ctrl-C ends it with 130."""

from __future__ import annotations

import json
import queue
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import run, run_json, spawn


def _lines(db: Path, *args: str, env: dict[str, str]) -> list[dict[str, Any]]:
    done = run(db, "events", "tail", "--json", *args, env=env)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_newest_last_with_types_and_json(funded: Path, env: dict[str, str]) -> None:
    """The newest events come last; `--type` keeps the matching ones; JSON lines parse."""
    code, paid = run_json(funded, "pay", "--user", "alice", "--amount", "10", env=env)
    assert code == 0
    events = _lines(funded, env=env)
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert events[-1]["type"] == "payment.completed" and events[-1]["id"] == paid["payment_id"]
    only = _lines(funded, "--type", "payment.c*", env=env)
    assert {e["type"] for e in only} == {"payment.created", "payment.completed"}
    created = next(e for e in only if e["type"] == "payment.created")
    assert created["summary"].startswith("10.00 USD") and created["actor"]
    human = run(funded, "events", "tail", "--type", "transfer.*", env=env)
    assert human.returncode == 0
    assert "transfer.posted" in human.stdout and "100.00 USD" in human.stdout


def test_since_leaves_out_older_events(funded: Path, env: dict[str, str]) -> None:
    """`--since 1s` after a pause shows nothing of what came before."""
    time.sleep(1.2)
    assert _lines(funded, "--since", "1s", env=env) == []
    assert len(_lines(funded, "--since", "1h", env=env)) > 0


@pytest.mark.parametrize("args", [("--since", "soon"), ("--type", "payment;drop"),
                                  ("--type", ",")])
def test_bad_options_are_usage_errors(funded: Path, env: dict[str, str],
                                      args: tuple[str, ...]) -> None:
    """A bad window or pattern: one line, exit 2."""
    done = run(funded, "events", "tail", *args, env=env)
    assert done.returncode == 2
    assert done.stderr.startswith("Error: invalid") and "Traceback" not in done.stderr


def test_follow_sees_another_process_within_a_second(funded: Path, env: dict[str, str]
                                                     ) -> None:
    """While tail follows, a payment made by another process shows within 1 s of its
    end; SIGINT (Ctrl-C) ends the tail with 130."""
    tail = spawn(funded, "events", "tail", "--follow", "--json", "--type", "payment.*",
                 env=env)
    arrived: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()

    def read() -> None:
        assert tail.stdout is not None
        for text in tail.stdout:
            arrived.put((time.monotonic(), json.loads(text)))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        time.sleep(1.5)  # the tail is up and polling
        code, paid = run_json(funded, "pay", "--user", "alice", "--amount", "7", env=env)
        paid_at = time.monotonic()
        assert code == 0
        seen_at = None
        while seen_at is None:
            at, event = arrived.get(timeout=5)
            if event["type"] == "payment.completed" and event["id"] == paid["payment_id"]:
                seen_at = at
        assert seen_at - paid_at < 1.0
    finally:
        tail.send_signal(signal.SIGINT)
        code = tail.wait(timeout=10)
        assert tail.stderr is not None
        errors = tail.stderr.read()
        tail.stderr.close()
        reader.join(timeout=5)  # it ends at the closed pipe's end of file
        assert tail.stdout is not None
        tail.stdout.close()
    assert code == 130 and "Traceback" not in errors
