"""`top`'s board (`ledger.board`) on a ledger this user may only read: the board refreshes
and `paycli top` runs (exit 0) through paycli's read-only connection, `mode=ro`, or
`immutable` where the folder does not let a reader make the WAL index, and the file is
left as it was; on PostgreSQL a role that may only SELECT is enough.

The tests may run as root, whom file modes do not stop: there the user's lack of write
permission is what `os.access` answers (paycli asks it before opening), and a folder in
which the WAL index cannot be made is a `mode=ro` open that fails as it would.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from doubles import ScriptedGateway, saga_env
from history import credit, pay
from typer.testing import CliRunner

from paycli.cli import app
from paycli.cli import top as top_command
from paycli.config import ENV
from paycli.devtools import statsbench
from paycli.ledger.board import Board
from paycli.store import Store, connection


@pytest.fixture
def read_only_ledger(tmp_path: Path) -> Iterator[Path]:
    """A ledger with a completed and a declined payment, its file and folder then made
    read-only (for root too: see the module's docstring)."""
    folder = tmp_path / "ledger"
    path = folder / "ledger.db"
    with Store(str(path)) as store:
        credit(store, "alice", "100")
        assert pay(saga_env(store, ScriptedGateway()), "alice", "5").error is None
        declined = saga_env(store, ScriptedGateway(mode="decline"))
        assert pay(declined, "alice", "7").error is not None
    path.chmod(0o444)
    folder.chmod(0o555)
    yield path
    folder.chmod(0o755)


@pytest.fixture(params=["mode=ro", "immutable"])
def not_writable(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """This user may not write the ledger; with `immutable`, nor make its WAL index."""
    real_access, real_connect = os.access, sqlite3.connect

    def access(path: Any, mode: int, *args: Any, **kwargs: Any) -> bool:
        return False if mode & os.W_OK else real_access(path, mode, *args, **kwargs)

    def connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        if request.param == "immutable" and str(database).endswith("?mode=ro"):
            raise sqlite3.OperationalError("unable to open database file")
        return real_connect(database, *args, **kwargs)

    monkeypatch.setattr(connection.os, "access", access)
    monkeypatch.setattr(connection.sqlite3, "connect", connect)
    return str(request.param)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class TestReadOnlyLedger:
    def test_the_board_refreshes(self, read_only_ledger: Path, not_writable: str) -> None:
        """A first look and a refresh read the payments, the failure and the breakers;
        the store says it is read-only and nothing is written."""
        before = _digest(read_only_ledger)
        with Store(str(read_only_ledger)) as store:
            assert store.read_only
            board = Board()
            board.refresh(store)
            board.refresh(store)
        assert sum(board.completed) == 1 and sum(board.failed) == 1
        assert [failure.reason for failure in board.failures] == ["declined"]
        assert _digest(read_only_ledger) == before

    def test_paycli_top_runs_and_leaves(self, read_only_ledger: Path, not_writable: str,
                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
        """`paycli top` without a terminal refreshes the board until Ctrl-C, then exits
        0; the ledger file is unchanged."""
        before = _digest(read_only_ledger)
        waits: list[float] = []

        def wait(seconds: float) -> bool:  # one refresh, then Ctrl-C
            waits.append(seconds)
            if len(waits) == 2:
                raise KeyboardInterrupt
            return False

        monkeypatch.setattr(top_command, "_wait", wait)
        env: dict[str, str | None] = {**dict.fromkeys(ENV.values()),
                                      "XDG_CONFIG_HOME": str(tmp_path / "config")}
        result = CliRunner().invoke(app, ["--db", str(read_only_ledger), "top"], env=env)
        assert result.exit_code == 0, result.output
        assert len(waits) == 2 and result.exception is None
        assert _digest(read_only_ledger) == before


@pytest.mark.postgresql
def test_a_select_only_role_is_enough_on_postgresql(pg: Any) -> None:
    """On PostgreSQL a role that may only SELECT the ledger's tables opens it, and the
    board's first look and refresh read its payments."""
    url = pg.create_ledger()
    role = f"paycli_reader_{os.getpid()}"
    statsbench.fill(url, 30, datetime.now(UTC), seconds=60)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN'.encode())
        admin.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"'.encode())
    try:
        parts = urlsplit(url)
        reader = urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname or ''}"
                                           + (f":{parts.port}" if parts.port else "")))
        with Store(reader) as store:
            board = Board()
            board.refresh(store)
            board.refresh(store)
        assert sum(board.completed) + sum(board.failed) + board.in_flight == 30
    finally:
        pg.drop(url)
        with psycopg.connect(pg.admin_url, autocommit=True) as admin:
            admin.execute(f'DROP ROLE IF EXISTS "{role}"'.encode())
