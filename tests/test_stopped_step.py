"""Ctrl-C during a slow gateway call: the step is drawn STOPPED (not FAILED, not PENDING),
the panel closes with what was left behind and which command finishes it, exit 130."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import run_json, spawn
from test_terminal import finish, on_terminal, press_ctrl_c, text

pytestmark = pytest.mark.slow


def squeezed(screen: str) -> str:
    """The screen's words, panel borders and line breaks folded to single spaces."""
    return " ".join(text(screen).replace("│", " ").split())


class TestPlainLines:
    def test_a_stopped_charge_is_not_called_failed(
            self, funded: Path, env: dict[str, str], gateway: Any) -> None:
        """Piped: `[STOPPED] ProcessPayment … stopped by Ctrl-C`, no FAILED line, exit 130."""
        gateway.set_mode("slow", latency_ms=5000)
        child = spawn(funded, "pay", "--user", "alice", "--amount", "11", env=env)
        assert child.stdout is not None
        while "[RUNNING] ProcessPayment" not in (line := child.stdout.readline()):
            assert line, "paycli ended before the charge started"
        time.sleep(0.3)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
        assert child.returncode == 130, (out, err)
        assert re.search(r"\[STOPPED\] ProcessPayment [\d.]+ m?s stopped by Ctrl-C", out), out
        assert "[FAILED] ProcessPayment" not in out
        assert "is PROCESSING with 11.00 USD held; run `paycli recover`" in err + out


    def test_a_stopped_refund_is_not_called_failed(
            self, funded: Path, env: dict[str, str], gateway: Any) -> None:
        """The same for a refund: `[STOPPED] ProcessRefund`, its money reserved, exit 130."""
        code, paid = run_json(funded, "pay", "--user", "alice", "--amount", "30", env=env)
        assert code == 0, paid
        gateway.set_mode("slow", latency_ms=5000)
        child = spawn(funded, "refund", paid["payment_id"], "--amount", "10", env=env)
        assert child.stdout is not None
        while "[RUNNING] ProcessRefund" not in (line := child.stdout.readline()):
            assert line, "paycli ended before the refund was sent"
        time.sleep(0.3)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
        assert child.returncode == 130, (out, err)
        assert re.search(r"\[STOPPED\] ProcessRefund [\d.]+ m?s stopped by Ctrl-C", out), out
        assert "[FAILED] ProcessRefund" not in out
        assert "with 10.00 USD reserved on " + paid["payment_id"] in err + out

class TestPanel:
    @pytest.mark.parametrize("columns", [60, 80, 120])
    @pytest.mark.parametrize("mode", ["slow", "pending"])
    def test_ctrl_c_mid_charge_draws_stopped_and_a_closing_line(
            self, funded: Path, env: dict[str, str], gateway: Any, columns: int,
            mode: str) -> None:
        """At 60, 80 and 120 columns, slow or pending: ⏸ STOPPED, never ❌ FAILED or
        ⚠️ PENDING for the step; the footer says what is held and that recover finishes."""
        gateway.set_mode(mode, latency_ms=5000)
        child = on_terminal(funded, "pay", "--user", "alice", "--amount", "11", "--wait", "30",
                            env=env, columns=columns)
        child.expect("attempt 1/" if mode == "slow" else "PENDING")
        press_ctrl_c(child, "interrupted")
        exit_code, screen = finish(child)
        assert exit_code == 130, screen
        final = squeezed(screen[screen.rfind("╭"):])
        assert "STOPPED ProcessPayment" in final and "stopped by Ctrl-C" in final, final
        assert "FAILED ProcessPayment" not in final and "PENDING ProcessPayment" not in final
        assert re.search(r"⏸ STOPPED by Ctrl-C: pay_[0-9a-f]{24} is PROCESSING with 11\.00 "
                         r"USD held; run `paycli recover` to finish it", final), final
        assert "interrupted: pay_" in final  # the message line after the panel is kept
        if mode == "slow":  # the gateway has an answer now: `recover` finishes it either way
            gateway.set_mode("ok")
            code, out = run_json(funded, "recover", env=env)
            assert code == 0 and out["resolved"][0]["status"] in ("COMPLETED", "FAILED"), out
