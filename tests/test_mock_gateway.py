"""The mock gateway, driven over real HTTP: every endpoint, every mode, the admin view."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_server import API_KEY
from mock_http import (
    GATEWAY_FAILURES,
    HEADERS,
    TLS,
    approved_charge,
    charge_json,
    open_client,
    pay,
    refund,
    refund_json,
    status_of,
)

from paycli.devtools.mock_process import MockGatewayProcess


@pytest.fixture
def client(gateway: MockGatewayProcess) -> Iterator[httpx.Client]:
    """A client of the test's mock gateway, with the right key."""
    with open_client(gateway) as http:
        yield http


class TestHealth:
    """GET /health answers 200 without a key, whatever the mode."""

    def test_needs_no_key(self, gateway: MockGatewayProcess) -> None:
        """No X-API-Key is needed for /health."""
        assert httpx.get(f"{gateway.url}/health").status_code == 200

    def test_up_while_down(self, gateway: MockGatewayProcess) -> None:
        """Mode down fails the protocol, not the process's health."""
        gateway.set_mode("down")
        assert httpx.get(f"{gateway.url}/health").status_code == 200


class TestApiKey:
    """Every protocol call without the configured X-API-Key gets 401 and does nothing."""

    @pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong-key"}], ids=["none", "wrong"])
    def test_every_call_refused(self, gateway: MockGatewayProcess, headers: dict[str, str]) -> None:
        """process, status and refund all answer 401 and nothing is charged."""
        with httpx.Client(base_url=gateway.url, headers=headers, verify=TLS) as http:
            assert http.post("/payment/process", content=charge_json()).status_code == 401
            assert http.get("/payment/status", params={"paymentId": "p"}).status_code == 401
            assert http.post("/payment/refund", content=refund_json("ext_x")).status_code == 401
        assert gateway.charges() == []


class TestProcess:
    """In mode ok a charge is approved, recorded and found again by either id."""

    def test_approves_and_records(self, gateway: MockGatewayProcess, client: httpx.Client) -> None:
        """The answer has the protocol's fields and the admin view holds the charge."""
        response = pay(client, key="k-1")
        body = response.json()
        assert response.status_code == 200
        assert set(body) == {"externalId", "status", "message", "timestamp"}
        assert body["status"] == "approved"
        [charge] = gateway.charges()
        assert charge == {
            "id": body["externalId"],
            "payment_id": "pay_1",
            "amount": "50.00",
            "currency": "USD",
            "status": "approved",
            "idempotency_key": "k-1",
            "refunded": "0",
        }

    def test_status_by_external_id(self, client: httpx.Client) -> None:
        """/payment/status?externalId= returns the charge with its amount as a JSON number."""
        external_id = approved_charge(client, amount="12.30")
        found = status_of(client, externalId=external_id)
        assert found["status"] == "approved"
        assert (found["paymentId"], found["currency"], found["refunds"]) == ("pay_1", "USD", [])
        raw = client.get("/payment/status", params={"externalId": external_id}).text
        assert json.loads(raw, parse_float=str)["amount"] == "12.30"

    def test_status_by_payment_id_finds_newest(self, client: httpx.Client) -> None:
        """Several charges for one payment id: the newest is the one found."""
        pay(client)
        newest = pay(client).json()["externalId"]
        assert status_of(client, paymentId="pay_1")["externalId"] == newest

    def test_status_unknown_is_404(self, client: httpx.Client) -> None:
        """Unknown ids are 404, by either parameter."""
        assert client.get("/payment/status", params={"externalId": "nope"}).status_code == 404
        assert client.get("/payment/status", params={"paymentId": "nope"}).status_code == 404

    def test_status_without_id_is_400(self, client: httpx.Client) -> None:
        """A status query with neither parameter is a 400 with an error."""
        response = client.get("/payment/status")
        assert response.status_code == 400
        assert "error" in response.json()

    @pytest.mark.parametrize(("sent", "shown"), [("50", "50"), ("50.50", "50.50"), ("1e2", "100")])
    def test_admin_amount_is_received_text(
        self, gateway: MockGatewayProcess, client: httpx.Client, sent: str, shown: str
    ) -> None:
        """/admin/charges shows the amount as the decimal text received (exponents written out)."""
        pay(client, charge_json(amount=sent))
        assert gateway.charges()[0]["amount"] == shown


