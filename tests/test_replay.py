"""`replay-events`: the ledger rebuilt from its event log alone agrees with the stored tables,
and every kind of tampering behind paycli's back is found and named."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from doubles import ScriptedGateway, saga_env
from helpers import paycli_env, run_json
from history import History, credit, pay

from paycli.devtools.mock_process import MockGatewayProcess
from paycli.errors import UsageError
from paycli.ledger import postings as ledger
from paycli.ledger.replay import replay_events
from paycli.money import Money
from paycli.records import Payment
from paycli.store import Store
from paycli.store.replay import ReplayStore


def tamper(db: Path, *statements: str) -> None:
    """Run SQL on the ledger file behind paycli's back."""
    conn = sqlite3.connect(db)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def event_seq(db: Path, entity_id: str, event_type: str) -> int:
    """The sequence number of an entity's event of that type."""
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT seq FROM events WHERE entity_id = ? AND type = ?",
                           (entity_id, event_type)).fetchone()
    finally:
        conn.close()
    assert row is not None, (entity_id, event_type)
    return int(row[0])


def swap_events(db: Path, first: int, second: int) -> None:
    """Trade the whole contents (all but `seq`) of two events."""
    columns = "type, entity_id, payload, at, correlation_id, prev_hash, hash"
    conn = sqlite3.connect(db)
    try:
        rows = {seq: conn.execute(f"SELECT {columns} FROM events WHERE seq = ?", (seq,)
                                  ).fetchone() for seq in (first, second)}
        conn.execute("DROP TRIGGER events_no_update")
        assignments = ", ".join(f"{column} = ?" for column in columns.split(", "))
        for seq, other in ((first, second), (second, first)):
            conn.execute(f"UPDATE events SET {assignments} WHERE seq = ?", (*rows[other], seq))
        conn.commit()
    finally:
        conn.close()


def findings(result: dict[str, Any]) -> set[tuple[str, str, str, Any, Any]]:
    """The mismatches as comparable tuples."""
    return {(m["entity"], m["id"], m["field"], m["stored"], m["replayed"])
            for m in result["mismatches"]}


class TestConsistent:
    def test_a_busy_ledger_replays_consistently(self, store: Store, history: History) -> None:
        """After credits, every payment outcome and refunds, replay agrees with the tables."""
        result = replay_events(store).to_json()
        assert result == {"events": store.read.event_count(), "chain_ok": True,
                          "consistent": True, "mismatches": [], "chain_break": None}
        assert result["events"] > 50

    def test_an_empty_ledger_is_consistent(self, store: Store) -> None:
        """No events, no rows: nothing to disagree about."""
        assert replay_events(store).to_json() == {"events": 0, "chain_ok": True, "consistent": True,
                                        "mismatches": [], "chain_break": None}

    def test_a_payment_left_processing_is_consistent(self, store: Store) -> None:
        """A hold still pending (outcome unknown) replays as held, not spent."""
        gateway = ScriptedGateway(mode="pending")
        credit(store, "dave", "10")
        outcome = pay(saga_env(store, gateway), "dave", "7")
        assert outcome.result.status == "PROCESSING"
        assert replay_events(store).to_json()["consistent"] is True

    def test_progress_is_reported_up_to_the_last_event(self, store: Store,
                                                       history: History) -> None:
        """The progress callback ends at (events, events)."""
        seen: list[tuple[int, int]] = []
        result = replay_events(store, lambda done, total: seen.append((done, total))).to_json()
        assert seen[-1] == (result["events"], result["events"])

    def test_the_ledger_is_attached_read_only(self, store: Store, history: History) -> None:
        """The replay's connection cannot write to the stored ledger."""
        with ReplayStore(store) as replay, pytest.raises(sqlite3.OperationalError,
                                                              match="readonly"):
            replay.conn.execute("DELETE FROM stored.payments")

    def test_an_in_memory_ledger_is_refused(self) -> None:
        """There is no file to attach: a usage error, not a crash."""
        with Store(":memory:") as memory, pytest.raises(UsageError, match="ledger file"):
            replay_events(memory).to_json()


