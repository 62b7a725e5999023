"""Deliveries per second to a local receiver: `webhooks deliver` draining a ledger of N
payments' events to one endpoint subscribed to everything.

    python scripts/delivery_load.py [--payments 5000] [--concurrency 16] [--runs 3]
                                    [--batch N] [--profile FILE]

Each run makes a temporary ledger, adds one endpoint (all event types), fills the ledger
with `--payments` completed payments by the bench's prefill (the billing run's engine:
the same ledger code and events as real payments; the wallets' credits are events too),
then times one `Deliverer.run()` (queueing, leasing, signing, sending, recording) until
nothing is due. The receiver is a raw asyncio HTTP/1.1 server in its own process
(keep-alive, answers 200 at once, verifies nothing: the figure is the sender's), so it
does not share the sender's interpreter lock. Printed: deliveries, seconds, deliveries/s.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
import socket
import statistics
import tempfile
import time
from pathlib import Path

from paycli.devtools.bench import prefill
from paycli.store import Store
from paycli.webhooks import endpoints
from paycli.webhooks.deliver import Deliverer, batch_for
from paycli.webhooks.sender import Connections

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}"


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer every request of one keep-alive connection with 200, body unread but
    skipped by its length."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            writer.write(RESPONSE)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def _serve(sock: socket.socket) -> None:
    async def main() -> None:
        server = await asyncio.start_server(_answer, sock=sock, backlog=512)
        await server.serve_forever()

    asyncio.run(main())


def receiver() -> tuple[multiprocessing.Process, str]:
    """The receiver's process, listening on a free port of 127.0.0.1, and its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    process = multiprocessing.Process(target=_serve, args=(sock,), daemon=True)
    process.start()
    return process, f"http://127.0.0.1:{sock.getsockname()[1]}/hooks"


def one_run(url: str, payments: int, concurrency: int, batch: int, profile: str | None
            ) -> tuple[int, float]:
    """Deliveries made and seconds taken by one drain of a fresh ledger."""
    with tempfile.TemporaryDirectory() as workdir, \
            Store(str(Path(workdir) / "load.db")) as store:
        endpoints.add(store, url, ["*"])
        prefill(store, payments)
        with Connections() as http:
            deliverer = Deliverer(store, http, concurrency=concurrency, batch=batch)
            profiler = cProfile.Profile() if profile else None
            started = time.perf_counter()
            if profiler:
                profiler.enable()
            result = deliverer.run()
            elapsed = time.perf_counter() - started
            if profiler and profile:
                profiler.disable()
                profiler.dump_stats(profile)
    assert result.failed == result.dead == 0, result
    return result.delivered, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", type=int, default=None,
                        help="deliveries leased at once (default: as `webhooks deliver`)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", default=None, help="cProfile the first run to FILE")
    args = parser.parse_args()
    process, url = receiver()
    try:
        rates = []
        for number in range(args.runs):
            delivered, elapsed = one_run(url, args.payments, args.concurrency,
                                         args.batch or batch_for(args.concurrency),
                                         args.profile if number == 0 else None)
            rates.append(delivered / elapsed)
            print(f"run {number + 1}: {delivered} deliveries in {elapsed:.2f} s = "
                  f"{rates[-1]:.0f}/s", flush=True)
        print(f"median {statistics.median(rates):.0f}/s")
    finally:
        process.kill()


if __name__ == "__main__":
    main()