BAD_CHARGES = {
    "not-json": b"{not json",
    "empty": b"",
    "array": b"[1, 2]",
    "string": b'"hello"',
    "bad-utf8": b'{"paymentId": "\xff"}',
    "deep": b"[" * 5000 + b"]" * 5000,
    "no-payment-id": charge_json().replace(b'"paymentId"', b'"other"'),
    "empty-payment-id": charge_json(payment_id=""),
    "amount-string": charge_json(amount='"50.00"'),
    "amount-zero": charge_json(amount="0"),
    "amount-negative": charge_json(amount="-5"),
    "amount-bool": charge_json(amount="true"),
    "amount-nan": charge_json(amount="NaN"),
    "amount-infinite": charge_json(amount="Infinity"),
    "amount-huge": charge_json(amount="1e400"),
    "currency-short": charge_json(currency="US"),
    "currency-digits": charge_json(currency="123"),
    "currency-number": charge_json().replace(b'"USD"', b"840"),
    "user-number": charge_json().replace(b'"alice"', b"7"),
}
BAD_REFUNDS = {
    "not-json": b"refund please",
    "array": b"[]",
    "no-external-id": b'{"amount": 1}',
    "amount-missing": b'{"externalId": "ext_1"}',
    "amount-string": b'{"externalId": "ext_1", "amount": "1"}',
    "reason-number": b'{"externalId": "ext_1", "amount": 1, "reason": 5}',
}


class TestValidation:
    """Bodies that are not JSON objects or carry wrong field types get 400, never a 500."""

    @pytest.mark.parametrize("body", BAD_CHARGES.values(), ids=BAD_CHARGES.keys())
    def test_bad_charge(
        self, gateway: MockGatewayProcess, client: httpx.Client, body: bytes
    ) -> None:
        """Each malformed charge body is a 400 with a JSON error and no charge."""
        response = pay(client, body, key="k-bad")
        assert response.status_code == 400
        assert isinstance(response.json()["error"], str)
        assert gateway.charges() == []

    @pytest.mark.parametrize("body", BAD_REFUNDS.values(), ids=BAD_REFUNDS.keys())
    def test_bad_refund(self, client: httpx.Client, body: bytes) -> None:
        """Each malformed refund body is a 400 with a JSON error."""
        response = client.post("/payment/refund", content=body)
        assert response.status_code == 400
        assert "error" in response.json()

    def test_bad_body_stores_nothing(self, client: httpx.Client) -> None:
        """A 400 for a bad body does not burn its Idempotency-Key."""
        assert pay(client, b"oops", key="k-1").status_code == 400
        assert pay(client, key="k-1").json()["status"] == "approved"


async def _pay_together(url: str, times: int, key: str) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=5.0,
                                 verify=TLS) as http:
        headers = {**HEADERS, "Idempotency-Key": key}
        calls = [
            http.post("/payment/process", content=charge_json(), headers=headers)
            for _ in range(times)
        ]
        return list(await asyncio.gather(*calls))


