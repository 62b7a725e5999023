"""`webhooks deliver --follow` under `kill -9`: two senders on one ledger, either killed at
random moments (and started again) while events keep coming. Nothing is lost; a
delivery reaches the receiver twice only where a sender died with it in hand (its
answer lost), and every copy carries the first one's `webhook-id`, so the receiver
drops it by that id.
"""

from __future__ import annotations

import itertools
import random
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import paycli_env, spawn
from history import credit
from test_webhooks import expected, received_order, subscribe
from webhook_receiver import Receiver, serve

from paycli.store import Store
from paycli.store import webhooks as rows
from paycli.webhooks.deliver import batch_for

KILLS = 24
CONCURRENCY = 2
USERS = 40  # wallets the credits cycle over: events of one wallet must stay in order
SENDER = ("webhooks", "deliver", "--follow", "--concurrency", str(CONCURRENCY),
          "--timeout", "1")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running endpoint that answers 200, each answer after 10 ms (a sender killed at
    a random moment then often has requests in hand)."""
    found = Receiver(on_request=lambda _id: time.sleep(0.01))
    server = serve(found)
    yield found
    server.shutdown()
    server.server_close()


class Feeder(threading.Thread):
    """Credits wallets, one every few milliseconds, until stopped: each a new event for
    the senders while they are being killed."""

    def __init__(self, db: Path) -> None:
        super().__init__(daemon=True)
        self.db, self.made, self.stop = db, 0, threading.Event()

    def run(self) -> None:
        with Store(str(self.db)) as store:
            while not self.stop.wait(0.02):
                credit(store, f"u{self.made % USERS}", "1")
                self.made += 1


def kill_at_random(db: Path, senders: list[subprocess.Popen[str]], draw: random.Random
                   ) -> Counter[int]:
    """`KILLS` times: wait a random moment, kill -9 one sender at random and start it
    again; returns how many kills hit each sender."""
    victims = Counter[int]()
    env = paycli_env()
    for _ in range(KILLS):
        time.sleep(draw.uniform(0.4, 1.2))
        victim = draw.randrange(len(senders))
        senders[victim].kill()
        senders[victim].communicate()
        senders[victim] = spawn(db, *SENDER, env=env)
        victims[victim] += 1
    return victims


def wait_all_delivered(store: Store, events: int, seconds: float = 60.0) -> None:
    """Until every event's delivery is `delivered` (a dead sender's lease must run out
    first, about 10 s)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if len(rows.deliveries(store.read, status="delivered", limit=100_000)) == events:
            return
        time.sleep(0.2)


@pytest.mark.slow
def test_kill_9_of_two_following_senders_loses_nothing(db_path: Path,
                                                       receiver: Receiver) -> None:
    """Two `deliver --follow` processes, killed -9 24 times between them while credits
    keep coming: every event is delivered; nothing is ever sent twice at once; each
    body reached the receiver under one webhook-id only; and an id came again only
    after the connection its copy before came on had ended (a sender keeps its
    connections while it lives, and they end only by the kills), at most as many ids as
    the killed senders could hold (two leased batches each)."""
    with Store(str(db_path)) as store:
        subscribe(store, receiver)
    feeder = Feeder(db_path)
    feeder.start()
    senders = [spawn(db_path, *SENDER, env=paycli_env()) for _ in range(2)]
    try:
        victims = kill_at_random(db_path, senders, random.Random(11))
        feeder.stop.set()
        feeder.join()
        with Store(str(db_path)) as store:
            wait_all_delivered(store, feeder.made)
            made = rows.deliveries(store.read, limit=100_000)
            order = expected(store)
    finally:
        for one in senders:
            one.kill()
            one.communicate()
    assert sum(victims.values()) == KILLS and min(victims.values()) >= 5
    assert len(made) == feeder.made > 200
    assert {row.status for row in made} == {"delivered"}
    assert set(receiver.copies) == {row.event_id for row in made}  # none lost
    assert receiver.overlaps == 0 and receiver.bad_signatures == 0
    assert received_order(receiver) == order  # first copies in order per wallet
    ids_of_body: dict[str, set[str]] = {}
    for body in receiver.received:
        ids_of_body.setdefault(body["data"]["transaction_id"], set()).add(body["id"])
    assert len(ids_of_body) == feeder.made
    assert all(len(ids) == 1 for ids in ids_of_body.values())  # a copy: the same id
    again = {event_id: copies for event_id, copies in receiver.copies.items()
             if len(copies) > 1}
    assert len(again) <= KILLS * 2 * batch_for(CONCURRENCY)
    assert len(receiver.closed_at) <= (KILLS + 2) * CONCURRENCY  # the kills, the end
    for copies in again.values():
        for before, copy in itertools.pairwise(copies):
            assert receiver.closed_at.get(before.connection, copy.at) < copy.at, copies
    print(f"\n{KILLS} kills {dict(victims)}: {feeder.made} events, "
          f"{sum(map(len, receiver.copies.values()))} answered 2xx, "
          f"{len(again)} ids twice or more, {len(receiver.closed_at)} connections ended")
