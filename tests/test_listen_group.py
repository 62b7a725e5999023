"""Group commit in `paycli listen`: deliveries that arrive together are applied in one
transaction, each exactly as it would be alone, and each answered only after the commit
that holds it.

`saga.inbound.apply_events` is driven directly on each engine (a PENDING payment, a
failing event and a duplicate inside one group), and the receiver is sent many
deliveries at once on one event loop, checking the ledger the moment each answer lands.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from test_listen import PATH, SECRET, charge_event, signed
from test_resolve import CannotTell, env_for

from paycli.cli.listen import Receiver
from paycli.errors import PaycliError
from paycli.gateway.webhook import GatewayEvent, Verifier
from paycli.ledger import wallet
from paycli.money import Money
from paycli.saga import inbound
from paycli.saga import pay as saga
from paycli.saga.inbound import Applied, NotReady, apply_events
from paycli.saga.steps import SilentReporter
from paycli.store import Store
from paycli.store.inbound import webhook_taken

AT = "2026-01-01T00:00:00Z"


def processing(store: Store, count: int) -> list[str]:
    """`count` payments of 1.00 USD left PROCESSING; alice is credited 100.00."""
    wallet.credit(store, "alice", Money(100_00, "USD"))
    env = env_for(store, CannotTell(pending=True))
    return [str(saga.pay(env, saga.PayRequest("alice", Money(1_00, "USD"), wait_s=0),
                         SilentReporter()).result.payment_id) for _ in range(count)]


def event(payment_id: str, webhook_id: str) -> GatewayEvent:
    """A verified `charge.approved` for the payment, as the verifier hands it on."""
    body, headers = signed(charge_event(payment_id, amount="1.00"), webhook_id)
    return Verifier(SECRET).verify(headers, body)


def status_of(store: Store, payment_id: str) -> str:
    """The payment's status in the ledger now."""
    found = store.read.payment(payment_id)
    assert found is not None
    return str(found.status)


def set_status(store: Store, payment_id: str, status: str) -> None:
    """Put a payment back in a state only a saga in progress leaves (a test's shortcut)."""
    store.conn.execute("UPDATE payments SET status = ? WHERE id = ?", (status, payment_id))
    if store.backend == "sqlite":
        store.conn.commit()  # type: ignore[attr-defined]


class TestApplyEvents:
    def test_a_group_settles_each_payment_once_citing_its_own_webhook(
            self, store: Store, db_path: Path) -> None:
        """Three events in one call: three applied, each payment COMPLETED by one settle
        event with actor `webhook` that cites that event's webhook id."""
        ids = processing(store, 3)
        with Store(str(db_path), actor="webhook") as listener:
            results = apply_events(listener, [(event(p, f"msg_g{n}"), AT)
                                              for n, p in enumerate(ids)])
        assert [r.outcome for r in results if isinstance(r, Applied)] == ["applied"] * 3
        for number, payment_id in enumerate(ids):
            [done] = [e for e in store.read.events_of(payment_id)
                      if e.type == "payment.completed"]
            assert done.actor == "webhook"
            assert json.loads(done.payload)["webhook_id"] == f"msg_g{number}"
        account = store.read.account("wallet", "alice", "USD")
        assert account is not None and (account.balance, account.held) == (97_00, 0)

    def test_a_pending_payment_in_a_group_is_left_out_alone(self, store: Store) -> None:
        """The middle payment still PENDING: it alone is NotReady (its id not taken, so
        the gateway's retry applies it later); the two others are applied."""
        first, middle, last = processing(store, 3)
        set_status(store, middle, "PENDING")
        results = apply_events(store, [(event(first, "msg_a"), AT),
                                       (event(middle, "msg_b"), AT), (event(last, "msg_c"), AT)])
        assert isinstance(results[1], NotReady)
        assert [results[0], results[2]] == [Applied("applied", first, "PROCESSING"),
                                            Applied("applied", last, "PROCESSING")]
        assert not webhook_taken(store.read, "msg_b")
        set_status(store, middle, "PROCESSING")
        assert apply_events(store, [(event(middle, "msg_b"), AT)])[0] == Applied(
            "applied", middle, "PROCESSING")
        assert {status_of(store, p) for p in (first, middle, last)} == {"COMPLETED"}

    def test_one_failing_event_fails_alone_and_the_others_are_applied(
            self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        """Settling the middle one raises: the group is rolled back and each tried alone,
        so the two others are applied and the failing one gets its error, its id not
        taken and its payment still PROCESSING (left to the gateway's retry)."""
        first, middle, last = processing(store, 3)
        real = inbound._settle

        def failing(tx: object, gateway_event: GatewayEvent, target: object) -> None:
            if gateway_event.payment_id == middle:
                raise PaycliError("the ledger refused it")
            real(tx, gateway_event, target)  # type: ignore[arg-type]

        monkeypatch.setattr(inbound, "_settle", failing)
        results = apply_events(store, [(event(p, f"msg_f{n}"), AT)
                                       for n, p in enumerate((first, middle, last))])
        assert isinstance(results[1], PaycliError) and not isinstance(results[1], Applied)
        assert [r.outcome for r in (results[0], results[2])] == ["applied", "applied"]  # type: ignore[union-attr]
        assert [status_of(store, p) for p in (first, middle, last)] == [
            "COMPLETED", "PROCESSING", "COMPLETED"]
        assert not webhook_taken(store.read, "msg_f1")

    def test_the_same_id_twice_in_a_group_is_applied_once(self, store: Store) -> None:
        """A delivery and its duplicate arriving together: applied, then duplicate."""
        [payment_id] = processing(store, 1)
        results = apply_events(store, [(event(payment_id, "msg_d"), AT)] * 2)
        assert [r.outcome for r in results] == ["applied", "duplicate"]  # type: ignore[union-attr]
        completed = [e for e in store.read.events_of(payment_id)
                     if e.type == "payment.completed"]
        assert len(completed) == 1


class TestReceiverGroups:
    def test_each_answer_comes_after_the_commit_holding_its_delivery(
            self, store: Store, db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """40 deliveries sent at once on one event loop (so they queue into groups): each
        200 `applied` only once its payment reads COMPLETED from another connection, and
        each printed line carries `ms` from receipt to commit."""
        ids = processing(store, 40)
        receiver = Receiver(Verifier(SECRET), str(db_path), as_json=True)
        seen: list[str] = []

        async def send(http: httpx.AsyncClient, number: int, payment_id: str) -> None:
            body, headers = signed(charge_event(payment_id, amount="1.00"),
                                   f"msg_r{number}")
            answer = await http.post(PATH, content=body, headers=headers)
            assert answer.status_code == 200 and answer.json() == {"outcome": "applied"}
            seen.append(status_of(store, payment_id))  # read the moment the answer lands

        async def send_all() -> None:
            transport = httpx.ASGITransport(app=receiver.app())
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
                await asyncio.gather(*(send(http, n, p) for n, p in enumerate(ids)))

        try:
            asyncio.run(send_all())
        finally:
            receiver.close()
        assert seen == ["COMPLETED"] * 40
        printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert len(printed) == 40
        assert all(line["status"] == 200 and line["ms"] >= 0 for line in printed)