class TestIdempotency:
    """An Idempotency-Key gives at most one charge: same body replays, another gets 409."""

    def test_replay_is_identical(self, gateway: MockGatewayProcess, client: httpx.Client) -> None:
        """The same key and body replays the stored status and body byte for byte."""
        first, second = pay(client, key="k-1"), pay(client, key="k-1")
        assert (second.status_code, second.content) == (first.status_code, first.content)
        assert len(gateway.charges()) == 1

    def test_equal_body_spelled_differently_replays(self, client: httpx.Client) -> None:
        """50.5 and 50.50, in any key order, are the same request."""
        first = pay(client, charge_json(amount="50.5"), key="k-1")
        fields = dict(reversed(json.loads(charge_json(), parse_float=str).items()))
        reordered = json.dumps({**fields, "amount": "AMOUNT"}).replace('"AMOUNT"', "50.50")
        second = pay(client, reordered.encode(), key="k-1")
        assert second.content == first.content

    def test_different_body_is_409(self, gateway: MockGatewayProcess, client: httpx.Client) -> None:
        """The same key with another amount, or on another endpoint, is a 409."""
        external_id = pay(client, key="k-1").json()["externalId"]
        assert pay(client, charge_json(amount="50.01"), key="k-1").status_code == 409
        assert refund(client, external_id, key="k-1").status_code == 409
        assert len(gateway.charges()) == 1

    def test_no_key_charges_every_time(
        self, gateway: MockGatewayProcess, client: httpx.Client
    ) -> None:
        """POSTs without the header just work, each a new charge (like the seed's gateway)."""
        pay(client)
        pay(client)
        assert len(gateway.charges()) == 2

    def test_concurrent_same_key_charges_once(self, gateway: MockGatewayProcess) -> None:
        """20 simultaneous requests with one key make one charge and 20 identical answers."""
        gateway.set_mode("slow", latency_ms=100)
        responses = asyncio.run(_pay_together(gateway.url, 20, "k-race"))
        assert {(r.status_code, r.content) for r in responses} == {(200, responses[0].content)}
        assert len(gateway.charges()) == 1

    def test_refund_replay(self, gateway: MockGatewayProcess, client: httpx.Client) -> None:
        """A replayed refund returns the same refundId and moves money once."""
        external_id = approved_charge(client)
        first, second = (
            refund(client, external_id, key="r-1"),
            refund(client, external_id, key="r-1"),
        )
        assert second.content == first.content
        assert gateway.charges()[0]["refunded"] == "10.00"
        assert len(gateway.refunds()) == 1


class TestDecline:
    """Mode decline records the charge as declined and answers declined."""

    def test_declines(self, gateway: MockGatewayProcess, client: httpx.Client) -> None:
        """The answer and the record both say declined."""
        gateway.set_mode("decline")
        body = pay(client).json()
        assert body["status"] == "declined"
        assert status_of(client, externalId=body["externalId"])["status"] == "declined"
        assert gateway.charges()[0]["status"] == "declined"


class TestDown:
    """Mode down answers 503 to every protocol call; /health and /admin stay up."""

    def test_503_everywhere(self, gateway: MockGatewayProcess, client: httpx.Client) -> None:
        """process, status and refund are 503 and nothing is charged."""
        gateway.set_mode("down")
        assert pay(client).status_code == 503
        assert client.get("/payment/status", params={"paymentId": "p"}).status_code == 503
        assert refund(client, "ext_1").status_code == 503
        assert gateway.charges() == []


class TestFlaky:
    """Mode flaky fails exactly the next count calls with 503, then approves."""

    def test_count_three(self, gateway: MockGatewayProcess, client: httpx.Client) -> None:
        """Three 503s (any protocol call counts), then ok; the key was not burned."""
        gateway.set_mode("flaky", count=3)
        assert pay(client, key="k-1").status_code == 503
        assert client.get("/payment/status", params={"paymentId": "p"}).status_code == 503
        assert pay(client, key="k-1").status_code == 503
        assert pay(client, key="k-1").json()["status"] == "approved"
        assert pay(client).json()["status"] == "approved"
        assert gateway.mode()["count"] == 0
        assert len(gateway.charges()) == 2

    def test_count_defaults_to_one(self, gateway: MockGatewayProcess, client: httpx.Client) -> None:
        """Without a count, flaky fails one call."""
        assert gateway.set_mode("flaky")["count"] == 1
        assert [pay(client).status_code for _ in range(2)] == [503, 200]


