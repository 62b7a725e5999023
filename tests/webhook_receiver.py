"""A merchant's endpoint for the webhook tests: an HTTP server in a thread on 127.0.0.1
that verifies every request's signature with the `standardwebhooks` verifier, records
what it received, and answers as its `policy` says (ok, fail with a status, time out).

It also tracks the requests in flight per `webhook-id`, so a test can prove that no
delivery was ever sent twice at the same time, and which connection each request came
on, when (`time.monotonic()`), and when each connection ended: a sender keeps its
connections open while it lives, so a test can tell which copies were sent by a sender
that died before a copy came again.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

OK, FAIL, TIMEOUT = "ok", "fail", "timeout"
Policy = Callable[[str], str]  # the webhook-id -> how to answer


class Copy(NamedTuple):
    """One request answered 2xx: the connection it came on, and when it arrived."""

    connection: int
    at: float


@dataclass
class Receiver:
    """What the endpoint saw: verified bodies in arrival order, attempts per id, and
    whether two requests of one id ever overlapped."""

    secret: str = ""
    policy: Policy = lambda _id: OK
    hang_s: float = 1.0
    received: list[dict[str, Any]] = field(default_factory=list)  # answered 2xx
    copies: dict[str, list[Copy]] = field(default_factory=dict)  # id -> each 2xx's
    closed_at: dict[int, float] = field(default_factory=dict)  # connection -> its end
    attempts: dict[str, int] = field(default_factory=dict)
    bad_signatures: int = 0
    overlaps: int = 0
    in_flight: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_request: Callable[[str], None] | None = None
    url: str = ""

    def handle(self, headers: dict[str, str], body: bytes, connection: int = 0) -> int:
        """Verify, record and answer one request (that came on `connection`); returns
        the status to send."""
        try:
            payload = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            with self.lock:
                self.bad_signatures += 1
            return 401
        event_id = headers["webhook-id"]
        assert payload["id"] == event_id
        arrived = Copy(connection, time.monotonic())
        with self.lock:
            self.overlaps += event_id in self.in_flight
            self.in_flight.add(event_id)
            self.attempts[event_id] = self.attempts.get(event_id, 0) + 1
        try:
            return self._answer(event_id, payload, arrived)
        finally:
            with self.lock:
                self.in_flight.discard(event_id)

    def _answer(self, event_id: str, payload: dict[str, Any], arrived: Copy) -> int:
        if self.on_request is not None:
            self.on_request(event_id)
        how = self.policy(event_id)
        if how == TIMEOUT:
            time.sleep(self.hang_s)
            return 504
        if how == FAIL:
            return 500
        with self.lock:
            self.received.append(payload)
            self.copies.setdefault(event_id, []).append(arrived)
        return 200


class QuietServer(ThreadingHTTPServer):
    """A test endpoint's server: a connection its sender reset (killed mid-request, or
    gone after a timeout) is expected, not a traceback in the test log."""

    request_queue_size = 128  # the default 5 drops the connects of a busy sender

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def serve(receiver: Receiver) -> ThreadingHTTPServer:
    """Start the receiver on a free port of 127.0.0.1 (its `url` set); stop with
    `shutdown()` and `server_close()`."""

    serials = itertools.count(1)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the sender's workers reuse connections

        def handle(self) -> None:
            self.serial = next(serials)
            try:
                super().handle()
            finally:
                with receiver.lock:
                    receiver.closed_at[self.serial] = time.monotonic()

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            body = self.rfile.read(length)
            if len(body) < length:
                # its sender died mid-body: not a request (no server hands a cut body
                # on), so nothing to verify or count
                self.close_connection = True
                return
            status = receiver.handle({k.lower(): v for k, v in self.headers.items()}, body,
                                     self.serial)
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = QuietServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    return server
