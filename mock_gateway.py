"""A mock card gateway: the test double that paycli's gateway client is checked against.

It serves the seed system's gateway protocol over real HTTP on loopback (Starlette on
uvicorn), plus what only a test double has: switchable failure modes, an admin view of
every charge and refund, a request counter and an optional state file. It shares no code
with the ``paycli`` package, so a bug there cannot hide itself here.

Three protocols, on top of any mode:
- ``full`` (the default): the protocol plus look-up by ``paymentId``, honoured
  ``Idempotency-Key`` headers, partial refunds and the ``/admin/*`` endpoints.
- ``seed``: exactly what the seed system's own gateway does: look-up by ``externalId`` only
  (400 otherwise), ``Idempotency-Key`` never acted on (no stored answers, no replay, no
  409; the header is only noted on the record, for a test's eyes), any non-empty
  ``X-API-Key`` (else a plain-text 401 ``Unauthorized``), one refund per charge of any
  amount, which marks the whole charge ``refunded``, answers of the contract's four fields
  only, and no ``/admin/*``.
- ``stripe``: the charge and refund calls shaped as Stripe's PaymentIntents API on the same
  core (modes, records, idempotency): ``POST /v1/payment_intents`` (form-encoded, ``amount``
  in minor units, ``currency`` lower case, ``confirm=true``, ``metadata[payment_id]``),
  ``GET /v1/payment_intents/ID``, ``GET /v1/payment_intents/search?query=
  metadata['payment_id']:'P'``, ``POST /v1/refunds``; ``Authorization: Bearer KEY``;
  statuses ``succeeded``, ``processing``, ``requires_payment_method`` (a decline answers
  402 ``card_error`` carrying the intent); errors ``{"error": {"type", "code",
  "message"}}``; an ``Idempotency-Key`` reused with other parameters gets 409
  ``idempotency_error``. Minor units become exact amounts by the currency's exponent
  (JPY 0, KWD 3, most 2), so ``/admin/*`` and the report read as under ``full``.
All serve ``GET /reports/settlement``: every charge and refund as CSV, in creation order
(under ``stripe`` with the bearer key, as its other calls).

Invariants:
- Money is ``Decimal`` end to end: bodies are parsed with ``parse_float=Decimal`` and written
  back by hand as exact JSON numbers; ``/admin/*`` shows amounts as decimal strings in the
  text the client sent (``50.50`` stays ``"50.50"``; exponent forms are written out).
- Under ``full``, one ``Idempotency-Key`` gives at most one charge or refund: requests with
  the same key run one at a time (a per-key ``asyncio.Lock``) and later ones replay the
  stored status and body byte for byte, or get 409 when their canonical body differs.
- Only answers that record a decision are stored (approved, pending, declined, refunded,
  refund_failed, and 400/404 refusals of a valid request). Failures that commit nothing
  (503, ``status: "error"``, malformed bodies, validation 400s, requests whose client left
  during ``slow``) store nothing, so a retry with the same key is a fresh attempt.
- In ``lost-response`` the charge or refund and its stored answer are committed before the
  TCP connection is aborted, so the client sees a transport error and no status line.
- Outages come first: ``down``/``flaky`` answer 503 before the API key is even looked at.
- ``/health`` and ``/admin/*`` ignore the mode and the API key and are not counted.
- Exactly one ready line goes to stderr, and only once the socket accepts connections:
  ``mock gateway listening on http://HOST:PORT (mode MODE, protocol PROTOCOL)``.
- With ``--state FILE`` every change (a charge or refund together with its stored answer)
  is one atomic write (temp file + ``os.replace``), made before the answer is sent; the
  mode and the counter are not kept.
- The settlement report is streamed in chunks from a snapshot of the records (never the
  whole CSV in memory); amounts are the exact decimal text charged, never a float.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import csv
import dataclasses
import hashlib
import heapq
import hmac
import io
import json
import os
import random
import re
import socket
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MODES = ("ok", "decline", "down", "flaky", "slow", "pending", "lost-response", "malformed", "seed")
COUNTED_MODES = ("flaky", "lost-response")
DEFAULT_LATENCY_MS = 1000
DEFAULT_API_KEY = "test-api-key"
PROTOCOLS = ("full", "seed", "stripe")
SEED_SETTLE_SECONDS = 5.0
ALWAYS_ERRORS = Decimal("999.99")
MAX_NESTING = 32
TRANSPORT_KEY = "mock_gateway.transport"
MALFORMED_BODY = b"<html><body><h1>502 Bad Gateway</h1>upstream hiccup</body></html>"
REPORT_HEADER = ("external_id", "payment_id", "type", "status", "amount", "currency",
                 "created_at")
REPORT_CHUNK_LINES = 500
WEBHOOK_MODES = ("ok", "duplicate", "reorder", "delay", "drop", "bad-signature")
WEBHOOK_ATTEMPTS = 6
WEBHOOK_FIRST_BACKOFF_S = 0.2
WEBHOOK_MAX_BACKOFF_S = 5.0  # the doubling stops here (a long schedule stays quick)
WEBHOOK_DELAY_S = 2.0  # how late a ``delay`` delivery arrives
WEBHOOK_HOLD_S = 1.0  # how long a ``reorder`` delivery waits for a later one to overtake it
MESSAGES = {
    "approved": "Payment approved",
    "pending": "Payment pending",
    "declined": "Payment declined",
    "error": "Processing error",
    "refunded": "Refund processed",
    "refund_failed": "Refund failed",
}
# Stripe's currencies without minor units, and those with three decimals; the rest have two.
ZERO_DECIMAL = frozenset({"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF",
                          "UGX", "VND", "VUV", "XAF", "XOF", "XPF"})
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
INTENT_STATUSES = {"approved": "succeeded", "pending": "processing",
                   "declined": "requires_payment_method"}
STRIPE_REFUND_STATUSES = {"refunded": "succeeded", "refund_failed": "failed"}
STRIPE_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error",
                      402: "card_error", 404: "invalid_request_error",
                      409: "idempotency_error"}
DECLINE = {"type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
           "message": "Your card was declined."}
SEARCH_QUERY = "metadata['payment_id']:'"


# --- exact JSON -----------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def parse_json(raw: bytes) -> Any:
    """Parse a body with exact numbers; raise ValueError for anything that is not JSON."""
    try:
        value = json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc
    if _depth(value) > MAX_NESTING:
        raise ValueError("nested too deeply")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, found without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return deepest


def _number_text(value: Decimal, canonical: bool) -> str:
    """Plain decimal text, or (canonical) one exact spelling per numeric value."""
    if not canonical:
        return format(value, "f")
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # parse_json lets no NaN or Infinity through
    while len(digits) > 1 and digits[-1] == 0:
        digits, exponent = digits[:-1], exponent + 1
    if digits == (0,):
        return "0"
    return f"{'-' if sign else ''}{''.join(map(str, digits))}e{exponent}"


def dumps(value: Any, *, canonical: bool = False) -> str:
    """JSON text that writes Decimals as exact numbers (never through float)."""
    if isinstance(value, dict):
        items = sorted(value.items()) if canonical else value.items()
        inner = ",".join(f"{json.dumps(str(k))}:{dumps(v, canonical=canonical)}" for k, v in items)
        return "{" + inner + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v, canonical=canonical) for v in value) + "]"
    if isinstance(value, Decimal) or (isinstance(value, int) and not isinstance(value, bool)):
        return _number_text(Decimal(value), canonical)
    return json.dumps(value)


def money_text(amount: Decimal) -> str:
    return format(amount, "f")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- requests -------------------------------------------------------------------------


@dataclass(frozen=True)
class ChargeRequest:
    payment_id: str
    amount: Decimal
    currency: str
    user_id: str
    metadata: dict[str, str] | None = None  # under ``stripe``: echoed on the intent


@dataclass(frozen=True)
class RefundRequest:
    external_id: str
    amount: Decimal
    reason: str | None
    metadata: dict[str, str] | None = None  # under ``stripe``: echoed on the refund


@dataclass(frozen=True)
class IntentRefundRequest:
    """A ``POST /v1/refunds``: minor units, read once the intent's currency is known."""

    payment_intent: str
    minor: int | None  # None: what is left of the charge
    metadata: dict[str, str]


