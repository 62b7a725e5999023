"""`paycli webhooks`: endpoints in the ledger, signed deliveries in order per payment, at
least once, retried on the README's schedule under a fake clock, dead after 8 attempts,
retried by hand, shared between deliver processes by a lease, and replay after it all.

Every request is checked by `webhook_receiver`, which verifies the signature with the
`standardwebhooks` library's own verifier.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from doubles import ScriptedGateway, saga_env
from helpers import paycli_env, run, run_json, spawn
from history import credit, pay, refund
from test_schema import check
from webhook_receiver import FAIL, OK, TIMEOUT, Receiver, serve

from paycli.cli.schema import SCHEMAS
from paycli.errors import UsageError
from paycli.ledger.replay import replay_events
from paycli.records import DeliveryStatus
from paycli.store import Store
from paycli.store import webhooks as rows
from paycli.webhooks import endpoints, repair, schedule
from paycli.webhooks.deliver import Deliverer, stamp
from paycli.webhooks.events import EVENT_TYPES
from paycli.webhooks.sender import BODY_PREFIX, Connections


class FakeClock:
    """The deliverer's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance_to(self, moment: datetime) -> None:
        self.now = max(self.now, moment)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running endpoint that answers 200 until told otherwise."""
    found = Receiver()
    server = serve(found)
    yield found
    server.shutdown()
    server.server_close()


def subscribe(store: Store, receiver: Receiver, patterns: str | None = None) -> str:
    """Add the receiver as an endpoint (loopback allowed) and give it the secret."""
    url = endpoints.check_url(receiver.url, allow_private=True)
    added = endpoints.add(store, url, endpoints.parse_patterns(patterns))
    receiver.secret = added.secret
    return added.endpoint_id


def activity(store: Store, payments: int, seed: int = 7) -> list[str]:
    """Credits, then payments that complete or are declined, some refunded in part or in
    full; returns the payment ids."""
    gateway, draw = ScriptedGateway(settle_after=None), random.Random(seed)
    env = saga_env(store, gateway)
    credit(store, "alice", "1000000")
    ids = []
    for _ in range(payments):
        gateway.set_mode("decline" if draw.random() < 0.2 else "approve")
        outcome = pay(env, "alice", "10")
        payment_id = str(outcome.result.payment_id)
        ids.append(payment_id)
        if gateway.mode == "approve" and draw.random() < 0.5:
            refund(env, payment_id, "4")
            if draw.random() < 0.5:
                refund(env, payment_id)
    return ids


def expected(store: Store, patterns: list[str] | None = None) -> dict[str, list[str]]:
    """The public event types each payment's record went through, in ledger order."""
    order: dict[str, list[str]] = {}
    for row in rows.deliveries(store.read, limit=100_000)[::-1]:
        order.setdefault(row.order_key, []).append(row.event_id)
    return order


def received_order(receiver: Receiver) -> dict[str, list[str]]:
    """The event ids each payment's events arrived as, first 2xx of each id only."""
    order: dict[str, list[str]] = {}
    for body in receiver.received:
        key = _order_key(body)
        if body["id"] not in order.get(key, []):
            order.setdefault(key, []).append(body["id"])
    return order


def _order_key(body: dict[str, Any]) -> str:
    data = body["data"]
    if body["type"] == "wallet.credited":
        return "wallet:" + data["user"]
    return str(data["payment_id"])


@contextlib.contextmanager
def deliverer(store: Store, clock: Any = None, timeout: float = 5.0) -> Iterator[Deliverer]:
    """A deliverer on `store` with its pooled client, closed after."""
    with Connections(timeout) as http:
        yield Deliverer(store, http, **({"clock": clock} if clock else {}), concurrency=8,
                        timeout=timeout)


