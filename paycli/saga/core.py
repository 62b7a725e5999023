"""What pay, refund and recover share: the environment a saga runs in, its one verdict
type, its outcome, how a step changes a row with its event, and taking over an orphan.

Invariants: every change to a payment or refund goes with its event in the same
transaction (`set_row`), in the shape replay applies as is; a saga is taken over only by
compare-and-set on its owner, and only when that owner's process is gone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from paycli.errors import GatewayConfigError, PaycliError
from paycli.gateway.protocol import Gateway
from paycli.gateway.resilience import Resilience
from paycli.logs import JsonLog
from paycli.records import Payment, Refund
from paycli.results import messages
from paycli.results.messages import Reason
from paycli.results.payments import PayResult, RefundResult
from paycli.saga.owner import owner_alive, this_owner
from paycli.store import Store, Tx


@dataclass(frozen=True)
class Gateways:
    """Several configured gateways, in priority order: how each one's client and its
    retries with its own shared breaker are made (`wiring` builds this from settings)."""

    names: tuple[str, ...]
    client: Callable[[str], Gateway]
    resilience: Callable[[str, Store], Resilience]


class SagaEnv:
    """What a saga runs against: the ledger, the gateway, the breaker, the log.

    `gateway` and `resilience` are those of the environment's gateway, `route` (`default`
    when only one is configured); `at(name)` is the same environment at another configured
    gateway, and `choices` the gateways a new payment may go to, in priority order.
    `resilience(store)` makes the retries and a handle on the shared breaker over the
    ledger connection `store` (this one's, or a worker thread's own)."""

    def __init__(self, store: Store, gateway: Callable[[], Gateway],
                 resilience: Callable[[Store], Resilience], log: JsonLog | None = None, *,
                 gateways: Gateways | None = None, route: str = "default",
                 choices: tuple[str, ...] | None = None) -> None:
        self.store = store
        self._gateway_factory = gateway
        self._resilience_factory = resilience
        self._gateway: Gateway | None = None
        self._resilience: Resilience | None = None
        self.log = log or JsonLog(None)
        self.owner = this_owner()
        self.gateways, self.route = gateways, route
        self.choices = choices or (gateways.names if gateways else (route,))
        self._twins: dict[str, SagaEnv] = {route: self}
        self.breaker_reuse_s = 0.0  # see `Resilience.reuse_breaker_reads`; twins inherit it

    def at(self, name: str) -> SagaEnv:
        """This environment at gateway `name` (made once, closed with this one). With one
        gateway given as an object (tests, the bench), every name is that gateway."""
        if name in self._twins:
            return self._twins[name]
        if self.gateways is None:
            return self
        if name not in self.gateways.names:
            raise GatewayConfigError(
                f"gateway {name!r} is not configured (configured: "
                f"{', '.join(self.gateways.names)}); add it to PAYCLI_GATEWAYS")
        gateways, store = self.gateways, self.store
        twin = SagaEnv(store, gateway=lambda: gateways.client(name),
                       resilience=lambda own: gateways.resilience(name, own), log=self.log,
                       gateways=gateways, route=name, choices=self.choices)
        twin.owner, twin.breaker_reuse_s = self.owner, self.breaker_reuse_s
        self._twins[name] = twin
        return twin

    @property
    def gateway(self) -> Gateway:
        """The gateway client, created on first use."""
        if self._gateway is None:
            self._gateway = self._gateway_factory()
        return self._gateway

    @property
    def opened_gateway(self) -> Gateway | None:
        """The gateway client if it was made (None if nothing asked for it yet)."""
        return self._gateway

    @property
    def resilience(self) -> Resilience:
        """Retries and the shared breaker, created on first use."""
        if self._resilience is None:
            self._resilience = self._resilience_factory(self.store)
            self._resilience.reuse_breaker_reads(self.breaker_reuse_s)
        return self._resilience

    def for_another_thread(self, store: Store | None = None) -> SagaEnv:
        """An environment for a worker thread: the same log and owner, its own retries and
        handle on the shared breaker (which only one thread at a time may use), `store`
        (a connection of its own, so that its reads never queue behind another thread's
        transaction) or this one's, and a gateway client made the same way as this one's:
        its own HTTP client (closed by closing the twin), or the very object this
        environment was handed (see `opened_gateway`)."""
        own = store or self.store
        twin = SagaEnv(own, gateway=self._gateway_factory, resilience=self._resilience_factory,
                       log=self.log, gateways=self.gateways, route=self.route,
                       choices=self.choices)
        twin.owner = self.owner
        return twin

    def close(self) -> None:
        """Close the gateway clients that were opened (this one's and its twins')."""
        for name, twin in list(self._twins.items()):
            if twin is not self:
                twin.close()
            del self._twins[name]
        self._twins[self.route] = self
        if self._gateway is not None:
            self._gateway.close()


class Decision(StrEnum):
    """What the gateway step concluded, for a charge and a refund alike."""

    SUCCEEDED = "succeeded"      # approved; refunded
    REFUSED = "refused"          # declined; refund refused
    UNAVAILABLE = "unavailable"  # nothing happened at the gateway
    UNKNOWN = "unknown"          # it may have: keep the hold (or reservation)


@dataclass(frozen=True)
class Verdict:
    """The gateway step's decision, the gateway's reference, and why it failed if it did:
    an error type and a reason (a code and its domain values; `paycli.results.messages`
    words it), which the books keep as they are."""

    decision: Decision
    gateway_ref: str | None = None
    error_type: str | None = None
    reason: Reason | None = None

    @property
    def detail(self) -> str | None:
        """The reason as the books keep it (the `error_message` column)."""
        return messages.stored(self.reason) if self.reason is not None else None

    @property
    def message(self) -> str | None:
        """The reason in words, for the screen."""
        return messages.render(self.reason) if self.reason is not None else None


@dataclass
class Outcome:
    """A saga's result object (the `--json` output) and its error, if any."""

    result: PayResult | RefundResult
    error: PaycliError | None
    replayed: bool = False  # the stored result of an earlier run with the same key