def parse_amount(value: Any) -> Decimal | str:
    """A positive, finite, sanely sized JSON number, or the reason it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return "amount must be a JSON number"
    amount = Decimal(value)
    if amount <= 0:
        return "amount must be positive"
    if amount.adjusted() >= 15 or amount.as_tuple().exponent < -12:  # type: ignore[operator]
        return "amount is out of range"
    return amount


def parse_charge(body: Any) -> ChargeRequest | str:
    """Validate a /payment/process body; return the request or what is wrong with it."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    payment_id, currency = body.get("paymentId"), body.get("currency")
    if not isinstance(payment_id, str) or not payment_id:
        return "paymentId must be a non-empty string"
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isascii():
        return "currency must be a 3-letter code"
    if not currency.isalpha():
        return "currency must be a 3-letter code"
    if not isinstance(body.get("userId"), str):
        return "userId must be a string"
    if not isinstance(body.get("correlationId"), str | None):
        return "correlationId must be a string"
    if not isinstance(body.get("metadata"), dict | None):
        return "metadata must be an object"
    amount = parse_amount(body.get("amount"))
    if isinstance(amount, str):
        return amount
    return ChargeRequest(payment_id, amount, currency, body["userId"])


def parse_refund(body: Any) -> RefundRequest | str:
    """Validate a /payment/refund body; return the request or what is wrong with it."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    external_id, reason = body.get("externalId"), body.get("reason")
    if not isinstance(external_id, str) or not external_id:
        return "externalId must be a non-empty string"
    if not isinstance(reason, str | None):
        return "reason must be a string"
    amount = parse_amount(body.get("amount"))
    if isinstance(amount, str):
        return amount
    return RefundRequest(external_id, amount, reason)


def minor_exponent(currency: str) -> int:
    """How many decimals a currency's minor unit has (Stripe's table: JPY 0, KWD 3)."""
    code = currency.upper()
    return 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2


def to_minor(amount: Decimal, currency: str) -> int:
    return int(amount.scaleb(minor_exponent(currency)))


def parse_form(raw: bytes) -> dict[str, str]:
    """A form body as a flat dict (``metadata[k]`` stays one key); ValueError if it is not
    one, or names a parameter twice."""
    try:
        pairs = urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True,
                                       strict_parsing=bool(raw.strip()))
    except UnicodeDecodeError as exc:
        raise ValueError("not UTF-8") from exc
    form = dict(pairs)
    if len(form) != len(pairs):
        raise ValueError("a parameter is given twice")
    return form


def _minor_units(text: str | None) -> int | str:
    """A positive integer amount in minor units, or the reason it is not one."""
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 15:
        return "amount must be a positive integer in the currency's minor units"
    return int(text) or "amount must be a positive integer in the currency's minor units"


def _metadata(form: dict[str, str]) -> dict[str, str]:
    return {key[len("metadata["):-1]: value for key, value in form.items()
            if key.startswith("metadata[") and key.endswith("]")}


def parse_intent(form: Any) -> ChargeRequest | str:
    """Validate a ``POST /v1/payment_intents`` form; the request (in major units) or what
    is wrong with it."""
    currency = form.get("currency", "")
    if len(currency) != 3 or not (currency.isascii() and currency.isalpha()
                                  and currency.islower()):
        return "currency must be a lower-case 3-letter ISO code"
    if form.get("confirm") != "true":
        return "confirm must be true: this gateway confirms an intent when it is created"
    minor = _minor_units(form.get("amount"))
    if isinstance(minor, str):
        return minor
    metadata = _metadata(form)
    if not metadata.get("payment_id"):
        return "metadata[payment_id] is required"
    amount = Decimal(minor).scaleb(-minor_exponent(currency))
    return ChargeRequest(metadata["payment_id"], amount, currency.upper(),
                         metadata.get("user_id", ""), metadata)


def parse_intent_refund(form: Any) -> IntentRefundRequest | str:
    """Validate a ``POST /v1/refunds`` form; the request or what is wrong with it."""
    intent = form.get("payment_intent", "")
    if not intent:
        return "payment_intent is required"
    minor = None if form.get("amount") is None else _minor_units(form["amount"])
    if isinstance(minor, str):
        return minor
    return IntentRefundRequest(intent, minor, _metadata(form))


# --- records and answers --------------------------------------------------------------


@dataclass
class Charge:
    id: str
    payment_id: str
    amount: Decimal
    currency: str
    user_id: str
    status: str
    timestamp: str
    idempotency_key: str | None
    settle_at: float | None = None
    refunded: Decimal = Decimal(0)
    seq: int = 0  # creation order among charges and refunds (the report's order)
    metadata: dict[str, str] | None = None

    def settle(self, now: float) -> bool:
        """Turn a pending charge whose time has come into an approved one."""
        if self.status != "pending" or self.settle_at is None or now < self.settle_at:
            return False
        self.status, self.settle_at = "approved", None
        return True


@dataclass
class Refund:
    id: str
    external_id: str
    amount: Decimal
    status: str
    timestamp: str
    idempotency_key: str | None
    seq: int = 0
    metadata: dict[str, str] | None = None


@dataclass(frozen=True)
class Answer:
    """An HTTP answer; ``decided`` marks one worth storing under an idempotency key."""

    status_code: int
    body: str
    decided: bool = True

    @classmethod
    def error(cls, status_code: int, message: str, decided: bool = False) -> Answer:
        return cls(status_code, dumps({"error": message}), decided)

    def response(self) -> Response:
        return Response(self.body, self.status_code, media_type="application/json")


@dataclass(frozen=True)
class StoredAnswer:
    fingerprint: str
    status_code: int
    body: str

    def replay(self, fingerprint: str) -> Answer:
        if fingerprint != self.fingerprint:
            return Answer.error(409, "Idempotency-Key reused with a different request")
        return Answer(self.status_code, self.body)


def _plain(record: Any) -> dict[str, Any]:
    return {k: money_text(v) if isinstance(v, Decimal) else v for k, v in vars(record).items()}


def _creation(record: Charge | Refund) -> int:
    return record.seq


class Ledger:
    """Charges, refunds and stored answers; written to ``path`` (if any) on ``save``."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.clear()
        if path is not None and path.exists():
            self._load(json.loads(path.read_text()))

    def clear(self) -> None:
        self.charges: dict[str, Charge] = {}
        self.refunds: list[Refund] = []
        self.answers: dict[str, StoredAnswer] = {}
        self.newest_by_payment: dict[str, str] = {}
        self.last_seq = 0

    def _next_seq(self) -> int:
        self.last_seq += 1
        return self.last_seq

    def add_charge(self, charge: Charge) -> None:
        charge.seq = charge.seq or self._next_seq()
        self.charges[charge.id] = charge
        self.newest_by_payment[charge.payment_id] = charge.id

    def add_refund(self, refund: Refund) -> None:
        refund.seq = refund.seq or self._next_seq()
        self.refunds.append(refund)

    def find(self, external_id: str | None, payment_id: str | None) -> Charge | None:
        if external_id is None and payment_id is not None:
            external_id = self.newest_by_payment.get(payment_id)
        charge = self.charges.get(external_id or "")
        if charge is not None and charge.settle(time.time()):
            self.save()
        return charge

    def settle_all(self) -> None:
        if [c for c in self.charges.values() if c.settle(time.time())]:
            self.save()

    def in_creation_order(self) -> Iterable[Charge | Refund]:
        """Every charge and refund, oldest first, from a snapshot of the references (so
        requests arriving meanwhile change nothing being walked)."""
        charges: list[Charge | Refund] = list(self.charges.values())
        refunds: list[Charge | Refund] = list(self.refunds)
        return heapq.merge(charges, refunds, key=_creation)

    def save(self) -> None:
        """Write the whole state atomically: a temp file, then ``os.replace``."""
        if self.path is None:
            return
        state = {
            "charges": [_plain(c) for c in self.charges.values()],
            "refunds": [_plain(r) for r in self.refunds],
            "answers": {k: vars(a) for k, a in self.answers.items()},
        }
        fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        with os.fdopen(fd, "w") as out:
            json.dump(state, out)
        os.replace(temp, self.path)

    def _load(self, state: dict[str, Any]) -> None:
        for c in state["charges"]:
            money = {"amount": Decimal(c["amount"]), "refunded": Decimal(c["refunded"])}
            self.add_charge(Charge(**{**c, **money}))
        for r in state["refunds"]:
            self.add_refund(Refund(**{**r, "amount": Decimal(r["amount"])}))
        self.answers = {k: StoredAnswer(**a) for k, a in state["answers"].items()}
        self.last_seq = max(map(_creation, self.in_creation_order()), default=0)


