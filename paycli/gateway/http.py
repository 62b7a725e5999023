"""The card gateway over HTTP (httpx): one attempt of each protocol call.

With `stripe`, which inherits this client, the only modules of paycli that touch the
network (the bench's raw httpx baseline and the mock gateway's admin client in `devtools`
are the named exceptions: they drive or measure the network themselves). It classifies
what happened on one attempt and leaves retries and the breaker to `resilience`. The API
key travels only in the header `credentials` names (`X-API-Key` here) and is cut out of
every answer on arrival, so it is never part of a message, a log line or the ledger.

A refusal of paycli's configuration is told apart from the gateway's answers here, and
raises `GatewayConfigError`: 401/403 refuse the API key; 405, and a 404 that is not the
gateway's own answer for an unknown charge, mean the URL does not lead to the protocol.
Only `GET /payment/status` and `POST /payment/refund` answer 404 for an unknown charge, and
with the gateway's JSON error object (`{"error": ...}`); a web server's "Not Found" page is
a route miss, and `POST /payment/process` has no legitimate 404 at all.

`settlement_report` streams `GET /reports/settlement` (the CSV `reconcile` reads) line by
line; it is not a protocol call of the saga, so it goes through neither retries nor the
breaker: a report that cannot be fetched whole is `GatewayUnavailable`, and nothing is
settled from it.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from paycli.errors import GatewayConfigError, GatewayUnavailable
from paycli.gateway.protocol import (
    MAX_BODY_BYTES,
    Answer,
    ChargeRequest,
    GatewayFailure,
    LookupUnsupported,
    RefundAnswer,
    Rejected,
    one_line,
)

_AMOUNT_SLOT = "\u0000amount\u0000"
KEY_SETTING = "PAYCLI_GATEWAY_API_KEY"
URL_SETTING = "PAYCLI_GATEWAY_URL / --gateway-url"
REPORT_PATH = "/reports/settlement"


def _dumps(body: dict[str, Any], amount: str) -> bytes:
    """JSON with `amount` written as the exact number text (`50.10` stays `50.10`)."""
    if not amount.replace(".", "", 1).isdigit():
        raise ValueError(f"not a decimal amount: {amount!r}")
    text = json.dumps({**body, "amount": _AMOUNT_SLOT})
    return text.replace(json.dumps(_AMOUNT_SLOT), amount, 1).encode()


# What the operating system or the TLS layer says, in the words an operator acts on.
_FAILURE_WORDS = (
    (("refused",), "connection refused"),
    (("name or service not known", "nodename nor servname", "name resolution",
      "no address associated", "getaddrinfo"), "name not found"),
    (("ssl", "tls", "certificate"), "TLS handshake failed"),
    (("network is unreachable",), "network unreachable"),
    (("no route to host",), "no route to host"),
    (("reset by peer",), "connection reset"),
)


def in_words(exc: httpx.TransportError) -> str:
    """Why a call did not get through, in words (`connection refused`, `timed out`,
    `name not found`, `TLS handshake failed: …`), never an httpx class name."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    text = str(exc).strip()
    for needles, words in _FAILURE_WORDS:
        if any(needle in text.lower() for needle in needles):
            return f"{words}: {text}" if words.startswith("TLS") else words
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection closed without an answer"
    return text or "the connection failed"