def unknown(why: Reason, gateway_ref: str | None = None, *, kept: str = "hold",
            finish: str = "recover") -> Verdict:
    """An outcome nobody can tell yet: the money (the `kept` "hold" or "reservation") stays
    where it is until one can; `finish` names what can finish it ("recover", or
    "reconcile" when asking the gateway again cannot help)."""
    return Verdict(Decision.UNKNOWN, gateway_ref, "outcome_unknown",
                   {"code": "outcome_unknown", "why": why, "kept": kept, "finish": finish})


def set_row(tx: Tx, table: str, row_id: str, event: str, changes: dict[str, Any],
            owner: str | bool | None = False, **extra: Any) -> None:
    """Change a payment or refund and append its event (`{"id", "changes", ...extra}`,
    which replay applies as is); `owner`, if given, changes too but is not an event field."""
    row_changes = dict(changes)
    if owner is not False:
        row_changes["owner"] = owner
    tx.update(table, row_id, row_changes)
    tx.append_event(event, row_id, change_event(row_id, changes, **extra))


def change_event(row_id: str, changes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The payload of a change event (`set_row`'s; a billing run's group writes the rows
    of many such changes in one statement, their events one by one)."""
    return {"id": row_id, "changes": changes, **extra}


def set_payment(tx: Tx, payment_id: str, event: str, changes: dict[str, Any],
                owner: str | bool | None = False, **extra: Any) -> None:
    """`set_row` for a payment."""
    set_row(tx, "payments", payment_id, event, changes, owner, **extra)


def set_refund(tx: Tx, refund_id: str, event: str, changes: dict[str, Any],
               owner: str | bool | None = False, **extra: Any) -> None:
    """`set_row` for a refund."""
    set_row(tx, "refunds", refund_id, event, changes, owner, **extra)


def claim_orphan(env: SagaEnv, table: str, row: Payment | Refund) -> bool:
    """Take over a payment or refund unless a live process owns it (compare-and-set)."""
    if row.owner == env.owner:
        return True
    if owner_alive(row.owner):
        return False
    with env.store.transaction(row.id) as tx:
        return tx.claim(table, row.id, row.owner, env.owner)


def read_payment(env: SagaEnv, payment_id: str) -> Payment:
    """A payment that must exist."""
    payment = env.store.read.payment(payment_id)
    assert payment is not None, payment_id
    return payment


def read_refund(env: SagaEnv, refund_id: str) -> Refund:
    """A refund that must exist."""
    found = env.store.read.refund(refund_id)
    assert found is not None, refund_id
    return found