# --- behaviour ------------------------------------------------------------------------


@dataclass
class ModeState:
    mode: str
    count: int | None
    latency_ms: int

    def take(self, mode: str) -> bool:
        """Use up one of the ``count`` calls of a counted mode, if it is the current one."""
        if self.mode != mode or not self.count:
            return False
        self.count -= 1
        return True


class KeyedLocks:
    """One asyncio.Lock per idempotency key, forgotten when nobody holds or awaits it."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: Counter[str] = Counter()

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] += 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]


class Gateway:
    """What the gateway decides; knows nothing about HTTP."""

    def __init__(self, start: ModeState, seed: int | None, ledger: Ledger,
                 protocol: str = "full") -> None:
        self.start_mode, self.start_latency_ms = start.mode, start.latency_ms
        self.start_count = start.count if start.count is not None else 1
        self.seed, self.ledger, self.protocol = seed, ledger, protocol
        self.is_seed, self.is_stripe = protocol == "seed", protocol == "stripe"
        self.locks = KeyedLocks()
        self.notifier: Notifier | None = None  # with --webhook-url: every final outcome
        self._restart(start.mode)

    def _restart(self, mode: str) -> None:
        count = self.start_count if mode in COUNTED_MODES else None
        self.mode = ModeState(mode, count, self.start_latency_ms)
        self.rng = random.Random(self.seed)
        self.requests = 0

    def reset(self, mode: str) -> None:
        """Forget every charge, refund, answer and count; back to ``mode``."""
        self._restart(mode)
        self.ledger.clear()
        self.ledger.save()

    def error(self, status_code: int, message: str, decided: bool = False,
              code: str | None = None) -> Answer:
        """An error answer in the protocol's shape: ``{"error": message}``, or under
        ``stripe`` Stripe's error object (its ``type`` follows the status)."""
        if not self.is_stripe:
            return Answer.error(status_code, message, decided)
        kind = STRIPE_ERROR_TYPES.get(status_code, "api_error")
        body = {"error": {"type": kind, "code": code, "message": message}}
        return Answer(status_code, dumps(body), decided)

    def _decide_charge(self, amount: Decimal) -> tuple[str, float | None]:
        """The charge's status and, for pending, the seconds until it settles."""
        mode = self.mode.mode
        if mode == "decline":
            return "declined", None
        if mode == "pending":
            return "pending", self.mode.latency_ms / 1000
        if mode != "seed":
            return "approved", None
        if amount == ALWAYS_ERRORS:
            return "error", None
        draw = self.rng.random()
        if draw < 0.70:
            return "approved", None
        if draw < 0.85:
            return "pending", SEED_SETTLE_SECONDS
        return ("declined", None) if draw < 0.95 else ("error", None)

    def charge(self, request: ChargeRequest, key: str | None) -> Answer:
        """Decide and record a charge; an ``error`` is answered but never recorded."""
        status, settle_in = self._decide_charge(request.amount)
        charge = Charge(
            id=f"{'pi' if self.is_stripe else 'ext'}_{uuid.uuid4().hex}",
            payment_id=request.payment_id,
            amount=request.amount,
            currency=request.currency,
            user_id=request.user_id,
            status=status,
            timestamp=now_iso(),
            idempotency_key=key,
            settle_at=None if settle_in is None else time.time() + settle_in,
            metadata=request.metadata,
        )
        if status != "error":
            self.ledger.add_charge(charge)
            self._announce(charge)
        if self.is_stripe:
            return self._intent_answer(charge)
        return Answer(200, dumps(_charge_answer(charge)), decided=status != "error")

    def _intent_answer(self, charge: Charge) -> Answer:
        """A confirmed intent: 200, a decline's 402 ``card_error`` carrying the intent, or
        the 500 of a processing error (which records nothing)."""
        if charge.status == "error":
            return self.error(500, MESSAGES["error"], code="processing_error")
        intent = self.intent(charge)
        if charge.status == "declined":
            return Answer(402, dumps({"error": {**DECLINE, "payment_intent": intent}}))
        return Answer(200, dumps(intent))

    def intent(self, charge: Charge) -> dict[str, Any]:
        """A charge as a PaymentIntent, its refunds on ``latest_charge``."""
        return _intent(charge, [r for r in self.ledger.refunds if r.external_id == charge.id])

    def refund(self, request: RefundRequest, key: str | None) -> Answer:
        """Decide and record a refund. Under ``seed`` its amount is not checked and a
        successful one marks the whole charge ``refunded`` (so a second one gets 400)."""
        charge = self.ledger.find(request.external_id, None)
        if charge is None:
            return self.error(404, f"unknown externalId {request.external_id}", True,
                              "resource_missing")
        if charge.status != "approved":
            message = f"payment is not refundable (status {charge.status})"
            return self.error(400, message, True, "charge_not_refundable")
        left = charge.amount - charge.refunded
        if request.amount > left and not self.is_seed:
            message = f"refund of {money_text(request.amount)} exceeds what is left ({left})"
            return self.error(400, message, True, "amount_too_large")
        failed = self.mode.mode == "seed" and self.rng.random() < 0.10
        refund = Refund(
            id=f"{'re' if self.is_stripe else 'rf'}_{uuid.uuid4().hex}",
            external_id=charge.id,
            amount=request.amount,
            status="refund_failed" if failed else "refunded",
            timestamp=now_iso(),
            idempotency_key=key,
            metadata=request.metadata,
        )
        self.ledger.add_refund(refund)
        if not failed:
            charge.refunded += request.amount
            charge.status = "refunded" if self.is_seed else charge.status
        if self.notifier is not None:
            self.notifier.notify(refund_event(refund, charge))
        if self.is_stripe:
            return Answer(200, dumps(_stripe_refund(refund, charge)))
        return Answer(200, dumps(_refund_answer(refund, with_id=not self.is_seed)))

    def intent_refund(self, request: IntentRefundRequest, key: str | None) -> Answer:
        """``POST /v1/refunds``: its minor units read by the intent's currency (none: what
        is left), then refunded as any refund is."""
        charge = self.ledger.find(request.payment_intent, None)
        if charge is None:
            return self.error(404, f"No such payment_intent: '{request.payment_intent}'",
                              True, "resource_missing")
        left = charge.amount - charge.refunded
        amount = left if request.minor is None else (
            Decimal(request.minor).scaleb(-minor_exponent(charge.currency)))
        if amount <= 0:
            return self.error(400, "the charge is refunded already", True,
                              "charge_already_refunded")
        metadata = request.metadata
        return self.refund(RefundRequest(charge.id, amount, metadata.get("reason"), metadata),
                           key)

    def intent_status(self, intent_id: str) -> Answer:
        """``GET /v1/payment_intents/ID``."""
        charge = self.ledger.find(intent_id, None)
        if charge is None:
            return self.error(404, f"No such payment_intent: '{intent_id}'",
                              code="resource_missing")
        return Answer(200, dumps(self.intent(charge)))

    def search(self, query: str) -> Answer:
        """``GET /v1/payment_intents/search``: the one query this gateway understands,
        ``metadata['payment_id']:'P'`` (``\\`` escapes a quote), newest intent first."""
        if not query.startswith(SEARCH_QUERY) or len(query) <= len(SEARCH_QUERY) + 1 \
                or not query.endswith("'"):
            return self.error(400, "the query must be metadata['payment_id']:'...'",
                              code="parameter_invalid_string")
        payment_id = re.sub(r"\\(.)", r"\1", query[len(SEARCH_QUERY):-1])
        charge = self.ledger.find(None, payment_id)
        return Answer(200, dumps({"object": "search_result", "has_more": False,
                                  "url": "/v1/payment_intents/search",
                                  "data": [] if charge is None else [self.intent(charge)]}))

    def _announce(self, charge: Charge) -> None:
        """Send a decided charge's outcome now, a pending one's when it settles."""
        if self.notifier is None:
            return
        if charge.status == "pending":
            self.notifier.settle_later(charge, self.ledger)
        else:
            self.notifier.notify(charge_event(charge))

    def status(self, external_id: str | None, payment_id: str | None) -> Answer:
        """A charge looked up: by either id under ``full``, by ``externalId`` only (and
        with the contract's four fields only) under ``seed``."""
        if self.is_seed and not external_id:
            return Answer.error(400, "Missing externalId parameter")
        if not external_id and not payment_id:
            return Answer.error(400, "give externalId or paymentId")
        charge = self.ledger.find(external_id or None, None if self.is_seed else payment_id)
        if charge is None:
            return Answer.error(404, "unknown payment")
        if self.is_seed:
            return Answer(200, dumps(_charge_answer(charge)))
        refunds = [r for r in self.ledger.refunds if r.external_id == charge.id]
        return Answer(200, dumps(_status_answer(charge, refunds)))

    def admin_listing(self) -> dict[str, Any]:
        self.ledger.settle_all()
        charges = [_admin_charge(c) for c in self.ledger.charges.values()]
        refunds = [_admin_refund(r) for r in self.ledger.refunds]
        return {"charges": charges, "refunds": refunds}

    def settlement_lines(self) -> Iterable[tuple[str, ...]]:
        """The settlement report's rows, header first, in creation order (pending charges
        whose time has come settled first)."""
        self.ledger.settle_all()
        yield REPORT_HEADER
        for record in self.ledger.in_creation_order():
            yield self._report_row(record)

    def _report_row(self, record: Charge | Refund) -> tuple[str, ...]:
        if isinstance(record, Charge):
            return (record.id, record.payment_id, "charge", record.status,
                    money_text(record.amount), record.currency, record.timestamp)
        charge = self.ledger.charges[record.external_id]
        # The seed's refunds have no id of their own: its report names the charge.
        external_id = charge.id if self.is_seed else record.id
        return (external_id, charge.payment_id, "refund", record.status,
                money_text(record.amount), charge.currency, record.timestamp)


