"""`paycli listen` as the gateway meets it: signed deliveries settle PROCESSING payments
and refunds once, through the one settle path, and hostile ones change nothing.

The receiver's ASGI app is driven in-process (Starlette's test client) against a ledger
on each engine; the command itself runs as a process for its exit codes and signals.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pexpect
import pytest
from conftest import CliCall
from helpers import paycli_command, paycli_env
from standardwebhooks import Webhook
from test_resolve import CannotTell, env_for

from paycli.cli.listen import Receiver
from paycli.devtools.mock_process import free_port
from paycli.gateway.protocol import Answer
from paycli.gateway.webhook import Verifier
from paycli.ledger import wallet
from paycli.ledger.batchfile import BatchRow
from paycli.money import Money
from paycli.saga import pay as saga
from paycli.saga import refund as refunds
from paycli.saga.batch import Batch, BatchOptions
from paycli.saga.steps import SilentReporter
from paycli.store import Store
from paycli.store.inbound import webhook_breaks

SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()
PATH = "/webhooks/gateway"


def signed(event: dict[str, Any], webhook_id: str, *, secret: str = SECRET,
           at: float | None = None, body: bytes | None = None) -> tuple[bytes, dict[str, str]]:
    """A delivery as the gateway sends it: body and Standard Webhooks headers."""
    raw = body if body is not None else json.dumps(event).encode()
    stamp = datetime.fromtimestamp(time.time() if at is None else at, tz=UTC)
    signature = Webhook(secret).sign(webhook_id, stamp, raw)
    return raw, {"webhook-id": webhook_id, "webhook-timestamp": str(int(stamp.timestamp())),
                 "webhook-signature": signature, "content-type": "application/json"}


def charge_event(payment_id: str, kind: str = "charge.approved", amount: str = "10.00"
                 ) -> dict[str, Any]:
    """The contract's gateway event for a charge of `amount` USD."""
    status = "approved" if kind == "charge.approved" else "declined"
    return {"type": kind, "id": f"evt_{payment_id}", "timestamp": "2026-01-01T00:00:00Z",
            "data": {"externalId": f"ext_{payment_id}", "paymentId": payment_id,
                     "status": status, "amount": amount, "currency": "USD",
                     "refundId": None}}


