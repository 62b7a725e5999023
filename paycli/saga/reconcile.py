"""`reconcile`: the ledger against the gateway's settlement report, and `--apply`.

    read     the report, line by line, into a spool on disk sorted by payment id
             (`ledger.report`; a malformed line stops the run before anything is settled)
    compare  the ledger's payments and refunds against it (`ledger.reconcile`), keeping
             every break in the spool; and the webhooks `listen` kept as breaks (an
             event that contradicted a final state), listed beside them
    apply    (with `--apply`) settle each `resolvable` break through the one settle path
             (`settle`): a PROCESSING payment posts or voids its hold, a PROCESSING refund
             credits the wallet or releases its reservation; the settle event cites the
             report line (`reconciliation`: source, line, external_id, gateway_status)

Invariants: only PROCESSING payments and refunds are settled, and only to the final outcome
the report states (`require=PROCESSING`, checked inside the settling transaction), so a
final state is never changed and a second run settles nothing; one settled meanwhile by
someone else is compared again, not overwritten, and counted `settled_elsewhere`, never
`resolved`: the run reports only what its own commits settled. Memory stays flat
whatever the report's size: lines, findings and what was settled live in the spool, not
in lists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from paycli.errors import RefusedInState
from paycli.ledger import reconcile as ledger
from paycli.ledger.report import read_report
from paycli.records import BreakKind, PaymentStatus, RefundStatus
from paycli.results.reconcile import (
    ReconcileBreak,
    ReconcileReport,
    ReconcileResolved,
    WebhookBreak,
)
from paycli.saga.core import Decision, SagaEnv, Verdict
from paycli.saga.settle import settle_payment, settle_refund
from paycli.store.inbound import webhook_breaks
from paycli.store.spool import RESOLVED, ReportSpool

CHARGE_VERDICTS = {"approved": Decision.SUCCEEDED, "refunded": Decision.SUCCEEDED,
                   "declined": Decision.REFUSED}
REFUND_VERDICTS = {"refunded": Decision.SUCCEEDED, "refund_failed": Decision.REFUSED}
Namer = Callable[[ReconcileBreak], ReconcileBreak]  # names a break's gateway


@dataclass
class Reconciliation:
    """One run's outcome; its findings stay in `spool` until it is closed."""

    source: str
    lines: int
    applied: bool
    matched: int
    spool: ReportSpool[ReconcileBreak, ReconcileResolved]
    settled_elsewhere: int = 0  # resolvable breaks another process settled meanwhile
    webhook_breaks: list[WebhookBreak] = field(default_factory=list)  # kept by `listen`

    def counts(self) -> dict[str, int]:
        """The breaks left, by kind."""
        return {kind: count for kind, count in sorted(self.spool.counts().items())
                if kind != RESOLVED}

    @property
    def breaks_left(self) -> int:
        """How many breaks are left."""
        return sum(self.counts().values())

    def report(self, limit: int = -1) -> ReconcileReport:
        """The contract's object, with at most `limit` breaks and resolutions (all: -1)."""
        return ReconcileReport(
            source=self.source, lines=self.lines, applied=self.applied, matched=self.matched,
            resolved=list(self.spool.resolved(limit)), breaks=list(self.spool.breaks(None, limit)),
            counts=self.counts(), settled_elsewhere=self.settled_elsewhere,
            webhook_breaks=self.webhook_breaks)

    def close(self) -> None:
        """Remove the spool."""
        self.spool.close()


def reconcile(env: SagaEnv, text_lines: Iterable[str], source: str, apply: bool,
              name: Namer | None = None, only: str | None = None) -> Reconciliation:
    """Compare the ledger with the report in `text_lines` (named `source` in errors and
    events), and with `apply` settle what the report resolves. Close the result. `only`
    compares only the payments of that gateway; `name` names each break's gateway."""
    spool = ReportSpool(ReconcileBreak.model_validate_json,
                        ReconcileResolved.model_validate_json)
    try:
        count = spool.add_lines(read_report(text_lines, source))
        matched = _compare(env, spool, name, only)
        run = Reconciliation(source, count, apply, matched, spool)
        if apply:
            agreed, run.settled_elsewhere = _apply(env, spool, source)
            run.matched += agreed
        run.webhook_breaks = [WebhookBreak(
            webhook_id=found.id, type=found.type, entity_id=found.entity_id,
            ledger_status=found.ledger_status, gateway_status=found.gateway_status,
            received_at=found.received_at) for found in webhook_breaks(env.store.read)]
    except BaseException:
        spool.close()
        raise
    return run