def _refund_answer(refund: Refund, with_id: bool = True) -> dict[str, Any]:
    answer = {
        "externalId": refund.external_id,
        "status": refund.status,
        "message": MESSAGES[refund.status],
        "timestamp": refund.timestamp,
    }
    return answer | {"refundId": refund.id} if with_id else answer


def _charge_answer(charge: Charge) -> dict[str, Any]:
    return {
        "externalId": charge.id,
        "status": charge.status,
        "message": MESSAGES[charge.status],
        "timestamp": charge.timestamp,
    }


def _status_answer(charge: Charge, refunds: list[Refund]) -> dict[str, Any]:
    return _charge_answer(charge) | {
        "paymentId": charge.payment_id,
        "amount": charge.amount,
        "currency": charge.currency,
        "refundedAmount": charge.refunded,
        "refunds": [
            {
                "refundId": r.id,
                "amount": r.amount,
                "status": r.status,
                "idempotencyKey": r.idempotency_key,
            }
            for r in refunds
        ],
    }


def _unix(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp())


def _intent(charge: Charge, refunds: list[Refund]) -> dict[str, Any]:
    amount = to_minor(charge.amount, charge.currency)
    return {
        "id": charge.id,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount if charge.status == "approved" else 0,
        "currency": charge.currency.lower(),
        "status": INTENT_STATUSES[charge.status],
        "created": _unix(charge.timestamp),
        "metadata": charge.metadata or {"payment_id": charge.payment_id},
        "last_payment_error": DECLINE if charge.status == "declined" else None,
        "latest_charge": {
            "id": "ch_" + charge.id.removeprefix("pi_"),
            "object": "charge",
            "amount_refunded": to_minor(charge.refunded, charge.currency),
            "refunds": {"object": "list", "data": [_stripe_refund(r, charge) for r in refunds]},
        },
    }