class AppClient:
    """Requests to an ASGI app in-process, one event loop per request (httpx's
    ASGI transport)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, path: str, **how: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
                return await http.request(method, path, **how)
        return asyncio.run(send())

    def post(self, path: str, **how: Any) -> httpx.Response:
        return self.request("POST", path, **how)


@pytest.fixture
def client(db_path: Path, store: Store) -> Iterator[AppClient]:
    """The receiver's app on the test's ledger (opened after `store` made it)."""
    receiver = Receiver(Verifier(SECRET), str(db_path), as_json=True)
    try:
        yield AppClient(receiver.app())
    finally:
        receiver.close()


@pytest.fixture
def stuck(store: Store) -> str:
    """A payment of 10.00 USD left PROCESSING (pending at the gateway), alice 100.00."""
    wallet.credit(store, "alice", Money(100_00, "USD"))
    request = saga.PayRequest("alice", Money(10_00, "USD"), wait_s=0)
    outcome = saga.pay(env_for(store, CannotTell(pending=True)), request, SilentReporter())
    assert outcome.result.status == "PROCESSING"
    return str(outcome.result.payment_id)


def deliver(client: AppClient | ProcessClient, event: dict[str, Any], webhook_id: str,
            **how: Any) -> httpx.Response:
    """POST one signed delivery; the response."""
    body, headers = signed(event, webhook_id, **how)
    return client.post(PATH, content=body, headers=headers)


def status_of(store: Store, payment_id: str) -> str:
    found = store.read.payment(payment_id)
    assert found is not None
    return str(found.status)


class TestSettling:
    def test_an_approved_charge_completes_the_payment_as_the_webhook(
            self, client: AppClient, store: Store, stuck: str) -> None:
        """200 applied; COMPLETED, the hold posted, the event by `webhook` citing the id."""
        answer = deliver(client, charge_event(stuck), "msg_1")
        assert answer.status_code == 200 and answer.json() == {"outcome": "applied"}
        assert status_of(store, stuck) == "COMPLETED"
        account = store.read.account("wallet", "alice", "USD")
        assert account is not None and (account.balance, account.held) == (90_00, 0)
        [settled] = [e for e in store.read.events_of(stuck) if e.type == "payment.completed"]
        assert settled.actor == "webhook"
        assert json.loads(settled.payload)["webhook_id"] == "msg_1"

    def test_a_declined_charge_fails_the_payment_and_frees_the_hold(
            self, client: AppClient, store: Store, stuck: str) -> None:
        """200 applied; FAILED, nothing left the wallet."""
        answer = deliver(client, charge_event(stuck, "charge.declined"), "msg_2")
        assert answer.status_code == 200
        assert status_of(store, stuck) == "FAILED"
        account = store.read.account("wallet", "alice", "USD")
        assert account is not None and (account.balance, account.held) == (100_00, 0)

    def test_a_replayed_id_is_200_and_changes_nothing(
            self, client: AppClient, store: Store, stuck: str) -> None:
        """The same id again, even carrying another outcome: 200 duplicate, no event."""
        assert deliver(client, charge_event(stuck), "msg_3").status_code == 200
        events = store.read.event_count()
        again = deliver(client, charge_event(stuck, "charge.declined"), "msg_3")
        assert again.status_code == 200 and again.json() == {"outcome": "duplicate"}
        assert store.read.event_count() == events
        assert status_of(store, stuck) == "COMPLETED" and webhook_breaks(store.read) == []

    def test_an_agreeing_event_for_a_final_state_changes_nothing(
            self, client: AppClient, store: Store, stuck: str) -> None:
        """A second approval under a new id: 200 agreed, no event, no break."""
        deliver(client, charge_event(stuck), "msg_4")
        events = store.read.event_count()
        answer = deliver(client, charge_event(stuck), "msg_5")
        assert answer.json() == {"outcome": "agreed"}
        assert store.read.event_count() == events and webhook_breaks(store.read) == []

    def test_a_contradicting_event_for_a_failed_payment_is_a_break(
            self, client: AppClient, store: Store, stuck: str) -> None:
        """Approved after FAILED: never rewritten, kept as a break naming both sides."""
        deliver(client, charge_event(stuck, "charge.declined"), "msg_6")
        events = store.read.event_count()
        answer = deliver(client, charge_event(stuck), "msg_7")
        assert answer.status_code == 200 and answer.json() == {"outcome": "break"}
        assert status_of(store, stuck) == "FAILED" and store.read.event_count() == events
        [kept] = webhook_breaks(store.read)
        assert (kept.id, kept.entity_id, kept.ledger_status, kept.gateway_status) == (
            "msg_7", stuck, "FAILED", "approved")

    @pytest.mark.parametrize("amount, currency", [("1.00", "USD"), ("10.00", "EUR")])
    def test_a_charge_event_for_other_money_is_a_break(
            self, client: AppClient, store: Store, stuck: str, amount: str,
            currency: str) -> None:
        """Approved, but for another amount or currency than the payment's 10.00 USD:
        nothing settled (still PROCESSING, the hold kept), kept as a break."""
        event = charge_event(stuck, amount=amount)
        event["data"]["currency"] = currency
        answer = deliver(client, event, "msg_other_money")
        assert answer.status_code == 200 and answer.json() == {"outcome": "break"}
        assert status_of(store, stuck) == "PROCESSING"
        account = store.read.account("wallet", "alice", "USD")
        assert account is not None and (account.balance, account.held) == (100_00, 10_00)
        assert [kept.id for kept in webhook_breaks(store.read)] == ["msg_other_money"]

    def test_reconcile_lists_the_break(self, client: AppClient, store: Store, stuck: str,
                                       cli: CliCall, tmp_path: Path) -> None:
        """`reconcile` shows the webhook break beside the report's breaks, and lists it
        in `--json` (`webhook_breaks`)."""
        deliver(client, charge_event(stuck, "charge.declined"), "msg_d")
        deliver(client, charge_event(stuck), "msg_contra")
        report = tmp_path / "report.csv"
        report.write_text("external_id,payment_id,type,status,amount,currency,created_at\n")
        result = cli("reconcile", "--report", str(report))
        assert "webhook breaks (1)" in result.stdout and "msg_contra" in result.stdout
        assert stuck in result.stdout
        listed = json.loads(cli("reconcile", "--report", str(report), "--json").stdout)
        [only] = listed["webhook_breaks"]
        assert only == {"webhook_id": "msg_contra", "type": "charge.approved",
                        "entity_id": stuck, "ledger_status": "FAILED",
                        "gateway_status": "approved", "received_at": only["received_at"]}
        assert listed["breaks"] == [] and only["received_at"]

    def test_an_unknown_payment_is_ignored(self, client: AppClient, store: Store) -> None:
        """Nothing of this ledger's: 200 ignored, nothing written but the id."""
        answer = deliver(client, charge_event("pay_nobody"), "msg_8")
        assert answer.status_code == 200 and answer.json() == {"outcome": "ignored"}
        assert store.read.event_count() == 0

    def test_a_refund_in_flight_completes_from_its_event(
            self, client: AppClient, store: Store) -> None:
        """A refund whose answer was lost: charge.refunded credits the wallet back."""
        wallet.credit(store, "bob", Money(50_00, "USD"))
        env = env_for(store, CannotTell())
        paid = saga.pay(env, saga.PayRequest("bob", Money(20_00, "USD")), SilentReporter())
        request = refunds.RefundRequest(str(paid.result.payment_id), "4", "damaged")
        refund_id = str(refunds.refund(env, request, SilentReporter(), 10**6).result.refund_id)
        event = {"type": "charge.refunded", "id": "evt_r", "timestamp": "t", "data": {
            "externalId": "ext_x", "paymentId": str(paid.result.payment_id),
            "status": "refunded", "amount": "4.00", "currency": "USD", "refundId": "rf_1"}}
        assert deliver(client, event, "msg_r").json() == {"outcome": "applied"}
        found = store.read.refund(refund_id)
        assert found is not None and found.status == "COMPLETED"
        account = store.read.account("wallet", "bob", "USD")
        assert account is not None and account.balance == 34_00


