"""The mock gateway's `--protocol seed` (each of the seed gateway's quirks, over real HTTP),
its `--count` option, and the settlement report `GET /reports/settlement` in both protocols.

Every test of the seed's mock restarts it at least once (it has no admin API to reset it):
those are marked slow, and a test walks several cases where it can.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from gateway_server import API_KEY, BOTH_PROTOCOLS
from mock_http import (
    GATEWAY_FAILURES,
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

HEADER = "external_id,payment_id,type,status,amount,currency,created_at"
PROTOCOL_CALLS = [
    ("POST", "/payment/process", charge_json()),
    ("GET", "/payment/status?externalId=ext_1", None),
    ("POST", "/payment/refund", refund_json("ext_1")),
    ("GET", "/reports/settlement", None),
]


@pytest.fixture
def seed(seed_gateway_server: MockGatewayProcess) -> MockGatewayProcess:
    """The session's seed-protocol mock, reset to mode `ok` with nothing in it."""
    seed_gateway_server.reset(mode="ok")
    return seed_gateway_server


@pytest.fixture
def client(gateway: MockGatewayProcess) -> Iterator[httpx.Client]:
    """A client of the test's gateway, with the right key."""
    with open_client(gateway) as http:
        yield http


@pytest.fixture
def seed_client(seed: MockGatewayProcess) -> Iterator[httpx.Client]:
    """A client of the seed-protocol mock, with a key the mock was never told."""
    with open_client(seed, headers={"X-API-Key": "any-key-at-all"}) as http:
        yield http


@pytest.mark.slow
class TestSeedLookUp:
    """Charges are looked up by externalId only, and answer the contract's four fields."""

    def test_no_look_up_by_payment_id(self, seed_client: httpx.Client) -> None:
        """By paymentId (or by nothing) is a 400 `Missing externalId parameter`."""
        pay(seed_client)
        for params in ({"paymentId": "pay_1"}, {}):
            response = seed_client.get("/payment/status", params=params)
            assert response.status_code == 400
            assert response.json() == {"error": "Missing externalId parameter"}

    def test_four_fields_only(self, seed_client: httpx.Client) -> None:
        """A charge looked up carries externalId, status, message and timestamp, no more."""
        answer = pay(seed_client).json()
        found = status_of(seed_client, externalId=answer["externalId"])
        assert found == answer
        assert set(found) == {"externalId", "status", "message", "timestamp"}

    def test_unknown_is_404(self, seed_client: httpx.Client) -> None:
        """An externalId the gateway never issued is a 404 with a JSON error."""
        response = seed_client.get("/payment/status", params={"externalId": "ext_nope"})
        assert response.status_code == 404 and "error" in response.json()


@pytest.mark.slow
class TestSeedIdempotency:
    """The Idempotency-Key header is never acted on: no stored answers, no replay, no 409."""

    def test_same_key_charges_again(self, seed: MockGatewayProcess,
                                    seed_client: httpx.Client) -> None:
        """The same key and body twice is two charges; another body is no 409 either."""
        first, second = pay(seed_client, key="k-1"), pay(seed_client, key="k-1")
        other = pay(seed_client, charge_json(amount="7"), key="k-1")
        assert first.json()["externalId"] != second.json()["externalId"]
        assert other.status_code == 200
        assert len(seed.charges()) == 3

    def test_refund_with_a_used_key_is_judged_afresh(self, seed: MockGatewayProcess,
                                                     seed_client: httpx.Client) -> None:
        """A refund repeated with its key is not replayed: the charge is refunded already,
        so the repeat is refused (400)."""
        external_id = approved_charge(seed_client)
        assert refund(seed_client, external_id, key="r-1").json()["status"] == "refunded"
        assert refund(seed_client, external_id, key="r-1").status_code == 400
        assert len(seed.refunds()) == 1