def _stripe_refund(refund: Refund, charge: Charge) -> dict[str, Any]:
    return {
        "id": refund.id,
        "object": "refund",
        "amount": to_minor(refund.amount, charge.currency),
        "currency": charge.currency.lower(),
        "payment_intent": charge.id,
        "status": STRIPE_REFUND_STATUSES[refund.status],
        "failure_reason": "unknown" if refund.status == "refund_failed" else None,
        "metadata": refund.metadata or {},
        "created": _unix(refund.timestamp),
    }


def _admin_charge(charge: Charge) -> dict[str, Any]:
    return {
        "id": charge.id,
        "payment_id": charge.payment_id,
        "amount": money_text(charge.amount),
        "currency": charge.currency,
        "status": charge.status,
        "idempotency_key": charge.idempotency_key,
        "refunded": money_text(charge.refunded),
    }


def _admin_refund(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "external_id": refund.external_id,
        "amount": money_text(refund.amount),
        "status": refund.status,
        "idempotency_key": refund.idempotency_key,
    }


# --- raw ASGI helpers -----------------------------------------------------------------


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def client_stays(receive: Receive, seconds: float) -> bool:
    """Wait ``seconds``; False as soon as the client hangs up during the wait."""
    try:
        await asyncio.wait_for(_until_disconnect(receive), timeout=seconds)
    except TimeoutError:
        return True
    return False


class Silence(Response):
    """No answer at all: the client has already gone."""

    def __init__(self) -> None:
        super().__init__(b"")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        return None


class DropConnection(Response):
    """Abort the TCP connection before a byte of the answer is sent: a lost response.

    uvicorn's ``send`` is a bound method of its request cycle, whose ``transport`` the outer
    wrapper puts in the scope. Waiting for ``http.disconnect`` afterwards tells uvicorn the
    client is gone, so it neither logs nor tries to send a 500 of its own.
    """

    def __init__(self) -> None:
        super().__init__(b"")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = scope.get(TRANSPORT_KEY)
        if transport is None:
            raise RuntimeError("lost-response needs uvicorn's transport")
        transport.abort()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_until_disconnect(receive), timeout=1.0)


def is_protocol_path(path: str) -> bool:
    return path != "/health" and not path.startswith("/admin/") and path != "/admin"


class Outer:
    """Counts protocol calls, exposes the transport, writes the access log."""

    def __init__(self, app: ASGIApp, gateway: Gateway, verbose: bool) -> None:
        self.app, self.gateway, self.verbose = app, gateway, verbose

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if is_protocol_path(scope["path"]):
            self.gateway.requests += 1
        scope[TRANSPORT_KEY] = getattr(getattr(send, "__self__", None), "transport", None)
        if not self.verbose:
            return await self.app(scope, receive, send)
        await self._logged(scope, receive, send)

    async def _logged(self, scope: Scope, receive: Receive, send: Send) -> None:
        status: list[int] = []
        mode, started = self.gateway.mode.mode, time.perf_counter()

        async def noting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, noting_send)
        finally:
            headers = dict(scope["headers"])
            line = {
                "method": scope["method"],
                "path": scope["path"],
                "status": status[0] if status else None,
                "idempotency_key": headers.get(b"idempotency-key", b"").decode("latin-1") or None,
                "mode": mode,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            }
            print(json.dumps(line), file=sys.stderr, flush=True)


# --- webhooks -------------------------------------------------------------------------


