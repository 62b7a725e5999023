"""`webhooks deliver`: turn new events into deliveries, lease the due ones, send them with
bounded concurrency, record each outcome.

One batch: every active endpoint's events after its cursor become deliveries (cursor
moved in the same transaction, so two processes never queue one event twice); up to
`batch` due deliveries are leased to this process in one transaction; a thread pool of
`concurrency` workers sends them, each over its own keep-alive connections (a slow endpoint
holds one worker, never the others); the outcomes are written by the lease's holder, with
their events, in one transaction. `run` starts the next batch before recording the one
before, until none is due (or forever, following).

Invariants: the clock is a parameter (tests pass a fake one: it decides what is due and
when a retry is scheduled); the lease outlasts the longest attempt, so no delivery is
sent by two processes at once, and one whose process died is sent again once its lease
runs out (at least once, same event id).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from paycli.records import DeliveryStatus, Event
from paycli.results.webhooks import DeliverResult
from paycli.store import Reader, Store, Tx
from paycli.store import webhooks as rows
from paycli.webhooks import events, schedule, sender
from paycli.webhooks.endpoints import patterns_of

Clock = Callable[[], datetime]
QUEUE_BATCH = 1000  # events read per endpoint and transaction
LEASE_MARGIN = 5.0  # seconds of a lease beyond its batch's longest sending


def batch_for(concurrency: int) -> int:
    """How many deliveries one process leases at once: enough to keep its workers busy
    between two of its commits."""
    return concurrency * 2


def system_clock() -> datetime:
    """The real time, in UTC."""
    return datetime.now(UTC)


def stamp(moment: datetime) -> str:
    """A time as the ledger stores it (ISO 8601 UTC, microseconds)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass
class Deliverer:
    """One `deliver` process: its store, clock, connections and worker pool."""

    store: Store
    http: sender.Connections
    clock: Clock = system_clock
    concurrency: int = 16
    batch: int = 32
    timeout: float = sender.TIMEOUT
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:"
                                                f"{secrets.token_hex(4)}")

    @property
    def lease(self) -> timedelta:
        """How long a claimed batch is this process's: every worker's share of it and of
        the batch before it (two are under way at once) sent one after the other, each up
        to the timeout, plus a margin."""
        rounds = -(-2 * self.batch // self.concurrency) + 1
        return timedelta(seconds=self.timeout * rounds + LEASE_MARGIN)

    def queue(self) -> int:
        """Turn every endpoint's new events into deliveries; returns how many."""
        made = 0
        for endpoint in rows.endpoints(self.store.read):
            news, behind = rows.unread_after(self.store.read, endpoint.cursor)
            if not news and behind < QUEUE_BATCH:
                continue  # only webhook events since: no write, until a batch of them
            while (count := self._queue_one(endpoint.id)) is not None:
                made += count
        return made

    def _queue_one(self, endpoint_id: str) -> int | None:
        """One batch of an endpoint's events; None when none was left."""
        with self.store.transaction() as tx:
            endpoint = rows.endpoint(tx, endpoint_id)
            if endpoint is None or endpoint.removed_at is not None:
                return None
            batch = _events_after(tx, endpoint.cursor)
            if not batch:
                return None
            wanted = patterns_of(endpoint.events)
            new = [rows.NewDelivery(_delivery_id(), p.seq, p.id, p.type, p.order_key)
                   for p in (events.public(tx, e) for e in batch)
                   if p is not None and events.matches(wanted, p.type)]
            rows.add_deliveries(tx, endpoint_id, batch[-1].seq, new, stamp(self.clock()))
        return len(new)

    def start(self, pool: ThreadPoolExecutor) -> Batch | None:
        """Queue new events, lease one batch and hand its sends to the pool; None when
        nothing was due."""
        self.queue()
        now = self.clock()
        until = now + self.lease
        with self.store.transaction() as tx:
            claimed = rows.claim(tx, self.owner, stamp(now), stamp(until), self.batch)
        if not claimed:
            return None
        with self.store.snapshot() as reader:  # here: the store's connection is not shared
            bodies = [_body(reader, one.delivery.event_seq) for one in claimed]
        return Batch(claimed, [pool.submit(self._send, one, body, until)
                               for one, body in zip(claimed, bodies, strict=True)])

    def finish(self, batch: Batch) -> DeliverResult:
        """Wait for a batch's answers and record them, in one transaction."""
        outcomes = [future.result() for future in batch.sending]
        return self._record((one, outcome) for one, outcome in
                            zip(batch.claimed, outcomes, strict=True) if outcome is not None)

    def _send(self, claimed: rows.Claimed, body: bytes | None, until: datetime
              ) -> sender.Outcome | None:
        """One attempt; None (nothing sent, nothing recorded) if the lease could run out
        before its answer came, so that no other process may be sending it meanwhile."""
        if self.clock() + timedelta(seconds=self.timeout) > until:
            return None
        if body is None:  # the record is gone: nothing can be said, and nothing is sent
            return sender.Outcome(False, None, "event not found")
        return sender.send(self.http, claimed.url, claimed.secret, claimed.delivery.event_id,
                           body)

    def _record(self, done: Iterable[tuple[rows.Claimed, sender.Outcome]]) -> DeliverResult:
        counts: dict[object, int] = {status: 0 for status in DeliveryStatus}
        now = self.clock()
        with self.store.transaction() as tx:
            for claimed, outcome in done:
                changes = _changes(claimed.delivery, outcome, now)
                if rows.record_outcome(tx, claimed.delivery.id, self.owner, changes,
                                       outcome.body, stamp(now)):
                    counts[changes["status"]] += 1
        return DeliverResult(sent=sum(counts.values()),
                             delivered=counts[DeliveryStatus.DELIVERED],
                             failed=counts[DeliveryStatus.FAILED],
                             dead=counts[DeliveryStatus.DEAD])

    def run(self, follow: bool = False, poll: float = 0.5,
            sleep: Callable[[float], None] = time.sleep) -> DeliverResult:
        """Batches until nothing is due (following: forever, polling every `poll` s).

        Two batches at most are under way: the next is leased and sending while the one
        before is waited for and recorded, so the pool never idles on the ledger's
        commits. The next batch never holds a later event of a payment still being sent
        (`claim` leases none whose earlier delivery is open): order per payment holds."""
        tally = DeliverResult(sent=0, delivered=0, failed=0, dead=0)
        in_flight: Batch | None = None
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="deliver") as pool:
            while True:
                started = self.start(pool)
                if in_flight is not None:
                    tally = _added(tally, self.finish(in_flight))
                elif started is None:
                    if not follow:
                        return tally
                    sleep(poll)
                in_flight = started