class TestSlow:
    """Mode slow answers after latency_ms and records nothing for a client that gave up."""

    def test_abandoned_request_records_nothing(self, gateway: MockGatewayProcess) -> None:
        """A client timeout during the wait leaves no charge and no stored answer."""
        gateway.set_mode("slow", latency_ms=400)
        with open_client(gateway, timeout=0.1) as impatient, pytest.raises(httpx.ReadTimeout):
            pay(impatient, key="k-1")
        time.sleep(0.5)
        assert gateway.charges() == []
        gateway.set_mode("ok")
        with open_client(gateway) as http:
            assert pay(http, key="k-1").json()["status"] == "approved"
        assert len(gateway.charges()) == 1

    def test_patient_client_is_approved(
        self, gateway: MockGatewayProcess, client: httpx.Client
    ) -> None:
        """A client that waits gets approved, no sooner than latency_ms."""
        gateway.set_mode("slow", latency_ms=200)
        started = time.monotonic()
        assert pay(client).json()["status"] == "approved"
        assert time.monotonic() - started >= 0.2


class TestPending:
    """Mode pending answers pending; the charge settles to approved after latency_ms."""

    def test_settles(self, gateway: MockGatewayProcess, client: httpx.Client) -> None:
        """Pending (and not refundable) at first, approved once latency_ms has passed."""
        gateway.set_mode("pending", latency_ms=400)
        body = pay(client).json()
        assert body["status"] == "pending"
        assert status_of(client, externalId=body["externalId"])["status"] == "pending"
        assert refund(client, body["externalId"]).status_code == 400
        time.sleep(0.5)
        assert status_of(client, externalId=body["externalId"])["status"] == "approved"
        assert gateway.charges()[0]["status"] == "approved"


class TestLostResponse:
    """Mode lost-response commits the charge, then drops the connection without an answer."""

    def test_client_sees_transport_error(
        self, gateway: MockGatewayProcess, client: httpx.Client
    ) -> None:
        """httpx raises; the charge exists once and is found by paymentId; the retry replays."""
        gateway.set_mode("lost-response")
        with pytest.raises(GATEWAY_FAILURES):
            pay(client, key="k-1")
        [charge] = gateway.charges()
        found = status_of(client, paymentId="pay_1")
        assert (found["externalId"], found["status"]) == (charge["id"], "approved")
        retry = pay(client, key="k-1").json()
        assert (retry["externalId"], retry["status"]) == (charge["id"], "approved")
        assert len(gateway.charges()) == 1

    def test_no_status_line(self, gateway: MockGatewayProcess) -> None:
        """On a raw socket not one byte comes back before the connection closes."""
        gateway.set_mode("lost-response")
        body = charge_json()
        head = f"POST /payment/process HTTP/1.1\r\nHost: gw\r\nX-API-Key: {API_KEY}\r\n"
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        with socket.create_connection(("127.0.0.1", gateway.port), timeout=2) as raw:
            raw.sendall(head.encode() + body)
            try:
                received = raw.recv(4096)
            except ConnectionResetError:
                received = b""
        assert received == b""
        assert len(gateway.charges()) == 1

    def test_refund_is_committed(self, gateway: MockGatewayProcess, client: httpx.Client) -> None:
        """A lost refund answer still refunded; its retry replays and refunds nothing more."""
        external_id = approved_charge(client)
        gateway.set_mode("lost-response", count=2)
        for _ in range(2):
            with pytest.raises(GATEWAY_FAILURES):
                refund(client, external_id, key="r-1")
        assert refund(client, external_id, key="r-1").json()["status"] == "refunded"
        assert gateway.charges()[0]["refunded"] == "10.00"


class TestMalformed:
    """Mode malformed answers 200 with a body that is not JSON and charges nothing."""

    def test_not_json(self, gateway: MockGatewayProcess, client: httpx.Client) -> None:
        """The body fails to parse as JSON and nothing is recorded."""
        gateway.set_mode("malformed")
        response = pay(client, key="k-1")
        assert response.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.content)
        assert gateway.charges() == []


@pytest.fixture(scope="module")
def seed_server() -> Iterator[MockGatewayProcess]:
    with MockGatewayProcess(API_KEY, "--mode", "seed", "--seed", "42") as server:
        yield server


