"""A closed pipe: paycli's reader goes away (`paycli payments list | head -1`) and paycli
ends as a Unix tool does, killed quietly by SIGPIPE (141 in the shell), never with a
traceback or the internal-error code 1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, paycli_env, run_json

ENDED_BY_SIGPIPE = -signal.SIGPIPE  # how subprocess reports a process the signal ended


def with_closed_stdout(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `paycli --db DB ARGS` with stdout a pipe whose reading end is already closed,
    as `| head` leaves it once it has read its lines."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "paycli", "--db", str(db), *args],
                              stdout=write_end, stderr=subprocess.PIPE, text=True,
                              env=paycli_env(), cwd=ROOT, timeout=60)
    finally:
        os.close(write_end)


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """A ledger with three wallets credited."""
    db = tmp_path / "ledger.db"
    for user in ("alice", "bob", "carol"):
        assert run_json(db, "wallet", "credit", "--user", user, "--amount", "5")[0] == 0
    return db


class TestClosedPipe:
    """Every command ends the same way when its reader is gone."""

    @pytest.mark.parametrize("args", [
        ("payments", "list"),
        ("wallet", "history", "--user", "alice"),
        ("wallet", "balance", "--user", "alice"),
        ("reconcile", "--report", "fixtures/settlement/breaks.csv"),
        ("replay-events", "--json"),
        ("export", "--format", "csv"),
        ("--help",),
    ])
    def test_ends_by_sigpipe_without_a_word(self, ledger: Path, args: tuple[str, ...]) -> None:
        """Killed by SIGPIPE at its first write: nothing on stderr, not exit 1."""
        done = with_closed_stdout(ledger, *args)
        assert (done.returncode, done.stderr) == (ENDED_BY_SIGPIPE, "")

    def test_a_shell_sees_141(self, ledger: Path) -> None:
        """`paycli reconcile --report breaks.csv | head -n 0`: the shell reports paycli's
        status as 141, as for `yes | head -n 0` (`head -n 0` leaves before paycli writes,
        so the test does not race `head -2` reading its lines)."""
        script = (f'"{sys.executable}" -m paycli --db "{ledger}" reconcile --report '
                  'fixtures/settlement/breaks.csv | head -n 0; echo "status ${PIPESTATUS[0]}"')
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                              env=paycli_env(), cwd=ROOT, timeout=60)
        assert (done.stdout, done.stderr) == ("status 141\n", "")