class TestEndpoints:
    """`webhooks add | list | remove` and the URL rules."""

    def test_add_prints_id_and_secret_once_and_list_never_shows_it(self, cli: Any) -> None:
        """add's --json has the contract's fields; list has no secret anywhere."""
        added = cli("webhooks", "add", "http://127.0.0.1:9/x", "--allow-private",
                    "--events", "payment.*,refund.completed", "--json")
        assert added.exit_code == 0, added.output
        body = json.loads(added.stdout)
        assert set(body) == {"endpoint_id", "url", "events", "secret"}
        assert body["endpoint_id"].startswith("whe_") and len(body["endpoint_id"]) == 28
        assert body["secret"].startswith("whsec_")
        assert body["events"] == ["payment.*", "refund.completed"]
        listed = cli("webhooks", "list", "--json")
        assert listed.exit_code == 0
        entry = json.loads(listed.stdout)["endpoints"][0]
        assert set(entry) == {"endpoint_id", "url", "events", "cursor", "created_at"}
        assert body["secret"] not in listed.stdout
        human = cli("webhooks", "list")
        assert body["endpoint_id"] in human.stdout and body["secret"] not in human.stdout

    @pytest.mark.parametrize("url", ["ftp://example.com/x", "example.com/x", "http:///x",
                                     "http://user:pw@example.com/x"])
    def test_only_http_urls_with_a_host(self, cli: Any, url: str, empty_ledger: Path
                                        ) -> None:
        """Anything but an http(s) URL with a host (and no credentials) is a usage error."""
        result = cli("webhooks", "add", url)
        assert result.exit_code == 2
        assert "http://" in result.stderr or "user or password" in result.stderr
        assert json.loads(cli("webhooks", "list", "--json").stdout)["endpoints"] == []

    @pytest.mark.parametrize("url", ["http://127.0.0.1/x", "http://10.1.2.3/x",
                                     "http://[::1]:80/x", "http://169.254.169.254/latest",
                                     "http://localhost:8000/x", "https://192.168.0.1/x"])
    def test_private_and_loopback_refused_unless_allowed(self, cli: Any, url: str,
                                                        empty_ledger: Path) -> None:
        """A private address exits 2 with the reason and writes nothing."""
        result = cli("webhooks", "add", url)
        assert result.exit_code == 2
        assert "private or loopback" in result.stderr and "--allow-private" in result.stderr
        assert json.loads(cli("webhooks", "list", "--json").stdout)["endpoints"] == []

    def test_a_pattern_matching_no_type_is_refused(self, cli: Any) -> None:
        """A typo in --events is an error naming the types, not an endpoint hearing
        nothing."""
        result = cli("webhooks", "add", "https://93.184.216.34/x", "--events", "paymnt.*")
        assert result.exit_code == 2 and "matches no event type" in result.stderr

    def test_remove_keeps_history_and_a_second_remove_is_not_found(self, cli: Any) -> None:
        """remove exits 0, the endpoint leaves the list; removing again exits 7."""
        added = json.loads(cli("webhooks", "add", "https://93.184.216.34/x", "--json").stdout)
        gone = cli("webhooks", "remove", added["endpoint_id"], "--json")
        assert gone.exit_code == 0 and json.loads(gone.stdout)["removed"] is True
        assert json.loads(cli("webhooks", "list", "--json").stdout)["endpoints"] == []
        again = cli("webhooks", "remove", added["endpoint_id"])
        assert again.exit_code == 7 and "no active webhook endpoint" in again.stderr
        assert cli("webhooks", "remove", "nope").exit_code == 2

    def test_changes_are_events_with_their_actor(self, store: Store) -> None:
        """add and remove are events naming the actor; the secret is in none of them."""
        added = endpoints.add(store, "https://93.184.216.34/x", ["*"])
        endpoints.remove(store, added.endpoint_id)
        found = store.read.events_of(added.endpoint_id)
        assert [e.type for e in found] == ["webhook.endpoint_added", "webhook.endpoint_removed"]
        assert all(e.actor == store.actor for e in found)
        assert all(added.secret not in e.payload for e in store.read.events())