def webhook_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret (``whsec_`` and base64)."""
    text = secret.removeprefix("whsec_")
    return base64.b64decode(text + "=" * (-len(text) % 4))


def webhook_signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,`` and the base64 HMAC-SHA256 of ``id.timestamp.body`` (Standard Webhooks),
    written here by hand so the mock shares no code with the receiver it tests."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def charge_event(charge: Charge) -> dict[str, Any]:
    """A charge's final outcome as the contract's gateway event."""
    kind = "charge.approved" if charge.status in ("approved", "refunded") else "charge.declined"
    return _event(kind, charge, charge.status, charge.amount, None)


def refund_event(refund: Refund, charge: Charge) -> dict[str, Any]:
    """A refund's final outcome as the contract's gateway event."""
    kind = "charge.refunded" if refund.status == "refunded" else "refund.failed"
    return _event(kind, charge, refund.status, refund.amount, refund.id)


def _event(kind: str, charge: Charge, status: str, amount: Decimal,
           refund_id: str | None) -> dict[str, Any]:
    return {"type": kind, "id": f"evt_{uuid.uuid4().hex}", "timestamp": now_iso(),
            "data": {"externalId": charge.id, "paymentId": charge.payment_id,
                     "status": status, "amount": amount, "currency": charge.currency,
                     "refundId": refund_id}}


class Notifier:
    """Sends every final outcome to ``url``, signed, each delivery a task of its own (so
    the gateway's answers never wait for it), retried on a non-2xx or no answer (0.2 s,
    then doubling up to 5 s, 6 attempts; ``--webhook-backoff-ms`` and
    ``--webhook-attempts`` change both). ``faults`` (``/admin/webhooks``) makes the next
    ``count`` deliveries arrive twice, out of order, late, never, or first with a bad
    signature (its retry is signed right)."""

    def __init__(self, url: str, secret: str, attempts: int = WEBHOOK_ATTEMPTS,
                 first_backoff_s: float = WEBHOOK_FIRST_BACKOFF_S) -> None:
        self.url, self.key = url, webhook_key(secret)
        self.attempts, self.first_backoff_s = attempts, first_backoff_s
        self.faults = ModeState("ok", None, 0)
        self.sent = 0  # deliveries answered 2xx
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: list[dict[str, Any]] = []
        self._client: httpx.AsyncClient | None = None

    def notify(self, event: dict[str, Any]) -> None:
        """Send ``event`` in the background, as the current fault says."""
        fault = next((m for m in WEBHOOK_MODES[1:] if self.faults.take(m)), "ok")
        if fault == "drop":
            return
        if fault == "reorder":
            self._held.append(event)
            self._spawn(self._release_held(WEBHOOK_HOLD_S))
            return
        if fault == "duplicate":
            self._spawn(self._deliver(event))
        # A held (``reorder``) delivery goes after this one has arrived: out of order.
        self._spawn(self._deliver(event, WEBHOOK_DELAY_S if fault == "delay" else 0,
                                  fault == "bad-signature", then_held=True))

    def settle_later(self, charge: Charge, ledger: Ledger) -> None:
        """Announce a pending charge once its time has come (settling it then)."""
        self._spawn(self._settle(charge, ledger))

    async def _settle(self, charge: Charge, ledger: Ledger) -> None:
        await asyncio.sleep(max(0.0, (charge.settle_at or 0) - time.time()))
        ledger.find(charge.id, None)  # settles it (and saves) if nothing looked it up yet
        if charge.status != "pending":
            self.notify(charge_event(charge))

    async def _release_held(self, after: float) -> None:
        await asyncio.sleep(after)
        while self._held:
            await self._deliver(self._held.pop(0))

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, event: dict[str, Any], delay: float = 0,
                       forged: bool = False, then_held: bool = False) -> None:
        await asyncio.sleep(delay)
        body = dumps(event).encode()
        wait = self.first_backoff_s
        for attempt in range(self.attempts):
            if await self._post(event["id"], body, forged and attempt == 0):
                self.sent += 1
                break
            await asyncio.sleep(wait)
            wait = min(wait * 2, WEBHOOK_MAX_BACKOFF_S)
        if then_held:
            await self._release_held(0)

    async def _post(self, msg_id: str, body: bytes, forged: bool) -> bool:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=5.0)
        stamp = int(time.time())
        key = b"forged" if forged else self.key
        headers = {"webhook-id": msg_id, "webhook-timestamp": str(stamp),
                   "webhook-signature": webhook_signature(key, msg_id, stamp, body),
                   "content-type": "application/json"}
        try:
            answer = await self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError:
            return False
        return 200 <= answer.status_code < 300

    async def close(self) -> None:
        """Stop sending: pending deliveries are abandoned, as a stopped gateway's are."""
        for task in list(self._tasks):
            task.cancel()
        if self._client is not None:
            await self._client.aclose()


# --- HTTP endpoints -------------------------------------------------------------------

Parser = Callable[[Any], Any]
Action = Callable[[Any, str | None], Answer]


def _json(value: Any, status_code: int = 200) -> Response:
    return Response(dumps(value), status_code, media_type="application/json")