@pytest.mark.slow
class TestSeedApiKey:
    """Any non-empty X-API-Key is accepted; none (or an empty one) is a plain-text 401."""

    def test_any_key_is_accepted(self, seed_client: httpx.Client) -> None:
        """A key the mock was never configured with charges like the right one."""
        assert pay(seed_client).json()["status"] == "approved"

    def test_no_key_is_a_plain_text_401(self, seed: MockGatewayProcess) -> None:
        """Every protocol call without a key, or with an empty one, answers 401
        `Unauthorized` and a newline, as text/plain, and nothing is charged."""
        for headers in ({}, {"X-API-Key": ""}):
            with httpx.Client(base_url=seed.url, headers=headers, verify=TLS) as http:
                for method, path, body in PROTOCOL_CALLS:
                    response = http.request(method, path, content=body)
                    assert response.status_code == 401, (headers, path)
                    assert response.headers["content-type"].startswith("text/plain")
                    assert response.text == "Unauthorized\n"
        assert seed.charges() == []


@pytest.mark.slow
class TestSeedOutcomes:
    """Every charge outcome is HTTP 200, whatever the mode decides."""

    def test_every_outcome_is_http_200(self, seed: MockGatewayProcess) -> None:
        """approved, declined, pending and error all come back with status 200."""
        for mode, amount, status in [("ok", "50.00", "approved"), ("decline", "50.00", "declined"),
                                     ("pending", "50.00", "pending"), ("seed", "999.99", "error")]:
            seed.set_mode(mode)
            with open_client(seed) as http:
                response = pay(http, charge_json(amount=amount))
            assert (response.status_code, response.json()["status"]) == (200, status)


@pytest.mark.slow
class TestSeedRefunds:
    """One refund per charge, of any amount: it marks the whole charge refunded."""

    def test_one_refund_of_any_amount_refunds_the_charge(
            self, seed: MockGatewayProcess, seed_client: httpx.Client) -> None:
        """A refund of more than was charged goes through, answers the charge's id and no
        refundId, and the charge is `refunded`; a second refund of it is a 400."""
        external_id = approved_charge(seed_client, amount="50.00")
        answer = refund(seed_client, external_id, amount="70.00").json()
        assert set(answer) == {"externalId", "status", "message", "timestamp"}
        assert (answer["externalId"], answer["status"]) == (external_id, "refunded")
        [charge] = seed.charges()
        assert (charge["status"], charge["refunded"]) == ("refunded", "70.00")
        second = refund(seed_client, external_id, amount="1")
        assert second.status_code == 400 and "not refundable" in second.json()["error"]
        assert [r["status"] for r in seed.refunds()] == ["refunded"]

    def test_a_refunded_charge_looks_up_refunded(self, seed_client: httpx.Client) -> None:
        """Looked up after a refund, the charge answers `refunded` (still four fields)."""
        external_id = approved_charge(seed_client)
        refund(seed_client, external_id, amount="10")
        found = status_of(seed_client, externalId=external_id)
        assert found["status"] == "refunded"
        assert set(found) == {"externalId", "status", "message", "timestamp"}

    def test_only_approved_charges_are_refundable(self, seed: MockGatewayProcess) -> None:
        """A declined or pending charge is not refundable (400)."""
        for mode in ("decline", "pending"):
            seed.set_mode(mode, latency_ms=60_000)
            with open_client(seed) as http:
                external_id = pay(http).json()["externalId"]
                assert refund(http, external_id).status_code == 400, mode
        assert seed.refunds() == []

    def test_lost_refund_answer_was_refunded(self, seed: MockGatewayProcess) -> None:
        """In lost-response a refund is committed, then the connection dropped; asking
        again is refused, as the charge is refunded already."""
        with open_client(seed) as http:
            external_id = approved_charge(http)
        seed.set_mode("lost-response")
        with open_client(seed) as http:
            with pytest.raises(GATEWAY_FAILURES):
                refund(http, external_id, key="r-1")
            assert status_of(http, externalId=external_id)["status"] == "refunded"
            assert refund(http, external_id, key="r-1").status_code == 400


