"""The load figure of `paycli listen`: verified-and-applied webhooks per second, and the
p99 from a delivery's receipt to the ledger's commit.

It opens N payments left PROCESSING (a gateway double that answers `pending`), starts a
real `paycli listen --json` on that ledger, sends one signed `charge.approved` per payment
from C concurrent senders (the mock sends each delivery as a task of its own, so they
overlap the same way), and reads the listener's JSON lines: each says `ms` from receipt
to commit. Every payment must end COMPLETED, each applied once.

    python scripts/webhook_load.py [--payments 2000] [--concurrency 16] [--db PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from standardwebhooks import Webhook

from paycli.gateway.protocol import Answer, ChargeRequest, RefundAnswer, Rejected
from paycli.gateway.resilience import Resilience
from paycli.ledger import wallet
from paycli.money import Money
from paycli.saga import pay as saga
from paycli.saga.core import SagaEnv
from paycli.saga.steps import SilentReporter
from paycli.store import BreakerStore, Store

PROFILE = os.environ.get("WEBHOOK_LOAD_PROFILE", "").split()
PATH = "/webhooks/gateway"
SECRET = "whsec_" + base64.b64encode(b"load-figure-secret-01234").decode()


class Pending:
    """A gateway that answers every charge `pending`: the payment stays PROCESSING."""

    def charge(self, request: ChargeRequest) -> Answer | Rejected:
        return Answer(externalId=f"ext_{request.payment_id}", status="pending")

    def status(self, external_id: str) -> Answer | None:
        return Answer(externalId=external_id, status="pending")

    def find_payment(self, payment_id: str) -> Answer | None:
        return self.status(f"ext_{payment_id}")

    def refund(self, external_id: str, amount: str, reason: str,
               idempotency_key: str) -> RefundAnswer | Rejected:
        raise NotImplementedError

    def close(self) -> None:
        """Nothing to close."""


def open_payments(db: str, count: int) -> list[str]:
    """`count` payments of 1.00 USD left PROCESSING."""
    gateway = Pending()
    with Store(db) as store:
        wallet.credit(store, "load", Money(count * 100, "USD"))
        env = SagaEnv(store, lambda: gateway, lambda on: Resilience(
            BreakerStore(on), failures=100, reset_s=30, attempts=1, attempt_timeout_s=1,
            backoff_s=0))
        request = saga.PayRequest("load", Money(1_00, "USD"), wait_s=0)
        return [str(saga.pay(env, request, SilentReporter()).result.payment_id)
                for _ in range(count)]


def deliveries(ids: list[str]) -> list[tuple[bytes, dict[str, str]]]:
    """One signed `charge.approved` per payment, signed now (before the clock starts)."""
    signer, stamp = Webhook(SECRET), datetime.now(tz=UTC)
    out = []
    for number, payment_id in enumerate(ids):
        body = json.dumps({"type": "charge.approved", "id": f"evt_{number}",
                           "timestamp": stamp.isoformat(), "data": {
                               "externalId": f"ext_{payment_id}", "paymentId": payment_id,
                               "status": "approved", "amount": "1.00", "currency": "USD",
                               "refundId": None}}).encode()
        webhook_id = f"msg_load_{number}"
        out.append((body, {"webhook-id": webhook_id,
                           "webhook-timestamp": str(int(stamp.timestamp())),
                           "webhook-signature": signer.sign(webhook_id, stamp, body),
                           "content-type": "application/json"}))
    return out


async def send_all(port: int, work: list[tuple[bytes, dict[str, str]]],
                   concurrency: int) -> float:
    """Send every delivery from `concurrency` keep-alive connections; the seconds it took.

    Requests are written as raw HTTP/1.1 bytes, prepared beforehand: an HTTP client
    library costs more CPU per request than the listener does, and it shares the cores."""
    queue = [_request(body, headers) for body, headers in reversed(work)]

    async def sender() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while queue:
            writer.write(queue.pop())
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return time.perf_counter() - started


def _request(body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {PATH} HTTP/1.1", "host: 127.0.0.1",
             f"content-length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--db", default=None, help="a ledger (default: a temporary file)")
    args = parser.parse_args()
    db = args.db or str(Path(tempfile.mkdtemp()) / "ledger.db")
    ids = open_payments(db, args.payments)
    work = deliveries(ids)
    port = 18000 + os.getpid() % 1000
    env = {**os.environ, "PAYCLI_WEBHOOK_SECRET": SECRET}
    printed = Path(db).with_suffix(".lines")  # a file, not a pipe nobody reads meanwhile
    with printed.open("w") as out:
        listener = subprocess.Popen([sys.executable, *PROFILE, "-m", "paycli", "--db", db, "listen",
                                     "--port", str(port), "--json"], env=env, text=True,
                                    stdout=out, stderr=subprocess.PIPE)
    assert listener.stderr is not None and "listening" in listener.stderr.readline()
    seconds = asyncio.run(send_all(port, work, args.concurrency))
    listener.terminate()
    listener.communicate(timeout=60)
    lines = [json.loads(line) for line in printed.read_text().splitlines()]
    report(db, ids, lines, seconds)


def report(db: str, ids: list[str], lines: list[dict[str, object]], seconds: float) -> None:
    """Check every payment COMPLETED once, then print the figures."""
    applied = sorted(str(line["entity_id"]) for line in lines if line["outcome"] == "applied")
    assert applied == sorted(ids), "not every payment applied exactly once"
    with Store(db) as store:
        assert all(p.status == "COMPLETED" for p in store.read.payments(status=None))
    took = sorted(float(str(line["ms"])) for line in lines)
    p50, p99 = took[len(took) // 2], took[min(len(took) - 1, int(len(took) * 0.99))]
    print(json.dumps({"webhooks": len(ids), "seconds": round(seconds, 3),
                      "per_second": round(len(ids) / seconds, 1),
                      "receipt_to_commit_ms": {"p50": p50, "p99": p99}}))


if __name__ == "__main__":
    main()