class TestTampering:
    def test_a_wallet_balance_changed_directly(self, store: Store, db_path: Path,
                                               history: History) -> None:
        """A balance raised by SQL is a mismatch of that account's balance."""
        before = store.read.account("wallet", "alice", "USD")
        assert before is not None
        tamper(db_path, "UPDATE accounts SET balance = balance + 100000 "
                        "WHERE kind = 'wallet' AND user_id = 'alice' AND currency = 'USD'")
        result = replay_events(store).to_json()
        assert result["chain_ok"] is True and result["consistent"] is False
        expected = f"{before.balance / 100:.2f}"
        raised = f"{before.balance / 100 + 1000:.2f}"
        assert findings(result) == {("account", "wallet:alice:USD", "balance", raised, expected)}

    def test_an_edited_payload(self, store: Store, db_path: Path, history: History) -> None:
        """A credit's amount edited in its event breaks the chain there, and the balance,
        the transfer and the funding account no longer agree with it."""
        seq = event_seq(db_path, _credit_of(store, "bob"), "transfer.posted")
        tamper(db_path, "DROP TRIGGER events_no_update",
               f"UPDATE events SET payload = replace(payload, '\"amount\":25050', "
               f"'\"amount\":35050') WHERE seq = {seq}")
        result = replay_events(store).to_json()
        assert result["chain_ok"] is False
        assert result["chain_break"]["seq"] == seq and "edited" in result["chain_break"]["reason"]
        assert findings(result) == {
            ("account", "wallet:bob:USD", "balance", "200.00", "300.00"),
            ("account", "funding:USD", "balance", "-1250.50", "-1350.50"),
            ("transfer", _credit_of(store, "bob"), "amount", "250.50", "350.50"),
        }

    def test_a_deleted_event(self, store: Store, db_path: Path, history: History) -> None:
        """A deleted completion leaves a gap in the chain and the payment unfinished."""
        payment_id = history.payments["completed"]
        seq = event_seq(db_path, payment_id, "payment.completed")
        tamper(db_path, "DROP TRIGGER events_no_delete", f"DELETE FROM events WHERE seq = {seq}")
        result = replay_events(store).to_json()
        assert result["chain_break"] == {
            "seq": seq + 1,
            "reason": f"sequence gap: expected event {seq}, found {seq + 1} "
                      "(an event was removed)"}
        assert ("payment", payment_id, "status", "COMPLETED", "PROCESSING") in findings(result)

    def test_the_last_event_deleted(self, store: Store, db_path: Path, history: History) -> None:
        """Cutting the log's tail leaves a valid chain, but the tables disagree with it."""
        last = store.read.event_count()
        tamper(db_path, "DROP TRIGGER events_no_delete", f"DELETE FROM events WHERE seq = {last}")
        result = replay_events(store).to_json()
        assert result["chain_ok"] is True and result["consistent"] is False
        assert result["events"] == last - 1

    def test_two_events_swapped(self, store: Store, db_path: Path, history: History) -> None:
        """Two events whose contents trade places break the chain at the first of them."""
        payment_id = history.payments["declined"]
        first = event_seq(db_path, payment_id, "payment.processing")
        second = event_seq(db_path, payment_id, "payment.failed")
        swap_events(db_path, first, second)
        result = replay_events(store).to_json()
        assert result["chain_break"]["seq"] == first
        assert "prev_hash" in result["chain_break"]["reason"]
        assert ("payment", payment_id, "status", "FAILED", "PROCESSING") in findings(result)

    def test_a_payment_status_changed_directly(self, store: Store, db_path: Path,
                                               history: History) -> None:
        """A payment marked REFUNDED by SQL is a mismatch of its status, and only that."""
        payment_id = history.payments["completed"]
        tamper(db_path, f"UPDATE payments SET status = 'REFUNDED' WHERE id = '{payment_id}'")
        result = replay_events(store).to_json()
        assert result["chain_ok"] is True
        assert findings(result) == {("payment", payment_id, "status", "REFUNDED", "COMPLETED")}

    def test_a_refund_row_inserted_without_its_events(self, store: Store, db_path: Path,
                                                      history: History) -> None:
        """A row the log never created is reported as present in the tables only."""
        refund_id = history.refunds["partial"]
        tamper(db_path, "INSERT INTO refunds (id, payment_id, currency, amount, gateway_key, "
                        "status, created_at, updated_at) SELECT 'ref_' || hex(randomblob(12)), "
                        f"payment_id, currency, amount, 'k', 'COMPLETED', created_at, updated_at "
                        f"FROM refunds WHERE id = '{refund_id}'")
        [found] = replay_events(store).to_json()["mismatches"]
        assert found["entity"] == "refund" and found["field"] == "row"
        assert (found["stored"], found["replayed"]) == ("present", "absent")

    def test_an_event_of_unknown_type_is_a_finding(self, store: Store,
                                                   history: History) -> None:
        """A well-chained event that replay cannot apply is reported, not skipped."""
        with store.transaction() as tx:
            seq = tx.append_event("payment.mystery", "pay_x", {"id": "pay_x", "changes": {}})
        result = replay_events(store).to_json()
        assert result["chain_ok"] is True and result["consistent"] is False
        [found] = result["mismatches"]
        assert found["entity"] == "event" and found["id"] == str(seq)
        assert found["stored"] == "payment.mystery pay_x"


