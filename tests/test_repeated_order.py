"""A repeated order whose earlier payment was never paid: the operator reads its outcome,
that no new charge was sent and what to do next, never `already paid`."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import run, spawn
from test_terminal import finish, on_terminal, text

pytestmark = pytest.mark.slow


def declined_order(db: Path, env: dict[str, str], gateway: Any) -> None:
    """order-002 tried once and declined; the gateway approves again afterwards."""
    gateway.set_mode("decline")
    first = run(db, "pay", "--user", "alice", "--amount", "20", "--order-id", "order-002",
                env=env)
    assert first.returncode == 4, first.stdout
    gateway.set_mode("ok")


class TestRepeatedDeclinedOrder:
    def test_the_cli_says_it_was_not_paid_and_how_to_retry(
            self, funded: Path, env: dict[str, str], gateway: Any) -> None:
        """Exit 4 as before, but `not paid … FAILED`, no `paid 20.00`, and `--retry`."""
        declined_order(funded, env, gateway)
        again = run(funded, "pay", "--user", "alice", "--amount", "20", "--order-id",
                    "order-002", env=env)
        assert again.returncode == 4, again.stdout
        out = " ".join(again.stdout.split())
        assert "already paid" not in out and "alice paid" not in out
        assert "not paid: order-002 was tried before as pay_" in out
        assert "FAILED; no new charge was sent" in out
        assert "to try again: paycli pay --user alice --amount 20.00 --currency USD " \
            "--order-id order-002 --retry" in out
        assert "to see why: paycli payments show pay_" in out

    @pytest.mark.parametrize("columns", [60, 80, 120])
    def test_the_terminal_says_it_was_not_paid(
            self, funded: Path, env: dict[str, str], gateway: Any, columns: int) -> None:
        """On a pseudo-terminal of 60, 80 and 120 columns: the same words, exit 4."""
        declined_order(funded, env, gateway)
        code, screen = finish(on_terminal(funded, "pay", "--user", "alice", "--amount", "20",
                                          "--order-id", "order-002", env=env,
                                          columns=columns))
        assert code == 4, screen
        seen = " ".join(text(screen).split())
        assert "already paid" not in seen and "alice paid" not in seen
        assert "not paid: order-002 was tried before as pay_" in seen
        assert "no new charge was sent" in seen
        # The command to copy: folded only between options, each break a shell's ` \`,
        # so the lines paste as one command; none wider than the terminal.
        lines = [line.rstrip() for line in text(screen).splitlines()]
        first = next(i for i, line in enumerate(lines) if "to try again:" in line)
        last = next(i for i in range(first, len(lines)) if lines[i].endswith("--retry"))
        assert all(line.endswith(" \\") for line in lines[first:last]), lines
        pasted = " ".join(line.removesuffix(" \\").split("to try again:")[-1].strip()
                          for line in lines[first:last + 1])
        assert pasted == ("paycli pay --user alice --amount 20.00 --currency USD "
                          "--order-id order-002 --retry"), pasted
        assert all(len(line) <= columns for line in lines[first:last + 1]), lines


class TestRepeatedProcessingOrder:
    def test_the_cli_says_it_is_under_way_and_recover_finishes_it(
            self, funded: Path, env: dict[str, str], gateway: Any) -> None:
        """An order left PROCESSING by Ctrl-C, repeated: exit 10, `not paid … PROCESSING`,
        no new charge, and `paycli recover` named as what finishes it."""
        gateway.set_mode("slow", latency_ms=5000)
        child = spawn(funded, "pay", "--user", "alice", "--amount", "20", "--order-id",
                      "order-009", env=env)
        assert child.stdout is not None
        while "[RUNNING] ProcessPayment" not in (line := child.stdout.readline()):
            assert line, "paycli ended before the charge started"
        time.sleep(0.3)
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=30) == 130
        child.communicate()
        again = run(funded, "pay", "--user", "alice", "--amount", "20", "--order-id",
                    "order-009", env=env)
        assert again.returncode == 10, again.stdout + again.stderr
        out = " ".join(again.stdout.split())
        assert "already paid" not in out and "alice paid" not in out
        assert "not paid: order-009 was tried before as pay_" in out
        assert "PROCESSING; no new charge was sent" in out
        assert "to finish it: paycli recover" in out
