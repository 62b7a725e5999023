"""The in-process card gateway double, with switchable failure modes, and a saga
environment around it: no network and no waits, for model-based tests and for building
ledgers fast.

`ScriptedGateway` implements the `paycli.gateway.Gateway` protocol without a network. It
records every charge and refund it makes, so tests compare what the ledger believes with
what "the bank" did. Its modes say what the next calls do:

    approve         charge approved at once (refunds: refunded)
    decline         charge declined (refunds: refund_failed)
    fail            `GatewayFailure(sent=False)`: nothing reached the gateway
    hang            `GatewayFailure(sent=True)` (a timeout) and nothing was charged
    lost            the charge (or refund) is made, then `GatewayFailure(sent=True)`
    pending         charge answered `pending`; it settles later (`settle`, or on `status()`
                    after `settle_after` looks; never on its own with `settle_after=None`);
                    refunds behave as in `approve`

A `script` of modes runs first, one per charge or refund (`["lost", "hang"]`: charge and
lose the answer, then time out), before the standing mode. While the mode at hand is
`fail` or `hang`, look-ups (`status`, `find_payment`) fail too, without using it up. With
`lookup=False` the gateway cannot find a charge by paycli's payment id
(`LookupUnsupported`) and lists no refunds in a charge's status but answers a refunded
charge's status as `refunded`, like the seed's gateway.
With `honour_keys=False` it ignores `Idempotency-Key` headers (the seed's gateway did).
`crash_next(after_acting)` makes the next charge or refund raise `Crash`, a BaseException
that no saga code catches, before or after acting: an in-process stand-in for SIGKILL.

The double is permissive on purpose: it charges and refunds whatever it is asked, even an
over-refund, so a bug in paycli shows up in its records instead of being refused here.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from paycli.gateway.protocol import (
    Answer,
    ChargeRequest,
    GatewayFailure,
    LookupUnsupported,
    RefundAnswer,
    RefundRecord,
    Rejected,
)
from paycli.gateway.resilience import Resilience
from paycli.saga.core import SagaEnv
from paycli.store import BreakerStore, Store

MODES = ("approve", "decline", "fail", "hang", "lost", "pending")


class Crash(BaseException):
    """The process "died" in the middle of a gateway call."""


@dataclass
class GatewayCharge:
    """A charge as the gateway holds it."""

    external_id: str
    payment_id: str
    amount: Decimal
    currency: str
    status: str  # approved, pending, declined
    key: str
    looks: int = 0  # status() calls while pending
    refunded: Decimal = Decimal(0)


@dataclass
class GatewayRefund:
    """A refund as the gateway holds it."""

    refund_id: str
    external_id: str
    amount: Decimal
    status: str  # refunded, refund_failed
    key: str


@dataclass
class ScriptedGateway:
    """The gateway double; see the module docstring."""

    mode: str = "approve"
    script: list[str] = field(default_factory=list)
    lookup: bool = True
    honour_keys: bool = True
    settle_after: int | None = 2  # None: a pending charge waits for `settle`
    charges: dict[str, GatewayCharge] = field(default_factory=dict)
    refunds: list[GatewayRefund] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    _crash: bool | None = None  # None: no crash armed; else whether to act first
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _answers: dict[str, Answer | RefundAnswer] = field(default_factory=dict)

    # -- control -------------------------------------------------------------------------

    def set_mode(self, mode: str, script: list[str] | tuple[str, ...] = ()) -> None:
        """Behave as each mode of `script` for one call each, then as `mode`."""
        assert mode in MODES and set(script) <= set(MODES), (mode, script)
        self.mode, self.script = mode, list(script)

    def crash_next(self, after_acting: bool) -> None:
        """Make the next charge or refund raise `Crash`, after acting on it or before."""
        self._crash = after_acting

    def disarm(self) -> None:
        """Forget a crash that was armed but never reached."""
        self._crash = None

    def settle(self, approve: bool = True) -> None:
        """Settle every pending charge, approved or declined."""
        for charge in self.charges.values():
            if charge.status == "pending":
                charge.status = "approved" if approve else "declined"

    def heal(self) -> None:
        """Approve from now on, look charges up and honour keys: a gateway back to normal."""
        self.mode, self.script, self.lookup, self._crash = "approve", [], True, None

    # -- views for the test ----------------------------------------------------------------

    def charges_of(self, payment_id: str) -> list[GatewayCharge]:
        """Every charge made for a payment (the invariant is: at most one)."""
        return [c for c in self.charges.values() if c.payment_id == payment_id]

    def refunded_keys(self) -> Counter[str]:
        """How many successful refunds were made under each idempotency key."""
        return Counter(r.key for r in self.refunds if r.status == "refunded")

    # -- behaviour -------------------------------------------------------------------------

    def _current(self) -> str:
        return self.script.pop(0) if self.script else self.mode

    def _crash_point(self, acted: bool) -> None:
        if self._crash is not None and self._crash == acted:
            self._crash = None
            raise Crash("killed in the middle of a gateway call")

    def _answer(self, charge: GatewayCharge) -> Answer:
        refunds, status = None, charge.status
        if self.lookup:
            refunds = [RefundRecord(refundId=r.refund_id, status=r.status, idempotencyKey=r.key)
                       for r in self.refunds if r.external_id == charge.external_id]
        elif charge.refunded:
            status = "refunded"  # the seed's look-up once any refund went through
        return Answer(externalId=charge.external_id, status=status,  # type: ignore[arg-type]
                      message=status, refunds=refunds)

    def charge(self, request: ChargeRequest) -> Answer | Rejected:
        """`POST /payment/process`."""
        self.calls["charge"] += 1
        self._crash_point(acted=False)
        mode = self._current()
        if mode == "fail":
            raise GatewayFailure("gateway error (HTTP 503)", sent=False)
        if mode == "hang":
            raise GatewayFailure("no answer from the gateway (timed out)", sent=True)
        known = self._answers.get(request.idempotency_key) if self.honour_keys else None
        if isinstance(known, Answer):
            answer = self._answer(self.charges[known.externalId])
        else:
            status = {"decline": "declined", "pending": "pending"}.get(mode, "approved")
            charge = GatewayCharge(f"ext_{next(self._ids)}", request.payment_id,
                                   Decimal(request.amount), request.currency, status,
                                   request.idempotency_key)
            self.charges[charge.external_id] = charge
            answer = self._answer(charge)
            self._answers[request.idempotency_key] = answer
        self._crash_point(acted=True)
        if mode == "lost":
            raise GatewayFailure("no answer from the gateway (the connection closed)", sent=True)
        return answer

    def _lookup_failure(self) -> None:
        """Look-ups fail while the gateway is down (`fail`, `hang`), using up no mode."""
        mode = self.script[0] if self.script else self.mode
        if mode == "fail":
            raise GatewayFailure("gateway error (HTTP 503)", sent=False)
        if mode == "hang":
            raise GatewayFailure("no answer from the gateway (timed out)", sent=True)

    def status(self, external_id: str) -> Answer | None:
        """`GET /payment/status?externalId=`; a pending charge settles after a few looks."""
        self.calls["status"] += 1
        self._lookup_failure()
        charge = self.charges.get(external_id)
        if charge is None:
            return None
        if charge.status == "pending" and self.settle_after is not None:
            charge.looks += 1
            if charge.looks >= self.settle_after:
                charge.status = "approved"
        return self._answer(charge)

    def find_payment(self, payment_id: str) -> Answer | None:
        """`GET /payment/status?paymentId=`, if this gateway offers it."""
        self.calls["find"] += 1
        if not self.lookup:
            raise LookupUnsupported("HTTP 400")
        self._lookup_failure()
        found = self.charges_of(payment_id)
        return self.status(found[-1].external_id) if found else None

    def refund(self, external_id: str, amount: str, reason: str,
               idempotency_key: str) -> RefundAnswer | Rejected:
        """`POST /payment/refund`."""
        self.calls["refund"] += 1
        self._crash_point(acted=False)
        mode = self._current()
        if mode == "fail":
            raise GatewayFailure("gateway error (HTTP 503)", sent=False)
        if mode == "hang":
            raise GatewayFailure("no answer from the gateway (timed out)", sent=True)
        charge = self.charges.get(external_id)
        if charge is None:
            return Rejected(404, f"unknown externalId {external_id}")
        known = self._answers.get(idempotency_key) if self.honour_keys else None
        if isinstance(known, RefundAnswer):
            answer = known
        else:
            status = "refund_failed" if mode == "decline" else "refunded"
            record = GatewayRefund(f"rf_{next(self._ids)}", external_id, Decimal(amount),
                                   status, idempotency_key)
            self.refunds.append(record)
            if status == "refunded":
                charge.refunded += record.amount
            answer = RefundAnswer(externalId=external_id, status=status,  # type: ignore[arg-type]
                                  message=status, refundId=record.refund_id)
            self._answers[idempotency_key] = answer
        self._crash_point(acted=True)
        if mode == "lost":
            raise GatewayFailure("no answer from the gateway (the connection closed)", sent=True)
        return answer

    def settlement_report(self) -> list[str]:
        """The settlement report's lines (the full protocol's forms): every charge, then
        every refund, as the mock gateway's `GET /reports/settlement` writes them."""
        at = "2026-11-29T00:00:00.000Z"
        lines = ["external_id,payment_id,type,status,amount,currency,created_at\n"]
        for charge in self.charges.values():
            lines.append(f"{charge.external_id},{charge.payment_id},charge,{charge.status},"
                         f"{charge.amount},{charge.currency},{at}\n")
        for record in self.refunds:
            charge = self.charges[record.external_id]
            lines.append(f"{record.refund_id},{charge.payment_id},refund,{record.status},"
                         f"{record.amount},{charge.currency},{at}\n")
        return lines

    def close(self) -> None:
        """Nothing to close."""


def saga_env(store: Store, gateway: ScriptedGateway, attempts: int = 2) -> SagaEnv:
    """A saga environment on `store` with `gateway`: a breaker that never opens, `attempts`
    tries per call and no backoff."""
    return SagaEnv(store, gateway=lambda: gateway, resilience=lambda on: Resilience(
        BreakerStore(on), failures=1000, reset_s=30.0, attempts=attempts,
        attempt_timeout_s=1.0, backoff_s=0.0, max_backoff_s=0.0))