@pytest.mark.slow
class TestAgainstTheMockGateway:
    def test_real_processes_replay_consistently(self, db_path: Path,
                                                gateway: MockGatewayProcess) -> None:
        """paycli processes against the mock gateway (ok, declined, down, pending then
        recover, partial and full refunds) leave a ledger that replays with exit 0."""
        env = paycli_env(gateway.url, PAYCLI_RETRY_ATTEMPTS="1")
        assert run_json(db_path, "wallet", "credit", "--user", "erin", "--amount", "500",
                        env=env)[0] == 0
        paid = {}
        for mode, expected_code in (("ok", 0), ("decline", 4), ("down", 5), ("pending", 10)):
            gateway.set_mode(mode, latency_ms=300)
            code, out = run_json(db_path, "pay", "--user", "erin", "--amount", "60",
                                 "--wait", "0", env=env)
            assert code == expected_code, out
            paid[mode] = out["payment_id"]
        gateway.set_mode("ok")
        time.sleep(0.4)  # the pending charge settles at the gateway
        assert run_json(db_path, "recover", env=env)[0] == 0
        assert run_json(db_path, "refund", paid["ok"], "--amount", "10", env=env)[0] == 0
        assert run_json(db_path, "refund", paid["ok"], env=env)[0] == 0
        code, out = run_json(db_path, "replay-events", env=env)
        assert code == 0 and out["consistent"] and out["chain_ok"], out
        tamper(db_path, "UPDATE accounts SET held = held + 1 WHERE user_id = 'erin'")
        code, out = run_json(db_path, "replay-events", env=env)
        assert code == 8
        assert out["mismatches"] == [{"entity": "account", "id": "wallet:erin:USD",
                                      "field": "held", "stored": "0.01", "replayed": "0.00"}]


def _credit_of(store: Store, user: str) -> str:
    conn = store.conn
    row = conn.execute("SELECT t.id FROM transfers t JOIN accounts a ON a.id = t.credit_account "
                       "WHERE t.kind = 'credit' AND a.user_id = ?", (user,)).fetchone()
    return str(row[0])


def _big_ledger(store: Store, payments: int) -> Iterator[None]:
    """Completed payments (a credit, a hold, its post: 6 events each) in big transactions."""
    amount = Money(100, "USD")
    for start in range(0, payments, 5000):
        with store.transaction("bulk") as tx:
            moves = ledger.Postings(tx)
            for i in range(start, min(start + 5000, payments)):
                user = f"user_{i % 500}"
                moves.deposit("credit", user, amount, None)
                payment_id = ledger.new_id("pay")
                tx.insert_payments([Payment(payment_id, user, "USD", 100, None, None, "k",
                                            "PENDING", None, None, 0, 0, None, None, None,
                                            tx.at, tx.at)])
                tx.append_event("payment.created", payment_id, {
                    "id": payment_id, "user": user, "currency": "USD", "amount": 100})
                hold_id = moves.hold(user, amount, payment_id)
                _change(tx, payment_id, "payment.funds_reserved", {"hold_id": hold_id})
                moves.commit(hold_id)
                _change(tx, payment_id, "payment.completed",
                        {"status": "COMPLETED", "gateway_ref": f"ch_{i}"})
            moves.write()
        yield


def _change(tx: Any, payment_id: str, event: str, changes: dict[str, Any]) -> None:
    tx.update("payments", payment_id, changes)
    tx.append_event(event, payment_id, {"id": payment_id, "changes": changes})


@pytest.mark.slow
class TestBigLedger:
    def test_a_hundred_thousand_events_replay_consistently(self, store: Store) -> None:
        """~100k events (17,000 completed payments) are verified and replayed: the chain
        holds and the replay agrees with the tables. How fast is for `paycli bench`, not for
        a test on a noisy machine."""
        for _ in _big_ledger(store, 17_000):
            pass
        result = replay_events(store).to_json()
        assert result["events"] == 102_000 and result["consistent"] and result["chain_ok"]
