"""A PostgreSQL password given in `--db` never shows: not on stdout or stderr, not in the
log, not in a `--debug` traceback, not in `--json` errors, whether the server is
unreachable or answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import LedgerUrl, paycli_env, run

CANARY = "Canary-Pw-7f3e9a1c"
COMMANDS = [
    ("wallet", "balance", "--user", "alice"),
    ("wallet", "balance", "--user", "alice", "--json"),
    ("pay", "--user", "alice", "--amount", "1", "--json"),
    ("replay-events",),
    ("reconcile", "--report", "missing.csv"),
    ("backup", "copy.db"),
]


def leaks(done: Any, log: Path) -> bool:
    """Whether the canary shows anywhere the operator could see it."""
    logged = log.read_text() if log.exists() else ""
    return CANARY in done.stdout + done.stderr + logged


class TestThePasswordNeverShows:
    @pytest.mark.slow  # waits out the connection attempts: ~7 s
    @pytest.mark.parametrize("debug", [False, True])
    def test_an_unreachable_server(self, tmp_path: Path, debug: bool) -> None:
        """Nothing listens: one clear error (exit 2), never the password, even with
        --debug."""
        url = f"postgresql://ops:{CANARY}@127.0.0.1:9/ledger"
        log = tmp_path / "paycli.jsonl"
        for args in COMMANDS:
            done = run(LedgerUrl(url),  # type: ignore[arg-type]
                       *(("--debug",) if debug else ()), "--log-file", str(log),
                       *args, env=paycli_env("http://127.0.0.1:9"))
            assert done.returncode == 2, (args, done.stderr)
            assert not leaks(done, log), (args, done.stdout, done.stderr)

    @pytest.mark.slow
    def test_a_server_that_answers(self, tmp_path: Path, pg: Any) -> None:
        """A URL carrying a password (the test cluster trusts, so it is not checked):
        commands work and neither their output nor `db copy`'s target shows it."""
        url = pg.create_ledger().replace("postgresql://postgres@",
                                         f"postgresql://postgres:{CANARY}@", 1)
        log = tmp_path / "paycli.jsonl"
        env = paycli_env("http://127.0.0.1:9")
        done = run(LedgerUrl(url),  # type: ignore[arg-type]
                       "--log-file", str(log), "wallet", "credit", "--user", "alice",
                   "--amount", "5", "--json", env=env)
        assert done.returncode == 0, done.stderr
        assert not leaks(done, log)
        source = tmp_path / "source.db"
        run(source, "wallet", "credit", "--user", "bob", "--amount", "5", env=env)
        target = pg.create().replace("postgresql://postgres@",
                                     f"postgresql://postgres:{CANARY}@", 1)
        copied = run(source, "--log-file", str(log), "db", "copy", "--to", target, "--json",
                     env=env)
        assert copied.returncode == 0, copied.stderr
        assert not leaks(copied, log) and "***" in copied.stdout
