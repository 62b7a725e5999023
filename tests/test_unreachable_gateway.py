"""A gateway that cannot be reached is named by its URL and what happened, in words
(connection refused, timed out, name not found, TLS), never a Python class; an open
breaker says when the next probe may go out and how to close it by hand."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import httpx
import pytest
from helpers import paycli_env, run, run_json

from paycli.gateway.http import in_words

REQUEST = httpx.Request("POST", "http://gateway.test/payment/process")


def closed_port_url() -> str:
    """The URL of a loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def funded_db(tmp_path: Path) -> Path:
    """A ledger where alice has 100.00 USD."""
    db = tmp_path / "ledger.db"
    assert run_json(db, "wallet", "credit", "--user", "alice", "--amount", "100")[0] == 0
    return db


class TestInWords:
    """What the network said, as an operator reads it."""

    @pytest.mark.parametrize(("error", "words"), [
        (httpx.ConnectError("[Errno 111] Connection refused"), "connection refused"),
        (httpx.ConnectError("[Errno -2] Name or service not known"), "name not found"),
        (httpx.ConnectError("[Errno -3] Temporary failure in name resolution"),
         "name not found"),
        (httpx.ConnectTimeout("timed out"), "timed out"),
        (httpx.ReadTimeout("The read operation timed out"), "timed out"),
        (httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
         "TLS handshake failed: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
        (httpx.RemoteProtocolError(""), "the connection closed without an answer"),
    ])
    def test_each_failure_in_words(self, error: httpx.TransportError, words: str) -> None:
        """Refused, name not found, timed out and TLS each have their words."""
        assert in_words(error) == words


class TestThroughTheCommands:
    """The words reach the operator, with the gateway's URL."""

    def test_pay_names_the_url_and_the_refusal(self, funded_db: Path) -> None:
        """Exit 5; the line says where paycli tried and that the connection was refused."""
        url = closed_port_url()
        done = run(funded_db, "pay", "--user", "alice", "--amount", "5",
                   env=paycli_env(url, PAYCLI_RETRY_ATTEMPTS="1"))
        assert done.returncode == 5
        assert (f"Error: gateway unavailable: cannot connect to the gateway at {url} "
                "(connection refused) after 1 attempt(s); nothing was charged\n") in done.stderr
        assert "ConnectError" not in done.stdout + done.stderr

    def test_reconcile_names_the_url_of_the_report(self, funded_db: Path) -> None:
        """`reconcile --from-gateway`: which URL the report could not be fetched from."""
        url = closed_port_url()
        done = run(funded_db, "reconcile", "--from-gateway", env=paycli_env(url))
        assert done.returncode == 5
        assert done.stderr == (f"Error: cannot fetch the settlement report from the gateway "
                               f"at {url} (connection refused)\n")


class TestOpenBreaker:
    """An open breaker gives the next step."""

    def test_says_when_the_probe_goes_and_how_to_reset(self, funded_db: Path) -> None:
        """The second payment fails fast; its line gives the probe time and the command
        that closes the breaker by hand."""
        env = paycli_env(closed_port_url(), PAYCLI_RETRY_ATTEMPTS="1",
                         PAYCLI_BREAKER_FAILURES="1", PAYCLI_BREAKER_RESET_SECONDS="60")
        assert run(funded_db, "pay", "--user", "alice", "--amount", "5", env=env).returncode == 5
        done = run(funded_db, "pay", "--user", "alice", "--amount", "5", env=env)
        assert done.returncode == 5
        line = done.stderr.strip().splitlines()[-1]
        found = re.fullmatch(
            r"Error: gateway unavailable: the circuit breaker is open \(too many consecutive "
            r"failures\); no call was made; the next probe may go out at \d\d:\d\d:\d\d UTC, "
            r"in (\d+) s; `paycli gateway reset` closes the breaker by hand", line)
        assert found is not None and 30 <= int(found[1]) <= 60, line
        reset = run(funded_db, "gateway", "reset", env=env)
        assert reset.returncode == 0 and "circuit breaker closed" in reset.stdout