def _seed_run(server: MockGatewayProcess) -> list[str]:
    server.reset()
    with open_client(server) as http:
        return [pay(http, charge_json(f"pay_{n}")).json()["status"] for n in range(40)]


class TestSeedMode:
    """Mode seed draws the seed system's mix from --seed, repeatably; 999.99 always errors."""

    def test_repeatable(self, seed_server: MockGatewayProcess) -> None:
        """The same seed gives the same statuses after a reset, a mix of all four."""
        first = _seed_run(seed_server)
        assert _seed_run(seed_server) == first
        assert set(first) == {"approved", "pending", "declined", "error"}
        recorded = [c["status"] for c in seed_server.charges()]
        assert recorded == [s for s in first if s != "error"]

    def test_999_99_errors(self, seed_server: MockGatewayProcess) -> None:
        """Amount 999.99 answers status error, every time, and charges nothing."""
        seed_server.reset()
        with open_client(seed_server) as http:
            statuses = {pay(http, charge_json(amount="999.99")).json()["status"] for _ in range(5)}
        assert statuses == {"error"}
        assert seed_server.charges() == []

    def test_refunds_sometimes_fail(self, seed_server: MockGatewayProcess) -> None:
        """Some refunds answer refund_failed and add nothing to the refunded sum."""
        _seed_run(seed_server)
        with open_client(seed_server) as http:
            for charge in seed_server.charges():
                if charge["status"] == "approved":
                    refund(http, charge["id"], amount="1")
        outcomes = {r["status"] for r in seed_server.refunds()}
        assert outcomes == {"refunded", "refund_failed"}
        refunded = sum(int(c["refunded"]) for c in seed_server.charges())
        assert refunded == sum(1 for r in seed_server.refunds() if r["status"] == "refunded")


class TestRefunds:
    """Refunds: full, partial adding up, never more than is left, only approved charges."""

    def test_full(self, client: httpx.Client) -> None:
        """Refunding the whole amount answers refunded and shows in the status."""
        external_id = approved_charge(client)
        body = refund(client, external_id, amount="50.00").json()
        assert set(body) == {"externalId", "status", "message", "timestamp", "refundId"}
        assert (body["externalId"], body["status"]) == (external_id, "refunded")
        found = status_of(client, externalId=external_id)
        assert found["refundedAmount"] == 50
        assert [r["refundId"] for r in found["refunds"]] == [body["refundId"]]

    def test_partial_add_up(self, gateway: MockGatewayProcess, client: httpx.Client) -> None:
        """20 + 30.5 refunded of 50.50 leaves nothing, exactly; one cent more is a 400."""
        external_id = approved_charge(client, amount="50.50")
        assert refund(client, external_id, amount="20").json()["status"] == "refunded"
        assert refund(client, external_id, amount="30.5", key="r-2").json()["status"] == "refunded"
        assert refund(client, external_id, amount="0.01").status_code == 400
        assert gateway.charges()[0]["refunded"] == "50.5"
        assert [r["amount"] for r in gateway.refunds()] == ["20", "30.5"]
        assert gateway.refunds()[1]["idempotency_key"] == "r-2"

    def test_over_refund_is_400(self, client: httpx.Client) -> None:
        """Asking back more than was charged is refused."""
        external_id = approved_charge(client)
        response = refund(client, external_id, amount="50.01")
        assert response.status_code == 400
        assert "error" in response.json()

    def test_unknown_is_404(self, client: httpx.Client) -> None:
        """An externalId the gateway never issued is 404."""
        assert refund(client, "ext_unknown").status_code == 404

    def test_declined_is_400(self, gateway: MockGatewayProcess, client: httpx.Client) -> None:
        """A declined charge is not refundable."""
        gateway.set_mode("decline")
        external_id = pay(client).json()["externalId"]
        gateway.set_mode("ok")
        assert refund(client, external_id).status_code == 400
        assert gateway.refunds() == []