class HttpGateway:
    """The gateway protocol over HTTP, one attempt per call."""

    key_setting = KEY_SETTING  # where its key is set, named when the gateway refuses it

    # What a request body is written as (the Stripe-shaped protocol's form sets its own).
    content_type = "application/json"

    def __init__(self, base_url: str, api_key: str, timeout_s: float,
                 transport: httpx.BaseTransport | None = None) -> None:
        timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0))
        self._client = httpx.Client(
            base_url=base_url, timeout=timeout, transport=transport,
            headers={**self.credentials(api_key), "User-Agent": "paycli"},
            limits=httpx.Limits(max_keepalive_connections=16, max_connections=32),
        )
        # A gateway that echoes the key (in an error message, say) must not get it into
        # paycli's messages, log or ledger: it is cut out of every answer on arrival,
        # where it stands as itself (not inside a longer word: settings refuse a key too
        # short to be a secret, so ordinary words are never taken for it).
        self._secret = (re.compile(rb"(?<![\w-])" + re.escape(api_key.encode()) + rb"(?![\w-])")
                        if api_key else None)

    @staticmethod
    def credentials(api_key: str) -> dict[str, str]:
        """The header that carries the API key on every call."""
        return {"X-API-Key": api_key}

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _send(self, method: str, path: str, *, params: dict[str, str] | None = None,
              body: bytes | None = None, key: str | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": self.content_type} if body is not None else {}
        if key is not None:
            headers["Idempotency-Key"] = key
        request = self._client.build_request(method, path, params=params, content=body,
                                             headers=headers)
        try:
            response = self._client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise GatewayFailure(f"cannot connect to the gateway at {self._where()} "
                                 f"({in_words(exc)})", sent=False, unreached=True) from None
        except httpx.TransportError as exc:
            raise GatewayFailure(f"no answer from the gateway at {self._where()} "
                                 f"({in_words(exc)})", sent=True) from None
        try:
            data = self._read_capped(response)
        finally:
            response.close()
        return response.status_code, self._redacted(data)

    def _redacted(self, data: bytes) -> bytes:
        """An answer with the API key cut out, should the gateway echo it."""
        return self._secret.sub(b"[redacted]", data) if self._secret else data

    @staticmethod
    def _read_capped(response: httpx.Response) -> bytes:
        chunks, size = [], 0
        try:
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise GatewayFailure("the gateway's answer is too large", sent=True)
                chunks.append(chunk)
        except httpx.TransportError as exc:
            raise GatewayFailure(f"the gateway's answer broke off ({in_words(exc)})",
                                 sent=True) from None
        return b"".join(chunks)

    @staticmethod
    def _parse(model: type[BaseModel], body: bytes) -> Any:
        try:
            return model.model_validate_json(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            raise GatewayFailure(f"malformed gateway answer ({where}: {first['msg']})",
                                 sent=True) from None

    @staticmethod
    def _message(body: bytes) -> str:
        """The text of an error body (JSON `error` or `message`, else plain text), one line."""
        try:
            data = json.loads(body)
        except ValueError:
            return one_line(body[:400].decode("utf-8", "replace"))[:200]
        if isinstance(data, dict):
            return one_line(str(data.get("error") or data.get("message") or ""))[:200]
        return ""

    @staticmethod
    def _is_gateway_error(body: bytes) -> bool:
        """Whether a body is the gateway's own JSON error object (not a web server's page)."""
        try:
            data = json.loads(body)
        except ValueError:
            return False
        return isinstance(data, dict) and any(
            isinstance(data.get(field), str) for field in ("error", "message"))

    def _call(self, method: str, path: str, *, may_answer_404: bool,
              params: dict[str, str] | None = None, body: bytes | None = None,
              key: str | None = None) -> tuple[int, bytes]:
        """One protocol call; raises `GatewayConfigError` when the gateway refused paycli's
        key (401/403) or does not serve `method path` (405, or a 404 that is not the
        gateway's own answer for an unknown charge, which only `may_answer_404` calls get)."""
        status, data = self._send(method, path, params=params, body=body, key=key)
        self._check_configuration(status, data, method, path, may_answer_404)
        return status, data

    def _check_configuration(self, status: int, data: bytes, method: str, path: str,
                             may_answer_404: bool) -> None:
        if status in (401, 403):
            detail = self._message(data)
            raise GatewayConfigError(
                f"the gateway refused paycli's API key (HTTP {status}"
                f"{': ' + detail if detail else ''}); check {self.key_setting}")
        unknown_charge = status == 404 and may_answer_404 and self._is_gateway_error(data)
        if status in (404, 405) and not unknown_charge:
            raise GatewayConfigError(
                f"the gateway at {self._where()} does not serve {method} {path} (HTTP {status} "
                f"{httpx.codes.get_reason_phrase(status)}); check {URL_SETTING}")

    @contextlib.contextmanager
    def settlement_report(self) -> Iterator[Iterator[str]]:
        """`GET /reports/settlement`, streamed: the report's lines of text, read as they
        arrive. Raises `GatewayUnavailable` if it cannot be fetched whole."""
        try:
            response = self._client.send(self._client.build_request("GET", REPORT_PATH),
                                         stream=True)
        except httpx.TransportError as exc:
            raise GatewayUnavailable(f"cannot fetch the settlement report from the gateway "
                                     f"at {self._where()} ({in_words(exc)})") from None
        try:
            if response.status_code != 200:
                data = self._redacted(self._read_capped(response))
                self._check_configuration(response.status_code, data, "GET", REPORT_PATH,
                                          may_answer_404=False)
                raise GatewayUnavailable(
                    f"the gateway did not give its settlement report (HTTP "
                    f"{response.status_code}{': ' + self._message(data) if data else ''})")
            yield self._report_lines(response)
        finally:
            response.close()

    @staticmethod
    def _report_lines(response: httpx.Response) -> Iterator[str]:
        try:
            yield from response.iter_lines()
        except httpx.HTTPError as exc:
            message = in_words(exc) if isinstance(exc, httpx.TransportError) else str(exc)
            raise GatewayUnavailable(f"the gateway's settlement report broke off "
                                     f"({message}); nothing was settled") from None

    def _where(self) -> str:
        """The gateway's base URL as shown in messages (no user info, no query)."""
        url = self._client.base_url
        return f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}{url.path}".rstrip("/")

    def charge(self, request: ChargeRequest) -> Answer | Rejected:
        """`POST /payment/process`, once."""
        body = _dumps({
            "paymentId": request.payment_id, "currency": request.currency,
            "userId": request.user_id, "correlationId": request.correlation_id,
            "metadata": request.metadata,
        }, request.amount)
        status, data = self._call("POST", "/payment/process", may_answer_404=False, body=body,
                                  key=request.idempotency_key)
        return self._answer(status, data)

    def _answer(self, status: int, data: bytes) -> Answer | Rejected:
        if status >= 500:
            raise GatewayFailure(f"gateway error (HTTP {status})", sent=False)
        if status >= 400:
            return Rejected(status, self._message(data))
        answer: Answer = self._parse(Answer, data)
        if answer.status == "error":
            raise GatewayFailure(f"gateway error ({answer.message or 'status error'})",
                                 sent=False)
        return answer

    def _lookup(self, params: dict[str, str]) -> Answer | None:
        status, data = self._call("GET", "/payment/status", may_answer_404=True, params=params)
        if status == 404:
            return None
        if 400 <= status < 500 and "paymentId" in params:
            raise LookupUnsupported(f"HTTP {status}")
        result = self._answer(status, data)
        if isinstance(result, Rejected):
            raise GatewayFailure(f"gateway refused the lookup (HTTP {status})", sent=False)
        return result

    def status(self, external_id: str) -> Answer | None:
        """`GET /payment/status?externalId=`: the charge, or None if unknown."""
        return self._lookup({"externalId": external_id})

    def find_payment(self, payment_id: str) -> Answer | None:
        """`GET /payment/status?paymentId=`: the charge made for a payment, or None."""
        return self._lookup({"paymentId": payment_id})

    def refund(self, external_id: str, amount: str, reason: str,
               idempotency_key: str) -> RefundAnswer | Rejected:
        """`POST /payment/refund`, once."""
        body = _dumps({"externalId": external_id, "reason": reason}, amount)
        status, data = self._call("POST", "/payment/refund", may_answer_404=True, body=body,
                                  key=idempotency_key)
        if status >= 500:
            raise GatewayFailure(f"gateway error (HTTP {status})", sent=False)
        if status >= 400:
            return Rejected(status, self._message(data))
        answer: RefundAnswer = self._parse(RefundAnswer, data)
        return answer