class Batch(NamedTuple):
    """Leased deliveries and their sends under way, in the same order."""

    claimed: list[rows.Claimed]
    sending: list[Future[sender.Outcome | None]]


def _body(reader: Reader, seq: int) -> bytes | None:
    """The JSON body of the public event of ledger event `seq`."""
    event = rows.event(reader, seq)
    body = None if event is None else events.body(reader, event)
    return None if body is None else json.dumps(body.to_json(), separators=(",", ":")).encode()


def _events_after(tx: Tx, cursor: int) -> list[Event]:
    batch = []
    for event in tx.events(after_seq=cursor, batch=QUEUE_BATCH):
        batch.append(event)
        if len(batch) == QUEUE_BATCH:
            break
    return batch


def _delivery_id() -> str:
    return "whd_" + secrets.token_hex(12)


def _changes(delivery: rows.DeliveryRow, outcome: sender.Outcome, now: datetime
             ) -> dict[str, object]:
    """The delivery's new status, attempts, last status and next try after an attempt."""
    attempts = delivery.attempts + 1
    if outcome.ok:
        status, next_at = DeliveryStatus.DELIVERED, None
    elif schedule.gives_up(attempts, datetime.fromisoformat(delivery.created_at), now):
        status, next_at = DeliveryStatus.DEAD, None
    else:
        status, next_at = DeliveryStatus.FAILED, stamp(schedule.next_try(attempts, now))
    return {"status": status, "attempts": attempts, "last_status": outcome.status,
            "next_at": next_at}


def _added(tally: DeliverResult, more: DeliverResult) -> DeliverResult:
    return DeliverResult(sent=tally.sent + more.sent,
                         delivered=tally.delivered + more.delivered,
                         failed=tally.failed + more.failed, dead=tally.dead + more.dead)
