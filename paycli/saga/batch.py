"""The billing run's engine: many payments with exactly the single saga's guarantees, at a
fraction of its commits (group commit).

    open    up to `group` rows in ONE transaction (`group.Opening`, the very opening
            `pay` runs for a group of one; one statement per table). For each: its key
            (`order:ORDER_ID`, as `pay --order-id`) looked up: a row already done is
            skipped; one a killed run left PROCESSING is taken over, settled by what the
            gateway says of its charge, or charged now if the gateway shows none; funds
            and limits checked in row order (a refused row writes nothing); then the
            payment created, its funds held and it marked PROCESSING: the saga's
            CheckWalletBalance, CreatePayment and ReserveFunds.
    charge  each payment of the group charged, by `concurrency` threads, each with its own
            HTTP client and keep-alive connection, ledger connection and handle on the
            shared breaker (retries, the payment's own idempotency key); never before its
            group's commit. A charge answered `pending` (its reference stored) frees its
            thread: all of them are asked about together, once a second, once the file is
            done, for up to `wait_s`.
    settle  whatever charges have finished, settled together in ONE transaction through
            the one settle path (`settle.settle_payments_in`, one statement per table); a
            slow charge holds up nobody but itself.

So a payment costs three commits shared with its group instead of four of its own, and the
gateway sees up to `concurrency` charges at once.

Invariants: every step is durable before anything that depends on it happens, as in the
single saga: a charge leaves only once its payment and hold are committed, a hold is
released only by a settle; a kill -9 at any instant leaves payments PROCESSING (their
owner dead), which running the same file again finishes, asking the gateway, so nothing is
charged twice and nothing is lost. Memory is bounded by the rows in flight, whatever the
file's size.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from paycli.errors import OutcomeUnknown, UsageError
from paycli.ledger.batchfile import BatchRow, Row, RowProblem
from paycli.records import Payment, PaymentStatus, StepStatus
from paycli.saga import calls, lookups, recover, routing
from paycli.saga.batchrows import RowOutcome, ended, opening_steps, step_record
from paycli.saga.core import (
    Decision,
    SagaEnv,
    Verdict,
    claim_orphan,
    read_payment,
    unknown,
)
from paycli.saga.group import PayRequest, open_group
from paycli.saga.presses import Presses
from paycli.saga.settle import settle_payments_in
from paycli.saga.steps import SilentReporter, Steps
from paycli.store import Store

POLL_EVERY_S = 1.0  # how often pending charges are asked about, all at once
SETTLE_LINGER_S = 0.005  # after one charge ends, how long to gather others to settle with it
POLL_S = 0.005  # how often a wait for charges looks at them again
BREAKER_REUSE_S = 0.05  # a charging thread's read of the shared breaker, reused this long


@dataclass
class _Charge:
    """A payment of an open group, on its way to the gateway."""

    row: BatchRow
    payment: Payment
    opening: list[dict[str, Any]]  # its opening steps: the group's, shared out
    polled: bool = False  # asked for the last time: whatever it is now, it is settled
    ours: bool = True  # opened by this run (not taken over): however it settles, it is ours


@dataclass(frozen=True)
class BatchOptions:
    """How a run goes: charges in flight, rows per group, how long to wait for a pending
    charge."""

    concurrency: int = 8
    group: int = 256
    wait_s: float = 30.0
    retry_failed: bool = False  # a new attempt for a row whose order's every attempt FAILED


class Batch:
    """One billing run over `env`'s ledger and gateway; `on_row` hears every row's end."""

    def __init__(self, env: SagaEnv, batch_id: str, options: BatchOptions,
                 on_row: Callable[[RowOutcome], None],
                 on_interrupt: Callable[[int, int, int], None] | None = None) -> None:
        self.env, self.batch_id, self.options, self.on_row = env, batch_id, options, on_row
        self.on_interrupt = on_interrupt  # told (press, charges waited for, rows unsent)
        self.presses = Presses()
        self.window = max(options.group, 4 * options.concurrency)
        self.pending: list[_Charge] = []  # charged, answered `pending`: polled at the end
        self._local = threading.local()
        self._lock = threading.Lock()
        self._stores: list[Store] = []
        self._twins: list[SagaEnv] = []

    def _thread_env(self) -> SagaEnv:
        """This thread's environment (see `SagaEnv.for_another_thread`), on a connection
        of its own (its breaker reads never wait for a group's transaction), with a
        gateway client of its own."""
        env: SagaEnv | None = getattr(self._local, "env", None)
        if env is None:
            store = Store(self.env.store.path, actor=self.env.store.actor)
            env = self._local.env = self.env.for_another_thread(store)
            env.breaker_reuse_s = BREAKER_REUSE_S
            with self._lock:
                self._stores.append(store)
                self._twins.append(env)
        return env

    def run(self, rows: Iterable[Row]) -> None:
        """Pay every row (see the module docstring); returns once each has ended. Ctrl-C
        (`presses`): no row is opened and no charge sent after it, the charges already
        at the gateway are waited for and settled, then KeyboardInterrupt; a second press
        stops the wait (they stay PROCESSING)."""
        shared = self.env.gateway  # a gateway handed in as an object is every thread's
        try:
            with self.presses, ThreadPoolExecutor(
                    self.options.concurrency, "paycli-charge") as pool:
                try:
                    self._pipelined(iter(rows), pool)
                    if not self.presses.count:
                        self._poll_pending(pool)
                    self._leave(self.pending, "while its charge was pending")
                except KeyboardInterrupt:  # what is queued is never sent
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
            if self.presses.count:
                raise KeyboardInterrupt
        finally:
            for twin in self._twins:
                if twin.opened_gateway not in (None, shared):
                    twin.close()  # the client it made for itself
            for store in self._stores:
                store.close()

    def _pipelined(self, source: Iterator[Row], pool: ThreadPoolExecutor) -> None:
        """Open groups while there is room in the window, settle charges as they end."""
        in_flight: dict[Future[tuple[Verdict, list[dict[str, Any]]]], _Charge] = {}
        exhausted = False
        try:
            while not exhausted or in_flight:
                if self.presses.count:
                    self._stop(in_flight)
                    return
                room = self.window - len(in_flight)
                if not exhausted and room >= min(self.options.group, self.window // 2):
                    group = list(itertools.islice(source, min(room, self.options.group)))
                    exhausted = not group
                    for charge in self._open(group):
                        in_flight[self._send(charge, pool)] = charge
                    continue
                self._settle(self._finished(in_flight))
        except KeyboardInterrupt:
            self._leave(list(in_flight.values()), "while its charge was at the gateway")
            raise

    def _stop(self, in_flight: dict[Future[Any], _Charge]) -> None:
        """The first Ctrl-C: charges not yet sent never are (their rows stay PROCESSING,
        funds held, for the next run of the file to charge); those at the gateway are
        waited for and settled, unless Ctrl-C is pressed again."""
        unsent = [in_flight.pop(future) for future in list(in_flight) if future.cancel()]
        self._tell(1, len(in_flight), len(unsent))
        self._leave(unsent, "before its charge was sent")
        while in_flight and self.presses.count < 2:
            self._settle(self._finished(in_flight, every=True))
        if in_flight:
            self._tell(2, len(in_flight), 0)
            self._leave(list(in_flight.values()), "while its charge was at the gateway")
            in_flight.clear()

    def _tell(self, press: int, at_gateway: int, unsent: int) -> None:  # see `on_interrupt`
        if self.on_interrupt is not None:
            self.on_interrupt(press, at_gateway, unsent)

    def _leave(self, charges: list[_Charge], why: str) -> None:
        """Rows a stopped run leaves unfinished: unknown, each saying what finishes it."""
        for charge in sorted(charges, key=lambda charge: charge.row.line):
            self.on_row(RowOutcome(
                charge.row.line, charge.row.order_id, "unknown", OutcomeUnknown(
                    f"interrupted {why}: {charge.payment.id} is PROCESSING, funds held"),
                charge.row.raw, charge.payment.id))
        charges.clear()

    def _finished(self, in_flight: dict[Future[Any], _Charge], every: bool = False
                  ) -> list[tuple[_Charge, Any]]:
        """Charges that have ended (all of them if `every`, unless Ctrl-C is pressed
        meanwhile), taken out of `in_flight`: after the first, a moment's wait gathers
        more, so that one transaction settles many. It looks at each in turn
        (`Future.done`) rather than blocking in `concurrent.futures.wait`, so that a
        press is seen within `POLL_S`."""
        presses = self.presses.count
        give_up = time.monotonic() + 1.0
        while True:
            done = [future for future in in_flight if future.done()]
            if (len(done) == len(in_flight) or self.presses.count != presses
                    or (not every and (done or time.monotonic() >= give_up))):
                break
            time.sleep(POLL_S)
        if done and not every and len(done) < len(in_flight) // 2:
            time.sleep(SETTLE_LINGER_S)
            done = [future for future in in_flight if future.done()]
        return [(in_flight.pop(future), future.result()) for future in done]

    # -- open ----------------------------------------------------------------------------

    def _open(self, group: list[Row]) -> list[_Charge]:
        """One transaction for the group's new payments (`group.Opening`); the rest
        end at once."""
        started = time.perf_counter()
        opened: list[_Charge] = []
        ended: list[RowOutcome] = []
        earlier: list[tuple[BatchRow, str]] = []
        rows = [row for row in group if isinstance(row, BatchRow)]
        for row in group:
            if isinstance(row, RowProblem):
                ended.append(RowOutcome(row.line, row.order_id, "failed",
                                        UsageError(row.message), row.raw))
        if rows:
            with self.env.store.transaction(f"batch:{self.batch_id}") as tx:
                opening = open_group(tx, [PayRequest(user=row.user, money=row.money,
                                                     order_id=row.order_id,
                                                     retry=self.options.retry_failed)
                                          for row in rows], self.env.owner,
                                     batch=self.batch_id, gateway=routing.choose(self.env))
            steps = opening_steps(opening, started)
            for row, result in zip(rows, opening.opened(), strict=True):
                if isinstance(result, Payment):
                    opened.append(_Charge(row, result, steps))
                elif isinstance(result, str):
                    earlier.append((row, result))
                else:
                    ended.append(RowOutcome(row.line, row.order_id, "failed", result, row.raw))
        for outcome in sorted(ended, key=lambda outcome: outcome.line):
            self.on_row(outcome)
        for row, payment_id in earlier:
            resumed = self._resume(row, payment_id)
            if resumed is not None:
                opened.append(resumed)
        return opened

    def _resume(self, row: BatchRow, payment_id: str) -> _Charge | None:
        """A row an earlier run paid: skipped if it completed, failed (with its reason) if
        its order's latest attempt FAILED. One that run left PROCESSING (it died) is taken
        over: settled by what the gateway says of its charge, or, if the gateway shows
        none, charged now (with its stored idempotency key); the charge to make, if any.
        Only what this run's own commits settle counts as this run's."""
        payment = read_payment(self.env, payment_id)
        if payment.is_final:
            self.on_row(ended(row, payment, here=False))
            return None
        if payment.status != PaymentStatus.PROCESSING or not claim_orphan(
                self.env, "payments", payment):
            # PENDING, or another live owner's (another run of the file): waited for
            where, _ = recover.recover_payment(self.env, payment)
            self.on_row(ended(row, read_payment(self.env, payment_id),
                              here=where == "resolved"))
            return None
        charge = _Charge(row, read_payment(self.env, payment_id), [], ours=False)
        verdict = lookups.ask_about_payment(self.env, charge.payment)
        if verdict.error_type == lookups.NOT_CHARGED:
            return charge  # the gateway never got it: charge it as if new
        self._settle([(charge, (verdict, [step_record("ProcessPayment")]))])
        return None

    # -- charge --------------------------------------------------------------------------

    def _send(self, charge: _Charge, pool: ThreadPoolExecutor
              ) -> Future[tuple[Verdict, list[dict[str, Any]]]]:
        """Charge on a worker thread; or at once, here, with a gateway that answers within
        the process (`answers_at_once`): a thread would only add hand-overs to it."""
        if not getattr(self.env.gateway, "answers_at_once", False):
            return pool.submit(self._charge, charge)
        done: Future[tuple[Verdict, list[dict[str, Any]]]] = Future()
        done.set_result(self._charge(charge))
        return done

    def _charge(self, charge: _Charge) -> tuple[Verdict, list[dict[str, Any]]]:
        """Charge one payment (in a worker thread); its verdict and step records."""
        steps = Steps(SilentReporter(), self.env.log, charge.payment.id)
        try:
            with steps.run("ProcessPayment") as step:
                verdict = calls.charge(self._thread_env(), charge.payment, step, 0.0)
                if verdict.decision != Decision.SUCCEEDED:
                    step.update.status = (StepStatus.PENDING if verdict.decision ==
                                          Decision.UNKNOWN else StepStatus.FAILED)
        except Exception as exc:  # a bug must not lose a payment that may have been charged
            verdict = unknown({"code": "unexpected_error", "error": repr(exc)})
        return verdict, steps.records

    # -- settle --------------------------------------------------------------------------

    def _settle(self, finished: list[tuple[_Charge, tuple[Verdict, list[dict[str, Any]]]]]
                ) -> None:
        """Settle finished charges together, in one transaction."""
        if not finished:
            return
        outcomes = []
        here: set[str] = set()  # what this commit settled (not another process meanwhile)
        with self.env.store.transaction(f"batch:{self.batch_id}") as tx:
            settled = settle_payments_in(tx, [
                (charge.payment.id, verdict,
                 [*charge.opening, *records, step_record("SettlePayment")])
                for charge, (verdict, records) in finished], settled_here=here)
        for charge, _ in finished:
            payment = settled[charge.payment.id]
            if not payment.is_final and payment.gateway_ref and not charge.polled:
                charge.payment = payment
                self.pending.append(charge)  # pending at the gateway: asked again later
            else:
                outcomes.append(ended(charge.row, payment,
                                      here=charge.ours or payment.id in here))
        for outcome in outcomes:
            self.on_row(outcome)

    def _poll_pending(self, pool: ThreadPoolExecutor) -> None:
        """Ask the gateway about every charge it answered `pending`, all together, about
        once a second, settling those that have settled, until `wait_s` is over; those
        still pending then stay PROCESSING (unknown), their funds held."""
        deadline = time.monotonic() + self.options.wait_s
        while self.pending:
            if self.presses.count:
                self._tell(1, 0, 0)  # those pending stay PROCESSING (`run`)
                return
            asking, self.pending = self._unsettled(self.pending), []
            answers = list(pool.map(self._ask, asking))
            decided = [(charge, answer) for charge, answer in zip(asking, answers, strict=True)
                       if answer[0].decision != Decision.UNKNOWN]
            for done, _ in decided:
                done.polled = True
            self._settle(decided)
            still = [charge for charge in asking if not charge.polled]
            if time.monotonic() >= deadline:
                for left in still:
                    self.on_row(ended(left.row, read_payment(self.env, left.payment.id),
                                      here=False))
                return
            self.pending = still
            self._nap(min(POLL_EVERY_S, max(deadline - time.monotonic(), 0.0)))

    def _unsettled(self, charges: list[_Charge]) -> list[_Charge]:
        """The charges whose payments are still PROCESSING in the ledger; a row settled
        meanwhile by another process (`listen`, from the gateway's webhook) ends as the
        ledger has it, without a question to the gateway."""
        found = self.env.store.read.payments_by_id([charge.payment.id for charge in charges])
        for charge in charges:
            if found[charge.payment.id].is_final:
                self.on_row(ended(charge.row, found[charge.payment.id], here=charge.ours))
        return [charge for charge in charges if not found[charge.payment.id].is_final]

    def _nap(self, seconds: float) -> None:
        """Sleep, but wake at a Ctrl-C."""
        until, presses = time.monotonic() + seconds, self.presses.count
        while time.monotonic() < until and self.presses.count == presses:
            time.sleep(POLL_S * 10)

    def _ask(self, charge: _Charge) -> tuple[Verdict, list[dict[str, Any]]]:
        """What the gateway now says of a pending charge (in a worker thread)."""
        verdict = lookups.ask_about_payment(self._thread_env(), charge.payment)
        return verdict, [step_record("ProcessPayment")]
