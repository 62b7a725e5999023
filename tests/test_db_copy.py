"""`paycli db copy --to URL`: a ledger with payments, refunds and manual resolutions moves
between SQLite and PostgreSQL (each way: the source runs on both backends, the target is
the other), replays consistently there with every balance equal, leaves the source
untouched, and refuses a target that is not empty."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import LedgerUrl, run, run_json
from pg_server import Server

from paycli.devtools.mock_process import MockGatewayProcess
from paycli.store import Store


def balances(db: str) -> list[tuple[Any, ...]]:
    """Every account's owner, currency, balance and holds, in a stable order."""
    with Store(db) as store:
        return sorted((a.kind, a.user_id or "", a.currency, a.balance, a.held)
                      for a in store.read.accounts())


def fingerprint(db: str) -> tuple[int, str, list[tuple[Any, ...]]]:
    """What a copy must not change in its source: event count, chain head, balances."""
    with Store(db) as store:
        events = list(store.read.events())
    return len(events), events[-1].hash if events else "", balances(db)


@pytest.fixture
def target(db_path: Path, tmp_path: Path, pg: Server) -> str:
    """The other engine's empty ledger: PostgreSQL for a SQLite source, and the reverse."""
    if isinstance(db_path, LedgerUrl):
        return str(tmp_path / "copy.db")
    return pg.create()


@pytest.fixture
def busy(db_path: Path, env: dict[str, str], gateway: MockGatewayProcess) -> Path:
    """A ledger with credits, a completed payment, a partial refund, a declined payment,
    and a payment left PROCESSING then resolved by hand."""
    assert run_json(db_path, "wallet", "credit", "--user", "alice", "--amount", "500",
                    env=env)[0] == 0
    assert run_json(db_path, "wallet", "credit", "--user", "bob", "--amount", "1000",
                    "--currency", "JPY", env=env)[0] == 0
    code, paid = run_json(db_path, "pay", "--user", "alice", "--amount", "120", env=env)
    assert code == 0
    assert run_json(db_path, "refund", paid["payment_id"], "--amount", "20", env=env)[0] == 0
    gateway.set_mode("decline")
    assert run_json(db_path, "pay", "--user", "alice", "--amount", "5", env=env)[0] == 4
    gateway.set_mode("pending", latency_ms=60_000)
    code, stuck = run_json(db_path, "pay", "--user", "alice", "--amount", "7", "--wait", "0",
                           env=env)
    assert code == 10, stuck
    gateway.set_mode("ok")
    assert run_json(db_path, "payments", "resolve", stuck["payment_id"], "--approved",
                    "--reason", "support confirmed", env=env)[0] == 0
    return db_path


class TestDbCopy:
    @pytest.mark.slow  # a ledger with every kind of history, then a copy: ~10 s
    def test_copy_replays_consistently_with_equal_balances(
            self, busy: Path, target: str, env: dict[str, str]) -> None:
        """Every event and balance arrives; the target's replay is consistent; the source
        is untouched."""
        before = fingerprint(str(busy))
        code, out = run_json(busy, "db", "copy", "--to", target, env=env)
        assert code == 0, out
        assert out["consistent"] is True and out["events"] == before[0] > 0
        assert fingerprint(str(busy)) == before
        assert balances(target) == before[2]
        code, replayed = run_json(Path(target) if "://" not in target else target,  # type: ignore[arg-type]
                                  "replay-events", env=env)
        assert code == 0 and replayed["consistent"] and replayed["chain_ok"], replayed
        assert replayed["events"] == before[0]

    @pytest.mark.slow  # a ledger with every kind of history, then a copy: ~10 s
    def test_the_copy_keeps_working(self, busy: Path, target: str, env: dict[str, str]
                                    ) -> None:
        """New accounts and entries on the copy get new ids (no clash with copied ones)."""
        assert run_json(busy, "db", "copy", "--to", target, env=env)[0] == 0
        db: Any = target
        assert run_json(db, "wallet", "credit", "--user", "carol", "--amount", "3",
                        env=env)[0] == 0
        code, paid = run_json(db, "pay", "--user", "carol", "--amount", "1", env=env)
        assert code == 0 and paid["status"] == "COMPLETED"
        code, replayed = run_json(db, "replay-events", env=env)
        assert code == 0 and replayed["consistent"], replayed

    @pytest.mark.slow  # a ledger with every kind of history, then a copy: ~10 s
    def test_a_non_empty_target_is_refused(self, busy: Path, target: str,
                                           env: dict[str, str]) -> None:
        """A second copy into the same target is refused (exit 2) and changes nothing."""
        assert run_json(busy, "db", "copy", "--to", target, env=env)[0] == 0
        before = fingerprint(target)
        done = run(busy, "db", "copy", "--to", target, env=env)
        assert done.returncode == 2 and "not an empty ledger" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
        assert fingerprint(target) == before

    def test_an_unknown_scheme_is_a_usage_error(self, db_path: Path, env: dict[str, str],
                                                tmp_path: Path) -> None:
        """`--to mysql://…` is refused (exit 2), never taken for a path."""
        done = run(db_path, "db", "copy", "--to", "mysql://u:pw@host/db", env=env)
        assert done.returncode == 2 and "unsupported scheme" in done.stderr
        assert ":pw@" not in done.stderr
