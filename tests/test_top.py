"""`paycli top` on a real pseudo-terminal (pexpect), at 80x24 and 120x40: it shows the
payments other processes make and the latest failure's whole id, and `q`, Ctrl-C and
SIGTERM each leave it with exit 0 and the terminal's main screen back."""

from __future__ import annotations

import io
import signal
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest
from helpers import ROOT, run_json, spawn
from test_terminal import CUT_SHORT

pytestmark = pytest.mark.slow

LEAVE_ALT_SCREEN = "\x1b[?1049l"


def _top(db: Path, env: dict[str, str], rows: int, columns: int) -> pexpect.spawn:
    child = pexpect.spawn(sys.executable, ["-m", "paycli", "--db", str(db), "top"],
                          env={**env, "TERM": "xterm-256color"}, cwd=str(ROOT),
                          dimensions=(rows, columns), encoding="utf-8", timeout=30,
                          codec_errors=CUT_SHORT,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    child.logfile_read = io.StringIO()
    child.expect("paycli top")
    return child


def _ended(child: pexpect.spawn) -> tuple[int, str]:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus, child.logfile_read.getvalue()


@pytest.mark.parametrize(("rows", "columns"), [(24, 80), (40, 120)])
def test_shows_other_processes_and_quits_on_q(funded: Path, env: dict[str, str],
                                              gateway: Any, rows: int, columns: int) -> None:
    """A declined payment's whole id shows among the failures while 4 processes pay;
    `q` leaves with exit 0 and the main screen restored."""
    gateway.reset(mode="decline")
    code, declined = run_json(funded, "pay", "--user", "alice", "--amount", "1", env=env)
    assert code == 4
    gateway.reset(mode="ok")
    child = _top(funded, env, rows, columns)
    payers = [spawn(funded, "pay", "--user", "alice", "--amount", "1", "--json", env=env)
              for _ in range(4)]
    try:
        child.expect(declined["payment_id"])  # never cut, at either width
        child.expect("approval [0-9.]+ %")
        for payer in payers:
            payer.communicate(timeout=60)
            assert payer.returncode == 0
    finally:
        child.send("q")
    code, screen = _ended(child)
    assert code == 0 and LEAVE_ALT_SCREEN in screen[-200:]
    assert "Traceback" not in screen


@pytest.mark.parametrize("leave", ["ctrl-c", "sigterm"])
def test_ctrl_c_and_sigterm_leave_cleanly(funded: Path, env: dict[str, str],
                                          leave: str) -> None:
    """Ctrl-C and SIGTERM end it like q: exit 0, the main screen back, no traceback."""
    child = _top(funded, env, 24, 80)
    if leave == "ctrl-c":
        child.sendintr()
    else:
        child.kill(signal.SIGTERM)
    code, screen = _ended(child)
    assert code == 0
    assert LEAVE_ALT_SCREEN in screen[-200:] and "Traceback" not in screen


@pytest.mark.parametrize(("rows", "columns"), [(24, 80), (40, 120)])
def test_shows_a_billing_run_and_payers_in_flight(funded: Path, env: dict[str, str],
                                                  gateway: Any, tmp_path: Path, rows: int,
                                                  columns: int) -> None:
    """While a billing run and 4 paying processes wait on a slow gateway, `top` counts
    their payments in flight and then their settled throughput; both finish (exit 0)
    under it, and `q` leaves it cleanly."""
    gateway.reset()
    gateway.set_mode("slow", latency_ms=300)
    run_file = tmp_path / "run.csv"
    run_file.write_text("user,amount,currency,order_id\n" + "".join(
        f"alice,0.10,USD,top-{number}\n" for number in range(80)))
    child = _top(funded, env, rows, columns)
    others = [spawn(funded, "batch", str(run_file), "--concurrency", "4", "--json", env=env),
              *(spawn(funded, "pay", "--user", "alice", "--amount", "1", "--json", env=env)
                for _ in range(4))]
    try:
        child.expect(r"in flight [1-9]")
        child.expect(r"[1-9][0-9]*\.[0-9] payments/s")
        for other in others:
            other.communicate(timeout=90)
            assert other.returncode == 0
    finally:
        child.send("q")
    code, screen = _ended(child)
    assert code == 0 and LEAVE_ALT_SCREEN in screen[-200:]
    assert "Traceback" not in screen