class TestAdmin:
    """The admin endpoints switch, show, count and reset without an API key."""

    def test_mode_round_trip(self, gateway: MockGatewayProcess) -> None:
        """POST /admin/mode switches; GET shows mode, count and latency."""
        gateway.set_mode("slow", latency_ms=250)
        assert gateway.mode() == {"mode": "slow", "count": None, "latency_ms": 250}

    @pytest.mark.parametrize(
        "body",
        [{"mode": "warp"}, {}, {"mode": "flaky", "count": -1}, {"mode": "slow", "latency_ms": "x"}],
    )
    def test_bad_mode_is_400(self, gateway: MockGatewayProcess, body: dict[str, Any]) -> None:
        """Unknown modes and bad numbers are refused, and the mode stays."""
        assert httpx.post(f"{gateway.url}/admin/mode", json=body).status_code == 400
        assert gateway.mode()["mode"] == "ok"

    def test_requests_counts_protocol_calls_only(
        self, gateway: MockGatewayProcess, client: httpx.Client
    ) -> None:
        """Protocol calls count (401s and 404s too); /health and /admin/* do not."""
        pay(client)
        client.get("/payment/status", params={"paymentId": "pay_1"})
        httpx.post(f"{gateway.url}/payment/process", content=charge_json())
        client.get("/health")
        gateway.charges()
        assert gateway.requests() == 3

    def test_reset_forgets_everything(
        self, gateway: MockGatewayProcess, client: httpx.Client
    ) -> None:
        """Reset clears charges, refunds, stored answers and the counter, and sets the mode."""
        external_id = pay(client, key="k-1").json()["externalId"]
        refund(client, external_id)
        gateway.set_mode("decline")
        gateway.reset()
        assert (gateway.charges(), gateway.refunds(), gateway.requests()) == ([], [], 0)
        assert gateway.mode()["mode"] == "ok"
        assert pay(client, charge_json(amount="1"), key="k-1").status_code == 200
        gateway.reset(mode="down")
        assert gateway.mode()["mode"] == "down"


class TestStateFile:
    """--state keeps charges, refunds and stored answers across a restart."""

    def test_survives_restart(self, tmp_path: Path) -> None:
        """A second process on the same file sees the charge and replays its answer."""
        state = tmp_path / "gateway.json"
        with (MockGatewayProcess(API_KEY, "--state", str(state)) as first,
              open_client(first) as http):
            answer = pay(http, charge_json(amount="50.50"), key="k-1")
            refund(http, answer.json()["externalId"], amount="0.50")
            before = first.charges()
        with (MockGatewayProcess(API_KEY, "--state", str(state)) as second,
              open_client(second) as http):
            assert second.charges() == before == [{**before[0], "refunded": "0.50"}]
            assert len(second.refunds()) == 1
            assert pay(http, charge_json(amount="50.50"), key="k-1").content == answer.content
            assert status_of(http, paymentId="pay_1")["refundedAmount"] == 0.5


def _log_lines(server: MockGatewayProcess, path: str) -> list[dict[str, Any]]:
    """The access-log lines for ``path``, waiting up to 2 s for the first to be written."""
    deadline = time.monotonic() + 2.0
    while True:
        lines = [json.loads(x) for x in server.stderr_text().splitlines() if x.startswith("{")]
        found = [line for line in lines if line["path"] == path]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


class TestAccessLog:
    """--verbose writes one JSON line per request on stderr."""

    def test_json_lines(self) -> None:
        """Each line carries method, path, status, idempotency key and mode."""
        with MockGatewayProcess(API_KEY, "--verbose") as server, open_client(server) as http:
            pay(http, key="k-1")
            [entry] = _log_lines(server, "/payment/process")
        assert (entry["method"], entry["status"], entry["mode"]) == ("POST", 200, "ok")
        assert entry["idempotency_key"] == "k-1"

    def test_quiet_by_default(self, gateway: MockGatewayProcess, client: httpx.Client) -> None:
        """Without --verbose nothing but the ready line is written to stderr."""
        pay(client)
        assert gateway.stderr_text().startswith("mock gateway listening on ")
        assert len(gateway.stderr_text().splitlines()) == 1