def _compare(env: SagaEnv, spool: ReportSpool[ReconcileBreak, ReconcileResolved],
             name: Namer | None = None, only: str | None = None) -> int:
    """Compare, keeping the breaks in the spool; returns how many agree."""
    matched = 0
    payments = env.store.read.payments_with_refunds()
    if only is not None:
        payments = ((payment, refunds) for payment, refunds in payments
                    if payment.gateway == only)

    def breaks() -> Iterable[ReconcileBreak]:
        nonlocal matched
        for found in ledger.compare(payments, spool.lines_by_payment()):
            if found.kind is None:
                matched += 1
            else:
                yield found.as_break() if name is None else name(found.as_break())

    spool.add_breaks(breaks())
    return matched


def _apply(env: SagaEnv, spool: ReportSpool[ReconcileBreak, ReconcileResolved], source: str
           ) -> tuple[int, int]:
    """Settle every resolvable break; returns how many turned out already matched, and
    how many another process settled meanwhile."""
    agreed = elsewhere = 0
    for seq, found in spool.resolvable():
        cited = {"source": source, "line": found.line, "external_id": found.external_id,
                 "gateway_status": found.gateway_status}
        if found.gateway is not None:
            cited["gateway"] = found.gateway
        try:
            status = _settle(env, found, cited)
        except RefusedInState:
            elsewhere += 1
            again = _compared_again(env, found)
            if again is None:
                agreed += 1
                spool.forget(seq)
            else:
                spool.replace(seq, again)
            continue
        assert found.payment_id is not None and found.line is not None
        spool.mark_resolved(seq, ReconcileResolved(
            payment_id=found.payment_id, refund_id=found.refund_id, status=status,
            line=found.line))
    return agreed, elsewhere


def _settle(env: SagaEnv, found: ReconcileBreak, cited: dict[str, Any]) -> str:
    """Settle one resolvable break as its report line says; the status it ends in."""
    gateway = str(found.gateway_status)
    where = {"source": cited["source"], "line": found.line}
    if found.refund_id is not None:
        decision = REFUND_VERDICTS[gateway]
        verdict = (Verdict(decision, found.external_id) if decision == Decision.SUCCEEDED
                   else Verdict(decision, None, "refund_refused",
                                {"code": "refund_failed_in_report", **where}))
        return settle_refund(env, found.refund_id, verdict, [],
                             require=RefundStatus.PROCESSING, reconciliation=cited).status
    assert found.payment_id is not None
    decision = CHARGE_VERDICTS[gateway]
    verdict = (Verdict(decision, found.external_id) if decision == Decision.SUCCEEDED
               else Verdict(decision, found.external_id, "declined",
                            {"code": "declined_in_report", **where}))
    return settle_payment(env, found.payment_id, verdict, [],
                          require=PaymentStatus.PROCESSING, reconciliation=cited).status


def _compared_again(env: SagaEnv, found: ReconcileBreak) -> ReconcileBreak | None:
    """A resolvable break someone else settled meanwhile: None if it now agrees with the
    report, else the status mismatch it has become."""
    status: str | None
    if found.refund_id is not None:
        refund = env.store.read.refund(found.refund_id)
        status = refund.status if refund else None
        agrees = (status, found.gateway_status) in (
            (RefundStatus.COMPLETED, "refunded"), (RefundStatus.FAILED, "refund_failed"))
    else:
        payment = env.store.read.payment(str(found.payment_id))
        status = payment.status if payment else None
        agrees = (status in ledger.DONE_PAYMENT and found.gateway_status in ledger.TOOK_MONEY
                  ) or (status == PaymentStatus.FAILED and found.gateway_status == "declined")
    if agrees:
        return None
    return found.model_copy(update={"kind": BreakKind.STATUS_MISMATCH,
                                    "ledger_status": status})