class TestDelivery:
    """Every subscribed event, signed, in order per payment, at least once."""

    def test_every_event_delivered_in_order_per_payment(self, store: Store,
                                                        receiver: Receiver) -> None:
        """60 payments with refunds: each event arrives once, verified, in ledger order
        per payment; the bodies carry the records' --json entries."""
        subscribe(store, receiver)
        activity(store, 60)
        with deliverer(store) as sender:
            result = sender.run()
        assert result.failed == result.dead == 0 and result.delivered == result.sent > 60
        assert receiver.bad_signatures == 0
        assert received_order(receiver) == expected(store)
        assert all(count == 1 for count in receiver.attempts.values())
        types = {body["type"] for body in receiver.received}
        assert types <= set(EVENT_TYPES) and {"payment.completed", "payment.failed",
                                               "refund.completed"} <= types
        completed = next(b for b in receiver.received if b["type"] == "payment.completed")
        assert set(completed) == {"id", "type", "created_at", "data"}
        assert {"payment_id", "status", "amount", "refunds"} <= set(completed["data"])

    @pytest.mark.slow
    @pytest.mark.sqlite_only
    def test_a_thousand_payments_none_lost(self, store: Store, receiver: Receiver) -> None:
        """1,000 payments with their refunds: every event delivered once, verified, in
        order per payment."""
        subscribe(store, receiver)
        activity(store, 1000, seed=5)
        with deliverer(store) as sender:
            result = sender.run()
        assert result.failed == result.dead == 0 and result.delivered >= 1000
        assert receiver.bad_signatures == 0
        assert received_order(receiver) == expected(store)
        assert len(receiver.attempts) == result.delivered

    def test_patterns_choose_the_events(self, store: Store, receiver: Receiver) -> None:
        """An endpoint on `refund.*` hears refunds only."""
        subscribe(store, receiver, "refund.*")
        activity(store, 20)
        with deliverer(store) as sender:
            sender.run()
        assert receiver.received and all(b["type"].startswith("refund.")
                                         for b in receiver.received)

    def test_nothing_due_exits_0_and_failures_exit_8(self, db_path: Path,
                                                     receiver: Receiver) -> None:
        """The CLI: 0 with nothing to send; 8 when a delivery failed, 0 once it went."""
        env = paycli_env()
        assert run_json(db_path, "webhooks", "deliver", env=env) == (
            0, {"sent": 0, "delivered": 0, "failed": 0, "dead": 0, "error": None})
        code, added = run_json(db_path, "webhooks", "add", receiver.url, "--allow-private",
                               env=env)
        receiver.secret = added["secret"]
        assert run(db_path, "wallet", "credit", "--user", "bob", "--amount", "5",
                   env=env).returncode == 0
        receiver.policy = lambda _id: FAIL
        code, body = run_json(db_path, "webhooks", "deliver", env=env)
        assert code == 8 and body["failed"] == 1
        assert body["error"]["type"] == "deliveries_failed"
        listed = run_json(db_path, "webhooks", "deliveries", "--status", "failed", env=env)[1]
        [entry] = listed["deliveries"]
        assert entry["last_status"] == 500 and entry["attempts"] == 1 and entry["next_at"]
        assert set(entry) == {"delivery_id", "endpoint_id", "event_id", "type", "status",
                              "attempts", "last_status", "next_at"}
        receiver.policy = lambda _id: OK
        assert run(db_path, "webhooks", "retry", entry["delivery_id"], env=env).returncode == 0
        assert run_json(db_path, "webhooks", "deliver", env=env)[0] == 0
        [credited] = receiver.received
        assert credited["type"] == "wallet.credited" and credited["data"]["amount"] == "5.00"
        assert added["secret"] not in run(db_path, "webhooks", "deliveries", env=env).stdout

    def test_replay_stays_consistent_after_deliveries(self, store: Store,
                                                      receiver: Receiver) -> None:
        """Endpoint and delivery events apply; the money rebuilt still matches."""
        endpoint_id = subscribe(store, receiver)
        activity(store, 10)
        receiver.policy = lambda event_id: FAIL if event_id.endswith(("0", "1")) else OK
        with deliverer(store) as sender:
            sender.run()
        endpoints.remove(store, endpoint_id)
        if store.backend == "sqlite":
            report = replay_events(store)
            assert report.consistent and report.chain_ok, report