@pytest.mark.slow
class TestSeedHasNoAdmin:
    """The seed's gateway had no admin API, so the mock under seed has none either."""

    def test_admin_is_404(self, seed: MockGatewayProcess) -> None:
        """Every /admin/* endpoint is a 404, and a mode change through it changes nothing."""
        for method, path in [("GET", "/admin/mode"), ("POST", "/admin/mode"),
                             ("GET", "/admin/charges"), ("GET", "/admin/requests"),
                             ("POST", "/admin/reset")]:
            response = httpx.request(method, f"{seed.url}{path}", json={"mode": "decline"})
            assert response.status_code == 404, path
        with open_client(seed) as http:
            assert pay(http).json()["status"] == "approved"


@pytest.mark.slow
class TestSeedDriver:
    """MockGatewayProcess drives the seed mock without an admin API: by restarts, its
    state file and its access log."""

    def test_set_mode_keeps_charges_and_reset_forgets_them(self, seed: MockGatewayProcess
                                                           ) -> None:
        """set_mode restarts on the same port with every charge kept; reset empties it."""
        with open_client(seed) as http:
            approved_charge(http)
        before = seed.charges()
        assert seed.set_mode("decline") == {"mode": "decline", "count": None,
                                            "latency_ms": 1000}
        with open_client(seed) as http:
            assert pay(http).json()["status"] == "declined"
        assert seed.charges()[0] == before[0] and len(seed.charges()) == 2
        seed.reset()
        assert (seed.charges(), seed.refunds(), seed.mode()["mode"]) == ([], [], "ok")

    def test_requests_counts_protocol_calls_since_reset(self, seed: MockGatewayProcess,
                                                        seed_client: httpx.Client) -> None:
        """Protocol calls (401s and 400s too) count, across a restart; /health does not;
        a reset starts again from 0."""
        pay(seed_client)
        seed_client.get("/payment/status", params={"paymentId": "pay_1"})
        httpx.post(f"{seed.url}/payment/process", content=charge_json())
        httpx.get(f"{seed.url}/health")
        seed.set_mode("ok")
        with open_client(seed) as http:
            pay(http)
        assert seed.requests() == 4
        seed.reset()
        assert seed.requests() == 0

    def test_count_sets_the_counted_modes(self, seed: MockGatewayProcess) -> None:
        """`--count 2` (set_mode's count) fails the next two calls with 503, then approves."""
        assert seed.set_mode("flaky", count=2)["count"] == 2
        with open_client(seed) as http:
            assert [pay(http).status_code for _ in range(3)] == [503, 503, 200]


@pytest.mark.slow
class TestCountOption:
    def test_count_at_start_up(self) -> None:
        """Under the full protocol too, `--count N` sets a counted mode's start count."""
        with MockGatewayProcess(API_KEY, "--mode", "flaky", "--count", "2") as server:
            assert server.mode() == {"mode": "flaky", "count": 2, "latency_ms": 1000}
            with open_client(server) as http:
                assert [pay(http).status_code for _ in range(3)] == [503, 503, 200]


# --- the settlement report --------------------------------------------------------------


def report(http: httpx.Client) -> list[dict[str, str]]:
    """The settlement report's rows, checked for its header and line ends."""
    response = http.get("/reports/settlement")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text.startswith(HEADER + "\n") and "\r" not in response.text
    return list(csv.DictReader(io.StringIO(response.text)))


def row(external_id: str, payment_id: str, kind: str, status: str, amount: str,
        currency: str, created_at: str) -> dict[str, str]:
    """A report row with the given fields."""
    return {"external_id": external_id, "payment_id": payment_id, "type": kind,
            "status": status, "amount": amount, "currency": currency, "created_at": created_at}


