"""`paycli.webhooks.sender`: one signed POST over a worker's keep-alive connection; what
counts as delivered, what an outcome says when no answer came, and connections that an
endpoint closed or left unusable.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook
from webhook_receiver import QuietServer

from paycli.webhooks.endpoints import new_secret
from paycli.webhooks.sender import BODY_PREFIX, READ_AT_MOST, Connections, send

Answer = Callable[[BaseHTTPRequestHandler], None]


@pytest.fixture
def endpoint() -> Iterator[tuple[list[Answer], list[int], str]]:
    """A server on 127.0.0.1 answering each request with the next of `answers` (the
    last one repeats); `ports` lists each request's client port (one per connection)."""
    answers: list[Answer] = []
    ports: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            ports.append(self.client_address[1])
            (answers.pop(0) if len(answers) > 1 else answers[0])(self)

        def log_message(self, *args: Any) -> None:
            pass

    server = QuietServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield answers, ports, f"http://127.0.0.1:{server.server_address[1]}/hooks?shop=1"
    server.shutdown()
    server.server_close()


def status(code: int, body: bytes = b"{}", close: bool = False) -> Answer:
    """Answer `code` with `body`; `close` ends the connection after it without saying so
    (as an endpoint whose keep-alive ran out does)."""
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(code)
        handler.send_header("content-length", str(len(body)))
        if code in (301, 302):
            handler.send_header("location", "http://127.0.0.1:9/elsewhere")
        handler.end_headers()
        handler.wfile.write(body)
        handler.close_connection = close
    return answer


SECRET = new_secret()


def post(connections: Connections, url: str) -> Any:
    return send(connections, url, SECRET, "evt_" + "a" * 24, b'{"id": "evt_a"}')


class TestSend:
    """What one attempt's outcome says."""

    def test_a_2xx_is_delivered_and_signed(self, endpoint: Any) -> None:
        """200 and 204 are delivered; the request carries a signature the library's
        verifier accepts, and keeps the URL's query."""
        answers, _, url = endpoint
        seen: list[dict[str, str]] = []

        def verify(handler: BaseHTTPRequestHandler) -> None:
            seen.append({k.lower(): v for k, v in handler.headers.items()})
            assert handler.path == "/hooks?shop=1"
            status(204, b"")(handler)
        answers.append(verify)
        with Connections() as connections:
            assert post(connections, url) == (True, 204, "")
        Webhook(SECRET).verify(b'{"id": "evt_a"}', seen[0])

    @pytest.mark.parametrize("code", [302, 400, 500])
    def test_anything_else_fails_and_a_redirect_is_not_followed(self, endpoint: Any,
                                                                 code: int) -> None:
        """A 3xx, 4xx or 5xx is a failure with its status; a redirect's target is never
        asked."""
        answers, ports, url = endpoint
        answers.append(status(code, b"nope"))
        with Connections() as connections:
            assert post(connections, url) == (False, code, "nope")
        assert len(ports) == 1

    def test_only_a_prefix_of_a_long_answer_is_kept(self, endpoint: Any) -> None:
        """A 100 kB error page: its first characters kept; the connection, not read to
        its end, is replaced and the next request goes through."""
        answers, ports, url = endpoint
        answers.extend([status(500, b"x" * (READ_AT_MOST + 40_000)), status(200)])
        with Connections() as connections:
            failed = post(connections, url)
            assert failed.status == 500 and failed.body == "x" * BODY_PREFIX
            assert post(connections, url).ok
        assert len(set(ports)) == 2

    def test_no_answer_says_why(self, endpoint: Any) -> None:
        """An endpoint slower than the timeout: `timeout`; a closed port: the error's
        name; neither has a status."""
        answers, _, url = endpoint
        answers.append(lambda handler: time.sleep(1.0))
        with Connections(timeout=0.2) as connections:
            assert post(connections, url) == (False, None, "timeout")
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            port = unused.getsockname()[1]
        with Connections() as connections:
            assert post(connections, f"http://127.0.0.1:{port}/x") == (
                False, None, "ConnectionRefusedError")


class TestConnections:
    """Keep-alive per worker, and a connection the endpoint closed meanwhile."""

    def test_one_connection_per_worker_is_kept_alive(self, endpoint: Any) -> None:
        """Ten requests from one thread use one connection."""
        answers, ports, url = endpoint
        answers.append(status(200))
        with Connections() as connections:
            assert all(post(connections, url).ok for _ in range(10))
        assert len(set(ports)) == 1

    def test_a_connection_closed_by_the_endpoint_is_replaced(self, endpoint: Any) -> None:
        """An endpoint that closes every connection after one answer without saying so:
        each next request goes through on a new connection, once each."""
        answers, ports, url = endpoint
        answers.append(status(200, close=True))
        with Connections() as connections:
            for _ in range(3):
                assert post(connections, url).ok
                time.sleep(0.05)  # the server's close reaches the client first
        assert len(ports) == len(set(ports)) == 3
