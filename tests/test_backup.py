"""`paycli backup`: an online copy of a SQLite ledger, consistent while others pay,
private, verified by replaying it before success is reported, and nothing left behind
when it fails."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import CliCall
from helpers import ROOT

from paycli.errors import LedgerVerificationFailed, UsageError
from paycli.ledger import replay
from paycli.store import Store

PAYER = """
import sys, time
sys.path.insert(0, "tests")
from doubles import ScriptedGateway, saga_env
from paycli.ledger import wallet
from paycli.money import Money
from paycli.saga import pay as saga
from paycli.saga.steps import SilentReporter
from paycli.store import Store
store, user = Store(sys.argv[1]), sys.argv[2]
gateway = ScriptedGateway()
wallet.credit(store, user, Money(10**9, "USD"))
deadline = time.monotonic() + float(sys.argv[3])
while time.monotonic() < deadline:
    saga.pay(saga_env(store, gateway), saga.PayRequest(user=user, money=Money(123, "USD"),
             wait_s=0), SilentReporter())
"""


def events(path: Path) -> list[tuple[int, str]]:
    """A ledger's events as (seq, hash), in order."""
    with Store(str(path)) as store:
        return [(event.seq, event.hash) for event in store.read.events()]


def leftovers(folder: Path, name: str) -> list[str]:
    """Files in `folder` a backup to `name` may have left (temporary copies)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f".{name}."))


class TestBackup:
    def test_a_copy_that_replays_and_is_private(self, history: Any, store: Store,
                                                tmp_path: Path, cli: CliCall) -> None:
        """--json gives path, events and consistent; the file is 0600 and replays clean,
        with the source's every event."""
        target = tmp_path / "copy.db"
        result = cli("backup", str(target), "--json")
        assert result.exit_code == 0, result.output
        printed = json.loads(result.stdout)
        assert printed == {"path": str(target), "events": store.read.event_count(),
                           "consistent": True}
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        with Store(str(target)) as copy:
            checked = replay.replay_events(copy)
            assert checked.consistent and checked.chain_ok
            assert copy.read.accounts() == store.read.accounts()
        assert leftovers(tmp_path, "copy.db") == []

    @pytest.mark.slow
    def test_taken_while_two_processes_pay(self, db_path: Path, tmp_path: Path,
                                           cli: CliCall) -> None:
        """Two processes pay without pause while three backups are taken: each copy replays
        consistent, and its events are the source's first events, so its balances are the
        source's at the copy's last event."""
        Store(str(db_path)).close()
        payers = [subprocess.Popen([sys.executable, "-c", PAYER, str(db_path), user, "8"],
                                   cwd=ROOT) for user in ("ann", "bob")]
        copies = []
        try:
            time.sleep(1.5)
            for number in range(3):
                target = tmp_path / f"copy{number}.db"
                result = cli("backup", str(target))
                assert result.exit_code == 0, result.output
                copies.append(target)
                time.sleep(0.5)
        finally:
            for payer in payers:
                assert payer.wait(timeout=60) == 0
        source = events(db_path)
        sizes = []
        for target in copies:
            with Store(str(target)) as copy:
                checked = replay.replay_events(copy)
            assert checked.consistent and checked.chain_ok
            copied = events(target)
            assert copied == source[:len(copied)]
            sizes.append(len(copied))
        assert sizes == sorted(sizes) and sizes[0] < len(source)

    def test_an_unwritable_place_is_a_clear_error(self, history: Any, tmp_path: Path,
                                                  cli: CliCall) -> None:
        """A folder that is a file: one line, exit 2, nothing written."""
        blocker = tmp_path / "file"
        blocker.write_text("not a folder")
        before = sorted(tmp_path.iterdir())
        result = cli("backup", str(blocker / "copy.db"))
        assert result.exit_code == 2
        assert result.stderr.strip().startswith(f"Error: backup {blocker / 'copy.db'}: "
                                                "cannot write there")
        assert sorted(tmp_path.iterdir()) == before

    def test_a_copy_that_does_not_replay_is_removed(self, history: Any, store: Store,
                                                    tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
        """Verification fails: exit 8's error, no target, no temporary file left."""
        real = replay.replay_events

        def broken(copy: Store, *args: Any) -> Any:
            return real(copy, *args).model_copy(update={"consistent": False})

        monkeypatch.setattr(replay, "replay_events", broken)
        with pytest.raises(LedgerVerificationFailed, match="nothing was written"):
            replay.backup(store, tmp_path / "copy.db")
        assert not (tmp_path / "copy.db").exists()
        assert leftovers(tmp_path, "copy.db") == []

    def test_postgresql_points_to_pg_dump(self, tmp_path: Path) -> None:
        """A PostgreSQL ledger: a usage error naming pg_dump, nothing written."""

        class Postgres:
            backend = "postgresql"

        with pytest.raises(UsageError, match="pg_dump"):
            replay.backup(Postgres(), tmp_path / "copy.db")  # type: ignore[arg-type]
        assert list(tmp_path.iterdir()) == []


class TestExistingTarget:
    """A backup never replaces a file silently."""

    def test_an_existing_file_is_refused_and_kept(self, history: Any, tmp_path: Path,
                                                  cli: CliCall) -> None:
        """FILE exists: exit 2, one line naming --force, the file untouched."""
        target = tmp_path / "copy.db"
        target.write_text("last week's backup")
        result = cli("backup", str(target))
        assert result.exit_code == 2
        assert result.stderr == (f"Error: {target} exists: an earlier backup is never "
                                 "replaced silently (--force replaces it)\n")
        assert target.read_text() == "last week's backup"

    def test_force_replaces_it_with_a_verified_copy(self, history: Any, store: Store,
                                                    tmp_path: Path, cli: CliCall) -> None:
        """With --force the new copy takes the file's place, and it replays clean."""
        target = tmp_path / "copy.db"
        target.write_text("last week's backup")
        result = cli("backup", str(target), "--force", "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["events"] == store.read.event_count()
        assert events(target) == events(Path(store.path))