class TestSchedule:
    """Retries follow the README's schedule, read under a fake clock."""

    @pytest.mark.sqlite_only
    def test_flaky_receiver_gets_everything_on_schedule(self, store: Store,
                                                        receiver: Receiver) -> None:
        """The receiver fails 50 % and hangs past the timeout 10 % (each event gets
        through by its 6th try): all arrive in order, each retry within its wait's
        jitter of the schedule."""
        draw, tries, sent_at = random.Random(3), {}, {}
        clock = FakeClock()

        def policy(event_id: str) -> str:
            tries[event_id] = tries.get(event_id, 0) + 1
            sent_at.setdefault(event_id, []).append(clock.now)
            roll = draw.random()
            if tries[event_id] >= 6 or roll >= 0.6:
                return OK
            return TIMEOUT if roll < 0.1 else FAIL

        receiver.policy, receiver.hang_s = policy, 0.6
        subscribe(store, receiver)
        activity(store, 25)
        with deliverer(store, clock, timeout=0.3) as sender:
            for _ in range(200):
                sender.run()
                due = [r.next_at for r in rows.deliveries(store.read, status="failed",
                                                          limit=10_000)]
                if not due:
                    break
                clock.advance_to(datetime.fromisoformat(min(d for d in due if d)))
        assert received_order(receiver) == expected(store)
        assert not rows.deliveries(store.read, status=DeliveryStatus.DEAD)
        for times in sent_at.values():
            for attempt, (before, after) in enumerate(itertools.pairwise(times), start=1):
                gap = (after - before).total_seconds()
                assert schedule.base_wait(attempt) <= gap <= (
                    schedule.base_wait(attempt) + schedule.JITTER + 0.01), (attempt, gap)
        assert max(len(t) for t in sent_at.values()) >= 3

    @pytest.mark.sqlite_only
    def test_three_days_make_a_delivery_dead_whatever_its_attempts(
            self, store: Store, receiver: Receiver) -> None:
        """A failure more than 3 days after the event was queued is its last."""
        clock = FakeClock()
        receiver.policy = lambda _id: FAIL
        subscribe(store, receiver)
        credit(store, "hal", "1")
        with deliverer(store, clock) as sender:
            sender.run()
            clock.advance_to(clock.now + schedule.MAX_AGE)
            assert sender.run().dead == 1
        [dead] = rows.deliveries(store.read, status=DeliveryStatus.DEAD)
        assert dead.attempts == 2

    def test_schedule_reads_as_documented(self) -> None:
        """30 s, x4 each time, capped at 12 h; dead at 8 attempts or 3 days."""
        assert [schedule.base_wait(n) for n in range(1, 8)] == [
            30, 120, 480, 1920, 7680, 30720, 43200]
        start = datetime(2026, 1, 1, tzinfo=UTC)
        assert start + timedelta(seconds=30) <= schedule.next_try(1, start) <= (
            start + timedelta(seconds=60))
        assert schedule.gives_up(8, start, start) and not schedule.gives_up(7, start, start)
        assert schedule.gives_up(2, start, start + timedelta(days=3))


class TestDeadLetters:
    """A receiver down past the schedule: dead, later events go on, retry --dead."""

    @pytest.mark.sqlite_only
    def test_dead_after_8_attempts_then_retry_dead_delivers(self, store: Store,
                                                            receiver: Receiver) -> None:
        """8 failed attempts make the delivery dead; once back, the later events are
        delivered, and `retry --dead` then delivers the dead ones once each."""
        clock = FakeClock()
        receiver.policy = lambda _id: FAIL
        subscribe(store, receiver)
        credit(store, "dave", "10")
        with deliverer(store, clock) as sender:
            for _ in range(8):
                sender.run()
                for row in rows.deliveries(store.read, status=DeliveryStatus.FAILED):
                    clock.advance_to(datetime.fromisoformat(str(row.next_at)))
            [dead] = rows.deliveries(store.read, status=DeliveryStatus.DEAD)
            assert dead.attempts == 8 and dead.next_at is None
            receiver.policy = lambda _id: OK
            credit(store, "dave", "20")
            assert sender.run().delivered == 1  # the later event goes on
            assert [b["data"]["amount"] for b in receiver.received] == ["20.00"]
            retried = repair.retry(store, None, clock.now)
            assert [d.delivery_id for d in retried.deliveries] == [dead.id]
            assert sender.run().delivered == 1
        assert [b["data"]["amount"] for b in receiver.received] == ["20.00", "10.00"]
        assert rows.delivery(store.read, dead.id).status == DeliveryStatus.DELIVERED
        assert clock.now - datetime.fromisoformat(dead.created_at) < schedule.MAX_AGE
        assert [e.type for e in store.read.events_of(dead.id)][-3:] == [
            "webhook.delivery_dead", "webhook.delivery_retried", "webhook.delivery_delivered"]

    def test_retry_needs_one_target_and_refuses_a_delivered_one(self, cli: Any,
                                                                 empty_ledger: Path) -> None:
        """Usage error without a target or with both; unknown id exits 7."""
        assert cli("webhooks", "retry").exit_code == 2
        assert cli("webhooks", "retry", "whd_" + "0" * 24, "--dead").exit_code == 2
        missing = cli("webhooks", "retry", "whd_" + "0" * 24)
        assert missing.exit_code == 7 and "no webhook delivery" in missing.stderr