@BOTH_PROTOCOLS
class TestSettlementReport:
    """Every charge and refund the mock holds, in order of creation, amounts exact."""

    def test_empty_is_the_header_alone(self, client: httpx.Client) -> None:
        """A mock with nothing in it reports one line: the header."""
        assert client.get("/reports/settlement").text == HEADER + "\n"
        assert report(client) == []

    def test_charges_as_charged(self, client: httpx.Client) -> None:
        """Each charge's id, payment id, status, exact amount text (50.00, 1000 JPY, an
        exponent written out), currency and timestamp."""
        sent = [("pay_a", "50.00", "USD"), ("pay_b", "1000", "JPY"), ("pay_c", "1.5e1", "EUR")]
        answers = [pay(client, charge_json(p, amount, currency)).json()
                   for p, amount, currency in sent]
        assert report(client) == [
            row(a["externalId"], p, "charge", "approved", shown, currency, a["timestamp"])
            for a, (p, _, currency), shown in zip(answers, sent, ["50.00", "1000", "15"],
                                                   strict=True)]

    def test_declined_and_settled_pending(self, gateway: MockGatewayProcess) -> None:
        """A declined charge is reported declined; a pending one whose time has come is
        settled before it is reported."""
        gateway.set_mode("decline")
        with open_client(gateway) as http:
            pay(http, charge_json("pay_d"))
        gateway.set_mode("pending", latency_ms=200)
        with open_client(gateway) as http:
            pay(http, charge_json("pay_p"))
            assert [r["status"] for r in report(http)] == ["declined", "pending"]
            time.sleep(0.3)
            assert [r["status"] for r in report(http)] == ["declined", "approved"]

    def test_errors_never_appear(self, gateway: MockGatewayProcess) -> None:
        """A charge answered `error` was never recorded, so it is not in the report."""
        gateway.set_mode("seed")
        with open_client(gateway) as http:
            assert pay(http, charge_json(amount="999.99")).json()["status"] == "error"
            assert report(http) == []

    def test_refunds_in_order_of_creation(self, gateway: MockGatewayProcess,
                                          client: httpx.Client) -> None:
        """Refund lines follow in creation order with the charge's payment id and currency:
        under full each refund is its own line (its refundId) and the charge stays
        approved; under seed the one refund names the charge and the charge is refunded."""
        first = pay(client, charge_json("pay_1", "50.00")).json()["externalId"]
        second = pay(client, charge_json("pay_2", "8.00", "EUR")).json()["externalId"]
        refunded = refund(client, first, amount="20.00").json()
        rows = report(client)
        assert [(r["type"], r["payment_id"]) for r in rows] == [
            ("charge", "pay_1"), ("charge", "pay_2"), ("refund", "pay_1")]
        assert rows[1]["external_id"] == second
        refund_id = first if gateway.is_seed else refunded["refundId"]
        assert rows[2] == row(refund_id, "pay_1", "refund", "refunded", "20.00", "USD",
                              refunded["timestamp"])
        assert rows[0]["status"] == ("refunded" if gateway.is_seed else "approved")

    def test_needs_the_key_and_is_counted(self, gateway: MockGatewayProcess) -> None:
        """Without a key the report is refused (401); with it, it is a counted call."""
        assert httpx.get(f"{gateway.url}/reports/settlement").status_code == 401
        assert gateway.settlement_report() == HEADER + "\n"
        assert gateway.requests() == 2

    def test_streamed(self, client: httpx.Client) -> None:
        """The report is streamed: chunked, no Content-Length."""
        pay(client)
        response = client.get("/reports/settlement")
        assert response.headers.get("transfer-encoding") == "chunked"
        assert "content-length" not in response.headers


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["full", "seed"])
def test_failed_refund_is_reported(protocol: str) -> None:
    """A refund the gateway could not make is a `refund_failed` line (the first draw of
    `--seed 31` in mode seed fails a refund)."""
    with MockGatewayProcess(API_KEY, "--seed", "31", protocol=protocol) as server:
        with open_client(server) as http:
            external_id = approved_charge(http)
        server.set_mode("seed")
        with open_client(server) as http:
            assert refund(http, external_id).json()["status"] == "refund_failed"
            rows: list[dict[str, Any]] = report(http)
    assert [(r["type"], r["status"]) for r in rows] == [
        ("charge", "approved"), ("refund", "refund_failed")]