class Endpoints:
    """The HTTP face of a Gateway: gates, idempotency, modes that act on the wire."""

    def __init__(self, gateway: Gateway, api_key: str) -> None:
        self.gateway, self.api_key = gateway, api_key

    def _refusal(self, request: Request, answers_json: bool = True) -> Response | None:
        """503 for an outage, 401 for a bad key, garbage for ``malformed`` (where the
        answer would be JSON); else None."""
        mode = self.gateway.mode
        if mode.mode == "down" or mode.take("flaky"):
            return self.gateway.error(503, "gateway unavailable").response()
        unauthorized = self._unauthorized(self._given_key(request))
        if unauthorized is not None:
            return unauthorized
        if mode.mode == "malformed" and answers_json:
            return Response(MALFORMED_BODY, 200, media_type="application/json")
        return None

    def _given_key(self, request: Request) -> str:
        """The key a call carries: ``X-API-Key``, or under ``stripe`` the bearer token."""
        if not self.gateway.is_stripe:
            return request.headers.get("x-api-key", "")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return token if scheme == "Bearer" else ""

    def _unauthorized(self, given: str) -> Response | None:
        """The seed's gateway takes any non-empty key and refuses in plain text; the full
        and stripe protocols want the configured key."""
        if self.gateway.is_seed:
            return None if given else PlainTextResponse("Unauthorized\n", 401)
        if not hmac.compare_digest(given.encode(), self.api_key.encode()):
            where = "bearer API key" if self.gateway.is_stripe else "X-API-Key"
            return self.gateway.error(401, f"missing or wrong {where}",
                                      code="api_key_invalid").response()
        return None

    async def _patient(self, request: Request) -> bool:
        """In ``slow`` mode wait first; False if the client gave up meanwhile."""
        if self.gateway.mode.mode != "slow":
            return True
        return await client_stays(request.receive, self.gateway.mode.latency_ms / 1000)

    async def process(self, request: Request) -> Response:
        return await self._post(request, parse_charge, self.gateway.charge)

    async def refund(self, request: Request) -> Response:
        return await self._post(request, parse_refund, self.gateway.refund)

    async def create_intent(self, request: Request) -> Response:
        return await self._post(request, parse_intent, self.gateway.charge)

    async def create_refund(self, request: Request) -> Response:
        return await self._post(request, parse_intent_refund, self.gateway.intent_refund)

    async def intent(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        return self.gateway.intent_status(request.path_params["intent_id"]).response()

    async def search(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        return self.gateway.search(request.query_params.get("query", "")).response()

    async def status(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        # `slow` delays the calls that act (charges, refunds), not status look-ups, so a
        # client that timed out can still ask whether anything was charged.
        params = request.query_params
        return self.gateway.status(params.get("externalId"), params.get("paymentId")).response()

    async def settlement(self, request: Request) -> Response:
        """The settlement report as CSV, streamed a chunk of lines at a time."""
        # A report is not a JSON answer, so `malformed` leaves it alone; outages and the
        # key apply to it as to every protocol call.
        refusal = self._refusal(request, answers_json=False)
        if refusal is not None:
            return refusal
        return StreamingResponse(_csv_chunks(self.gateway.settlement_lines()),
                                 media_type="text/csv")

    async def _post(self, request: Request, parse: Parser, act: Action) -> Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        drop = self.gateway.mode.take("lost-response")
        answer = await self._answer_post(request, parse, act)
        if answer is None:
            return Silence()
        return DropConnection() if drop else answer.response()

    async def _answer_post(self, request: Request, parse: Parser, act: Action) -> Answer | None:
        read, shape = (parse_form, "a form") if self.gateway.is_stripe else (parse_json, "JSON")
        try:
            body = read(await request.body())
        except ClientDisconnect:
            return None  # the client gave up before its body arrived: nothing to answer
        except ValueError as exc:
            return self.gateway.error(400, f"body is not {shape}: {exc}")
        parsed = parse(body)
        if isinstance(parsed, str):
            return self.gateway.error(400, parsed, code="parameter_invalid")
        key = request.headers.get("idempotency-key") or None
        if key is None or self.gateway.is_seed:
            # The seed's gateway never acts on the key: it is only noted on the record.
            return await self._act(request, act, parsed, key)
        fingerprint = hashlib.sha256(
            f"{request.method} {request.url.path} {dumps(body, canonical=True)}".encode()
        ).hexdigest()
        async with self.gateway.locks.hold(key):
            stored = self.gateway.ledger.answers.get(key)
            if stored is not None and self.gateway.is_stripe and stored.fingerprint != fingerprint:
                return self.gateway.error(409, "Keys for idempotent requests can only be used "
                                          "with the same parameters they were first used with",
                                          code="idempotency_key_reused")
            if stored is not None:
                return stored.replay(fingerprint)
            return await self._act(request, act, parsed, key, fingerprint)

    async def _act(
        self,
        request: Request,
        act: Action,
        parsed: Any,
        key: str | None,
        fingerprint: str | None = None,
    ) -> Answer | None:
        """Wait if slow, then decide, store the answer under ``key`` and save once."""
        if not await self._patient(request):
            return None
        answer = act(parsed, key)
        if key is not None and fingerprint is not None and answer.decided:
            stored = StoredAnswer(fingerprint, answer.status_code, answer.body)
            self.gateway.ledger.answers[key] = stored
        self.gateway.ledger.save()
        return answer

    async def health(self, request: Request) -> Response:
        return _json({"status": "ok"})

    async def get_mode(self, request: Request) -> Response:
        return _json(dataclasses.asdict(self.gateway.mode))

    async def set_mode(self, request: Request) -> Response:
        body = await _admin_body(request)
        mode = body.get("mode") if isinstance(body, dict) else None
        if mode not in MODES:
            return Answer.error(400, f"mode must be one of {', '.join(MODES)}").response()
        default_count = 1 if mode in COUNTED_MODES else None
        count = body.get("count", default_count)
        latency = body.get("latency_ms", self.gateway.start_latency_ms)
        if not _is_count(count, allow_none=default_count is None) or not _is_count(latency):
            return Answer.error(
                400, "count and latency_ms must be non-negative integers"
            ).response()
        self.gateway.mode = ModeState(mode, count, latency)
        return await self.get_mode(request)

    async def charges(self, request: Request) -> Response:
        return _json(self.gateway.admin_listing())

    async def get_webhooks(self, request: Request) -> Response:
        notifier = self.gateway.notifier
        if notifier is None:
            return Answer.error(409, "no --webhook-url: webhooks are not sent").response()
        faults = notifier.faults
        return _json({"mode": faults.mode, "count": faults.count, "sent": notifier.sent})

    async def set_webhooks(self, request: Request) -> Response:
        body = await _admin_body(request)
        mode = body.get("mode") if isinstance(body, dict) else None
        if mode not in WEBHOOK_MODES:
            return Answer.error(400, f"mode must be one of {', '.join(WEBHOOK_MODES)}"
                                ).response()
        count = body.get("count", 1)
        if not _is_count(count):
            return Answer.error(400, "count must be a non-negative integer").response()
        if self.gateway.notifier is None:
            return Answer.error(409, "no --webhook-url: webhooks are not sent").response()
        self.gateway.notifier.faults = ModeState(mode, None if mode == "ok" else count, 0)
        return await self.get_webhooks(request)

    async def requests(self, request: Request) -> Response:
        return _json({"requests": self.gateway.requests})

    async def reset(self, request: Request) -> Response:
        body = await _admin_body(request)
        mode = body.get("mode", self.gateway.start_mode) if isinstance(body, dict) else None
        if mode not in MODES:
            return Answer.error(400, f"mode must be one of {', '.join(MODES)}").response()
        self.gateway.reset(mode)
        return await self.get_mode(request)


async def _csv_chunks(rows: Iterable[tuple[str, ...]]) -> AsyncIterator[str]:
    """CSV text with ``\n`` line ends, ``REPORT_CHUNK_LINES`` lines per chunk; the event
    loop serves other requests between chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for number, row in enumerate(rows, start=1):
        writer.writerow(row)
        if number % REPORT_CHUNK_LINES == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            await asyncio.sleep(0)
    yield buffer.getvalue()


async def _admin_body(request: Request) -> Any:
    """An admin body: empty means {}, anything unparseable means None."""
    try:
        raw = await request.body()
    except ClientDisconnect:
        return None
    try:
        return parse_json(raw) if raw.strip() else {}
    except ValueError:
        return None


def _is_count(value: Any, allow_none: bool = False) -> bool:
    if value is None:
        return allow_none
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def create_app(
    mode: str = "ok",
    latency_ms: int = DEFAULT_LATENCY_MS,
    seed: int | None = None,
    state_file: str | os.PathLike[str] | None = None,
    api_key: str = DEFAULT_API_KEY,
    verbose: bool = False,
    *,
    count: int = 1,
    protocol: str = "full",
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    webhook_attempts: int = WEBHOOK_ATTEMPTS,
    webhook_backoff_ms: int = round(WEBHOOK_FIRST_BACKOFF_S * 1000),
) -> ASGIApp:
    """The mock gateway as an ASGI app (meant to run under uvicorn)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; one of {', '.join(PROTOCOLS)}")
    if latency_ms < 0 or count < 0:
        raise ValueError("latency_ms and count must not be negative")
    ledger = Ledger(Path(state_file) if state_file is not None else None)
    gateway = Gateway(ModeState(mode, count, latency_ms), seed, ledger, protocol)
    if webhook_url is not None:
        gateway.notifier = Notifier(webhook_url, webhook_secret or "", webhook_attempts,
                                    webhook_backoff_ms / 1000)
    endpoints = Endpoints(gateway, api_key)
    routes = [
        Route("/health", endpoints.health),
        Route("/reports/settlement", endpoints.settlement, methods=["GET"]),
    ]
    if protocol == "stripe":
        routes += [
            Route("/v1/payment_intents", endpoints.create_intent, methods=["POST"]),
            Route("/v1/payment_intents/search", endpoints.search, methods=["GET"]),
            Route("/v1/payment_intents/{intent_id}", endpoints.intent, methods=["GET"]),
            Route("/v1/refunds", endpoints.create_refund, methods=["POST"]),
        ]
    else:
        routes += [
            Route("/payment/process", endpoints.process, methods=["POST"]),
            Route("/payment/status", endpoints.status, methods=["GET"]),
            Route("/payment/refund", endpoints.refund, methods=["POST"]),
        ]
    if protocol != "seed":  # the seed's gateway had no admin API
        routes += [
            Route("/admin/mode", endpoints.get_mode, methods=["GET"]),
            Route("/admin/mode", endpoints.set_mode, methods=["POST"]),
            Route("/admin/charges", endpoints.charges, methods=["GET"]),
            Route("/admin/requests", endpoints.requests, methods=["GET"]),
            Route("/admin/reset", endpoints.reset, methods=["POST"]),
            Route("/admin/webhooks", endpoints.get_webhooks, methods=["GET"]),
            Route("/admin/webhooks", endpoints.set_webhooks, methods=["POST"]),
        ]
    return Outer(Starlette(routes=routes, lifespan=_lifespan(gateway)), gateway, verbose)


def _lifespan(gateway: Gateway) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
    """Stop the webhook sender (if any) when the server stops."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        if gateway.notifier is not None:
            await gateway.notifier.close()

    return lifespan


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Mock card gateway for paycli's tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--mode", choices=MODES, default="ok")
    parser.add_argument(
        "--latency-ms",
        type=_non_negative,
        default=DEFAULT_LATENCY_MS,
        help="default wait for slow and settle time for pending (default %(default)s)",
    )
    parser.add_argument(
        "--count",
        type=_non_negative,
        default=1,
        help="calls the counted modes (flaky, lost-response) act on (default %(default)s)",
    )
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="full",
        help="full (look-up by paymentId, idempotency, admin API), seed (exactly the seed "
        "system's gateway) or stripe (Stripe-shaped PaymentIntents, admin API); default "
        "%(default)s",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for the seed mode's draws")
    parser.add_argument("--state", default=None, help="keep charges in this JSON file")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("PAYCLI_GATEWAY_API_KEY", DEFAULT_API_KEY),
        help="expected X-API-Key (default: $PAYCLI_GATEWAY_API_KEY, else test-api-key)",
    )
    parser.add_argument("--verbose", action="store_true", help="JSON access log on stderr")
    parser.add_argument(
        "--webhook-url", default=None,
        help="send every final outcome there as a signed gateway event (secret: "
        "$PAYCLI_WEBHOOK_SECRET)",
    )
    parser.add_argument(
        "--webhook-attempts", type=_positive, default=WEBHOOK_ATTEMPTS,
        help="tries per webhook delivery before it is given up (default %(default)s)",
    )
    parser.add_argument(
        "--webhook-backoff-ms", type=_non_negative,
        default=round(WEBHOOK_FIRST_BACKOFF_S * 1000),
        help="wait before a delivery's first retry, then doubling up to "
        f"{WEBHOOK_MAX_BACKOFF_S:g} s (default %(default)s)",
    )
    args = parser.parse_args(argv)
    args.webhook_secret = os.environ.get("PAYCLI_WEBHOOK_SECRET")
    if args.webhook_url:
        try:
            webhook_key(args.webhook_secret or "")
        except ValueError:
            args.webhook_secret = None
        if not args.webhook_secret:
            parser.error("--webhook-url needs PAYCLI_WEBHOOK_SECRET (whsec_ and base64)")
    return args


def ready_line(host: str, port: int, mode: str, protocol: str = "full") -> str:
    """The one line the mock prints on stderr once it accepts connections."""
    shown = f"[{host}]" if ":" in host else host
    return f"mock gateway listening on http://{shown}:{port} (mode {mode}, protocol {protocol})"


class AnnouncingServer(uvicorn.Server):
    """uvicorn's server that prints the ready line once its socket accepts connections.

    ``startup`` returns after the listening socket is bound and serving, so the line is
    printed only when a client can connect; a failed bind exits inside it, unannounced.
    """

    def __init__(self, config: uvicorn.Config, mode: str, protocol: str) -> None:
        super().__init__(config)
        self.mode, self.protocol = mode, protocol

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started or self.should_exit:
            return
        port = self.servers[0].sockets[0].getsockname()[1]  # the real one when --port 0
        line = ready_line(str(self.config.host), port, self.mode, self.protocol)
        print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    """Run the mock gateway until SIGINT/SIGTERM."""
    args = parse_args(argv)
    try:
        app = create_app(
            args.mode, args.latency_ms, args.seed, args.state, args.api_key, args.verbose,
            count=args.count, protocol=args.protocol, webhook_url=args.webhook_url,
            webhook_secret=args.webhook_secret, webhook_attempts=args.webhook_attempts,
            webhook_backoff_ms=args.webhook_backoff_ms,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        sys.exit(f"mock_gateway: cannot load state file {args.state}: {exc!r}")
    log_level = "info" if args.verbose else "warning"
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level=log_level,
                            access_log=False)
    server = AnnouncingServer(config, args.mode, args.protocol)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        sys.exit(1)


if __name__ == "__main__":
    main()