class TestSharing:
    """Several deliver processes: a lease, never one delivery sent twice at once."""

    def test_two_processes_never_send_one_delivery_at_once(self, db_path: Path,
                                                           receiver: Receiver) -> None:
        """Two `deliver` processes on one ledger and a slow receiver: no overlap, every
        event delivered exactly once (no answer was lost)."""
        with Store(str(db_path)) as store:
            subscribe(store, receiver)
            activity(store, 30)
        slow = threading.Event()
        receiver.on_request = lambda _id: slow.wait(0.02)
        env = paycli_env()
        both = [spawn(db_path, "webhooks", "deliver", "--concurrency", "4", "--json", env=env)
                for _ in range(2)]
        results = [json.loads(p.communicate(timeout=120)[0]) for p in both]
        assert all(p.returncode == 0 for p in both)
        assert receiver.overlaps == 0
        assert all(count == 1 for count in receiver.attempts.values())
        with Store(str(db_path)) as store:
            assert received_order(receiver) == expected(store)
        assert sum(r["delivered"] for r in results) == len(receiver.attempts)

    @pytest.mark.sqlite_only
    def test_a_dead_process_lease_runs_out_and_another_sends(self, store: Store,
                                                             receiver: Receiver) -> None:
        """A delivery leased by a process that died is left alone until its lease ends,
        then sent by another, with the same event id (at least once)."""
        clock = FakeClock()
        subscribe(store, receiver)
        credit(store, "erin", "1")
        with deliverer(store, clock) as sender:
            sender.queue()
            with store.transaction() as tx:
                [lost] = rows.claim(tx, "dead-host:1", stamp(clock.now),
                                    stamp(clock.now + sender.lease), 10)
            assert sender.run().sent == 0
            clock.advance_to(clock.now + sender.lease + timedelta(seconds=1))
            assert sender.run().delivered == 1
        assert [b["id"] for b in receiver.received] == [lost.delivery.event_id]


class TestSafety:
    """Secrets stay in the ledger; response bodies are kept short."""

    def test_response_body_kept_to_a_prefix(self, store: Store) -> None:
        """A 10 kB error page is stored as its first characters only."""
        big = Receiver()
        server = serve(big)
        try:
            subscribe(store, big)
            big.policy = lambda _id: FAIL
            credit(store, "frank", "1")
            with deliverer(store) as sender:
                sender.run()
            stored = store.read.conn.execute(
                "SELECT last_body FROM webhook_deliveries").fetchone()[0]
            assert stored is not None and len(stored) <= BODY_PREFIX
        finally:
            server.shutdown()
            server.server_close()

    def test_secret_in_no_event_output_or_log(self, db_path: Path, receiver: Receiver,
                                              tmp_path: Path) -> None:
        """After add, deliver (failing and not), deliveries and list, the secret is only
        in add's own output."""
        log = tmp_path / "paycli.log"
        env = paycli_env(PAYCLI_LOG_FILE=str(log))
        added = run_json(db_path, "webhooks", "add", receiver.url, "--allow-private",
                         env=env)[1]
        receiver.secret = added["secret"]
        run(db_path, "wallet", "credit", "--user", "gina", "--amount", "3", env=env)
        receiver.policy = lambda _id: FAIL
        outputs = [run(db_path, *args, env=env) for args in (
            ("webhooks", "deliver"), ("webhooks", "deliveries"), ("webhooks", "list"),
            ("webhooks", "deliveries", "--json"), ("events", "tail"))]
        with Store(str(db_path)) as store:
            payloads = [e.payload for e in store.read.events()]
        seen = [o.stdout + o.stderr for o in outputs] + payloads
        seen.append(log.read_text() if log.exists() else "")
        assert not [text for text in seen if added["secret"] in text]

    def test_url_check_is_a_usage_error(self) -> None:
        """The core refuses a loopback URL on its own, before any CLI."""
        with pytest.raises(UsageError):
            endpoints.check_url("http://127.0.0.1/x", allow_private=False)


class TestOutputs:
    """Every webhooks command's --json validates against `paycli schema`'s."""

    def test_each_output_matches_its_schema(self, cli: Any, receiver: Receiver) -> None:
        """add, list, deliver, deliveries, retry and remove, run for real."""
        outputs = {"webhooks add": cli("webhooks", "add", receiver.url, "--allow-private",
                                       "--json")}
        added = json.loads(outputs["webhooks add"].stdout)
        receiver.secret = added["secret"]
        assert cli("wallet", "credit", "--user", "ivy", "--amount", "2").exit_code == 0
        receiver.policy = lambda _id: FAIL
        outputs["webhooks deliver"] = cli("webhooks", "deliver", "--json")
        assert outputs["webhooks deliver"].exit_code == 8
        outputs |= {
            "webhooks list": cli("webhooks", "list", "--json"),
            "webhooks deliveries": cli("webhooks", "deliveries", "--json"),
            "webhooks retry": cli("webhooks", "retry", "--dead", "--json"),
            "webhooks remove": cli("webhooks", "remove", added["endpoint_id"], "--json"),
        }
        for command, result in outputs.items():
            check(command, json.loads(result.stdout))
        assert set(outputs) == {name for name in SCHEMAS if name.startswith("webhooks ")}