class ProcessClient:
    """Requests to a running `paycli listen` process over HTTP (as `AppClient`'s)."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def post(self, path: str, **how: Any) -> httpx.Response:
        return httpx.post(self.base + path, timeout=30, **how)


@contextlib.contextmanager
def listening(db: Path, count: int) -> Iterator[list[ProcessClient]]:
    """`count` `paycli listen` processes on the ledger `db` (on PostgreSQL: as on several
    hosts), each ready; stopped (Ctrl-C, exit 130) at the end."""
    processes, clients = [], []
    try:
        for _ in range(count):
            port = free_port()
            process = subprocess.Popen(
                [*paycli_command(None), "--db", str(db), "listen", "--port", str(port),
                 "--json"], env=paycli_env(PAYCLI_WEBHOOK_SECRET=SECRET), text=True,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            processes.append(process)
            assert process.stderr is not None and "listening" in process.stderr.readline()
            clients.append(ProcessClient(port))
        yield clients
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)
        for process in processes:
            process.communicate(timeout=30)
            assert process.returncode == 130


def at_once(clients: list[AppClient] | list[ProcessClient], event: dict[str, Any],
            webhook_id: str) -> list[str]:
    """The same delivery sent to every client at the same moment; their outcomes."""
    outcomes: list[str] = []

    def send(to: AppClient | ProcessClient) -> None:
        outcomes.append(deliver(to, event, webhook_id).json()["outcome"])

    threads = [threading.Thread(target=send, args=(to,)) for to in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


class TestTwoListeners:
    def test_one_event_fed_to_two_listeners_at_once_is_applied_once(
            self, client: AppClient, store: Store, db_path: Path) -> None:
        """Two receivers on one ledger (two hosts' listeners), the same deliveries sent to
        both at the same moment: each event applied once, the other answer `duplicate`."""
        wallet.credit(store, "alice", Money(100_00, "USD"))
        env = env_for(store, CannotTell(pending=True))
        ids = [str(saga.pay(env, saga.PayRequest("alice", Money(1_00, "USD"), wait_s=0),
                            SilentReporter()).result.payment_id) for _ in range(5)]
        second = Receiver(Verifier(SECRET), str(db_path), as_json=True)
        other = AppClient(second.app())
        answers: list[str] = []
        try:
            for number, payment_id in enumerate(ids):
                answers += at_once([client, other], charge_event(payment_id, amount="1.00"),
                                   f"msg_two_{number}")
        finally:
            second.close()
        assert sorted(answers) == sorted(["applied", "duplicate"] * 5)
        assert {status_of(store, i) for i in ids} == {"COMPLETED"}
        account = store.read.account("wallet", "alice", "USD")
        assert account is not None and (account.balance, account.held) == (95_00, 0)

    def test_two_listen_processes_apply_each_event_once(
            self, store: Store, db_path: Path) -> None:
        """Two `paycli listen` processes on one ledger (on PostgreSQL, two hosts' worth),
        every event sent to both at the same moment: each applied once, the other
        answer `duplicate`, every payment COMPLETED by one settle, balance exact."""
        wallet.credit(store, "alice", Money(100_00, "USD"))
        env = env_for(store, CannotTell(pending=True))
        ids = [str(saga.pay(env, saga.PayRequest("alice", Money(1_00, "USD"), wait_s=0),
                            SilentReporter()).result.payment_id) for _ in range(20)]
        with listening(db_path, 2) as clients:
            answers = [outcome for number, payment_id in enumerate(ids)
                       for outcome in at_once(clients, charge_event(payment_id,
                                                                    amount="1.00"),
                                              f"msg_proc_{number}")]
        assert sorted(answers) == sorted(["applied", "duplicate"] * 20)
        for payment_id in ids:
            settled = [e.actor for e in store.read.events_of(payment_id)
                       if e.type in ("payment.completed", "payment.failed")]
            assert settled == ["webhook"], payment_id
        account = store.read.account("wallet", "alice", "USD")
        assert account is not None and (account.balance, account.held) == (80_00, 0)


class TestPayWatchesTheLedger:
    def test_a_webhook_during_the_wait_ends_it_early(
            self, client: AppClient, store: Store, db_path: Path) -> None:
        """`pay` polling a charge the gateway still calls pending returns COMPLETED as
        soon as a webhook settled it, long before its 30 s wait ends."""
        wallet.credit(store, "alice", Money(100_00, "USD"))

        def webhook_lands() -> None:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                processing = store.read.payments(status="PROCESSING")
                if processing:
                    deliver(client, charge_event(processing[0].id), "msg_early")
                    return
                time.sleep(0.05)

        lander = threading.Thread(target=webhook_lands)
        lander.start()
        with Store(str(db_path)) as own:
            started = time.monotonic()
            request = saga.PayRequest("alice", Money(10_00, "USD"), wait_s=30)
            outcome = saga.pay(env_for(own, CannotTell(pending=True)), request,
                               SilentReporter())
        lander.join()
        assert time.monotonic() - started < 10
        assert outcome.result.status == "COMPLETED" and outcome.error is None
        account = store.read.account("wallet", "alice", "USD")
        assert account is not None and (account.balance, account.held) == (90_00, 0)


class CountingLookups(CannotTell):
    """`CannotTell(pending=True)`, counting the look-ups made of it."""

    def __init__(self) -> None:
        super().__init__(pending=True)
        self.lookups = 0

    def status(self, external_id: str) -> Answer | None:
        self.lookups += 1
        return super().status(external_id)


class TestBatchWatchesTheLedger:
    def test_pending_rows_end_when_their_webhooks_land(
            self, client: AppClient, store: Store) -> None:
        """A billing run whose charges the gateway calls pending forever: each row ends
        COMPLETED (this run's) once its webhook is applied, settled by `webhook`, long
        before the run's 30 s wait, the gateway asked at most once per row."""
        wallet.credit(store, "alice", Money(100_00, "USD"))
        rows = [BatchRow(line, "alice", Money(10_00, "USD"), f"o-{line}", None)
                for line in range(2, 7)]

        def webhooks_land() -> None:
            deadline, sent = time.monotonic() + 10, set()
            while time.monotonic() < deadline and len(sent) < len(rows):
                for payment in store.read.payments(status="PROCESSING"):
                    if payment.gateway_ref and payment.id not in sent:
                        deliver(client, charge_event(payment.id), f"msg_{payment.id}")
                        sent.add(payment.id)
                time.sleep(0.05)

        gateway, outcomes = CountingLookups(), []
        lander = threading.Thread(target=webhooks_land)
        lander.start()
        started = time.monotonic()
        with Store(str(store.path)) as own:
            Batch(env_for(own, gateway), "bat_watch", BatchOptions(concurrency=2, wait_s=30),
                  outcomes.append).run(rows)
        lander.join()
        assert time.monotonic() - started < 10
        assert sorted((o.line, o.status) for o in outcomes) == [(n, "completed")
                                                                  for n in range(2, 7)]
        assert gateway.lookups <= len(rows)
        for outcome in outcomes:
            settled = [e.actor for e in store.read.events_of(str(outcome.payment_id))
                       if e.type in ("payment.completed", "payment.failed")]
            assert settled == ["webhook"]
        account = store.read.account("wallet", "alice", "USD")
        assert account is not None and (account.balance, account.held) == (50_00, 0)


class TestHostileInput:
    def test_a_forged_signature_is_401_and_changes_nothing(
            self, client: AppClient, store: Store, stuck: str) -> None:
        """Signed with another secret: 401, still PROCESSING, the id not taken."""
        other = "whsec_" + base64.b64encode(b"x" * 24).decode()
        answer = deliver(client, charge_event(stuck), "msg_f", secret=other)
        assert answer.status_code == 401 and answer.json() == {"reason": "bad_signature"}
        assert status_of(store, stuck) == "PROCESSING"
        assert deliver(client, charge_event(stuck), "msg_f").json() == {"outcome": "applied"}

    def test_during_a_rotation_one_matching_signature_of_several_is_enough(
            self, client: AppClient, store: Store, stuck: str) -> None:
        """A header with the retired secret's signature and the current one's (a rotation
        under way): applied. The retired secret's alone: 401, nothing changed."""
        retired = "whsec_" + base64.b64encode(b"r" * 24).decode()
        now = time.time()
        body, headers = signed(charge_event(stuck), "msg_rot", secret=retired, at=now)
        answer = client.post(PATH, content=body, headers=headers)
        assert answer.status_code == 401 and status_of(store, stuck) == "PROCESSING"
        _, current = signed(charge_event(stuck), "msg_rot", at=now)
        both = f"{headers['webhook-signature']} {current['webhook-signature']}"
        answer = client.post(PATH, content=body, headers={**headers, "webhook-signature": both})
        assert answer.status_code == 200 and answer.json() == {"outcome": "applied"}
        assert status_of(store, stuck) == "COMPLETED"

    def test_missing_signature_headers_are_401(self, client: AppClient, stuck: str) -> None:
        """No headers at all: 401."""
        answer = client.post(PATH, content=json.dumps(charge_event(stuck)).encode())
        assert answer.status_code == 401 and answer.json() == {"reason": "missing_signature"}

    def test_a_ten_minute_old_timestamp_is_400(self, client: AppClient, store: Store,
                                               stuck: str) -> None:
        """Correctly signed but 10 minutes old: 400, nothing changed."""
        answer = deliver(client, charge_event(stuck), "msg_old", at=time.time() - 600)
        assert answer.status_code == 400 and answer.json() == {"reason": "stale_timestamp"}
        assert status_of(store, stuck) == "PROCESSING"

    def test_a_one_mebibyte_body_is_413(self, client: AppClient, store: Store,
                                        stuck: str) -> None:
        """1 MiB, signed: 413 before it is verified, nothing changed."""
        answer = deliver(client, {}, "msg_big", body=b"x" * 1024 * 1024)
        assert answer.status_code == 413 and answer.json() == {"reason": "too_large"}
        assert status_of(store, stuck) == "PROCESSING"

    def test_a_big_body_without_a_length_is_413_as_it_arrives(
            self, client: AppClient, stuck: str) -> None:
        """Chunked, no Content-Length: refused once 64 KiB have been read."""
        body, headers = signed({}, "msg_chunked", body=b"y" * (65 * 1024))
        async def chunks() -> Any:
            for start in range(0, len(body), 4096):
                yield body[start:start + 4096]
        answer = client.post(PATH, content=chunks(), headers=headers)
        assert answer.status_code == 413

    def test_a_signed_body_that_is_not_an_event_is_400(self, client: AppClient) -> None:
        """Verified but not the contract's event: 400, no traceback, no payload echoed."""
        answer = deliver(client, {}, "msg_junk", body=b"[1, 2")
        assert answer.status_code == 400 and answer.json() == {"reason": "not_an_event"}

    @pytest.mark.parametrize(("method", "path"), [("GET", PATH), ("POST", "/other"),
                                                  ("PUT", PATH)])
    def test_no_path_but_the_one(self, client: AppClient, method: str, path: str) -> None:
        """Anything but POST /webhooks/gateway: 404 or 405."""
        assert client.request(method, path).status_code in (404, 405)

    def test_a_pending_payment_is_left_for_the_retry(
            self, client: AppClient, store: Store, stuck: str) -> None:
        """A payment still PENDING: 503, the id not taken, so the retry applies it."""
        store.conn.execute("UPDATE payments SET status = 'PENDING' WHERE id = ?", (stuck,))
        if store.backend == "sqlite":
            store.conn.commit()  # type: ignore[attr-defined]
        assert deliver(client, charge_event(stuck), "msg_p").status_code == 503
        store.conn.execute("UPDATE payments SET status = 'PROCESSING' WHERE id = ?", (stuck,))
        if store.backend == "sqlite":
            store.conn.commit()  # type: ignore[attr-defined]
        assert deliver(client, charge_event(stuck), "msg_p").json() == {"outcome": "applied"}


@pytest.mark.sqlite_only
class TestCommand:
    def test_no_secret_is_a_usage_error(self, tmp_path: Path) -> None:
        """Without PAYCLI_WEBHOOK_SECRET: exit 2, one line naming the variable."""
        done = subprocess.run([*paycli_command(None), "--db", str(tmp_path / "l.db"),
                               "listen", "--port", "0"], env=paycli_env(),
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 2 and "PAYCLI_WEBHOOK_SECRET" in done.stderr

    def test_one_line_per_delivery_on_a_terminal(self, db_path: Path, stuck: str) -> None:
        """On a terminal: a line per delivery (outcome, type, payment), not JSON; Ctrl-C
        exits 130."""
        port = free_port()
        child = pexpect.spawn(
            paycli_command(None)[0], [*paycli_command(None)[1:], "--db", str(db_path),
                                      "listen", "--port", str(port)],
            env={**paycli_env(PAYCLI_WEBHOOK_SECRET=SECRET), "TERM": "xterm-256color"},
            dimensions=(40, 120), encoding="utf-8", codec_errors="replace", timeout=30,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        child.expect("listening")
        assert deliver(ProcessClient(port), charge_event(stuck), "msg_tty").status_code == 200
        child.expect(r"applied.*charge\.approved.*" + stuck)
        assert "{" not in child.after
        child.sendintr()
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 130

    def test_json_lines_when_piped(self, db_path: Path, stuck: str) -> None:
        """Piped, without --json: each delivery one JSON line."""
        port = free_port()
        process = subprocess.Popen(
            [*paycli_command(None), "--db", str(db_path), "listen", "--port", str(port)],
            env=paycli_env(PAYCLI_WEBHOOK_SECRET=SECRET), text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert process.stderr is not None and "listening" in process.stderr.readline()
        assert deliver(ProcessClient(port), charge_event(stuck), "msg_pipe").status_code == 200
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
        [line] = [json.loads(text) for text in out.splitlines()]
        assert (line["webhook_id"], line["outcome"], line["entity_id"]) == (
            "msg_pipe", "applied", stuck)

    @pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
    def test_a_signal_exits_130(self, tmp_path: Path, stop: signal.Signals) -> None:
        """Ctrl-C or SIGTERM after the ready line: exit 130, and the secret never shown."""
        env = paycli_env(PAYCLI_WEBHOOK_SECRET=SECRET)
        process = subprocess.Popen([*paycli_command(None), "--db", str(tmp_path / "l.db"),
                                    "listen", "--port", "0"], env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert process.stderr is not None
        assert "/webhooks/gateway" in process.stderr.readline()
        os.kill(process.pid, stop)
        out, err = process.communicate(timeout=30)
        assert process.returncode == 130
        assert SECRET not in out + err
