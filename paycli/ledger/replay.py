"""`paycli replay-events`: rebuild the ledger from its event log alone, and compare.

One streaming pass over the log (constant memory: events are fetched in batches) both
verifies the hash chain (`events.verify_chain`) and applies each event to a fresh
in-memory database (`replay_store`): every account's balance and holds, every transfer's
state, every payment's and refund's saga state. The rebuilt state is then compared with the
stored tables, by SQL, inside the same read snapshot.

The copies a replay proves live here too: `backup` (a SQLite ledger copied by the store
while others write) and `copy_and_verify` (`db copy`, into an empty ledger of either
engine) report success only once the copy replays consistently and its chain verifies.

Invariants:
- The stored ledger is only read (attached read-only); nothing is ever repaired.
- Every finding is reported, never just the first: each mismatch as
  `{entity, id, field, stored, replayed}` (amounts as exact decimal strings), plus the
  first broken link of the hash chain by sequence number.
- An entity present on one side only is one mismatch with field `row` and the values
  `present` / `absent`. An event the replay cannot apply (malformed, unknown type, or not
  fitting the state rebuilt so far) is a mismatch of entity `event`, id its sequence
  number, field `apply`, `stored` its type and entity, `replayed` why it was refused.
- The hourly summary rows `stats` reads are compared with a grouping of the stored
  payments (themselves compared with the replayed ones): a summary row that is wrong is
  a mismatch of entity `payment_hour` or `charge_hour`.
- `consistent` is True only when no mismatch was found; `chain_ok` only when the chain
  holds from the first event to the last.
- A backup that does not replay is removed and never published; a copy's source is never
  written, and a target that holds anything is refused before anything is written to it.

How each event type rebuilds state (payloads as documented in `postings` and the sagas):

    transfer.posted     credit: funding -> wallet; refund: clearing -> wallet; posted
    transfer.held       wallet holds += amount; a pending payment transfer wallet -> clearing
    transfer.committed  the pending transfer posts: the money moves, the hold goes
    transfer.voided     the pending transfer is voided: the hold goes
    payment.created     a PENDING payment; refund.created: a PENDING refund that starts
                        with its payment's gateway reference
    payment.* refund.*  `changes` applied to the row's columns; a settle event's
                        charge step also gives the payment its `charge_ms`, `charged_at`
    webhook.*           merchant endpoints and deliveries: checked to name their entity,
                        nothing rebuilt (bookkeeping of notifications moves no money)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from paycli.errors import LedgerVerificationFailed
from paycli.ledger.chain import ChainBreak, verify_chain
from paycli.money import format_minor
from paycli.records import Event
from paycli.results.replay import (
    BackupResult,
    ChainBreakInfo,
    DbCopyResult,
    Mismatch,
    ReplayReport,
)
from paycli.store import Store
from paycli.store.backup import private_copy, publish
from paycli.store.comparisons import COMPARISONS, Difference
from paycli.store.copy import copy_ledger
from paycli.store.replay import NotApplicable, ReplayStore
from paycli.store.stats import SETTLE_EVENTS, charge_ms

AMOUNT_FIELDS = frozenset({"balance", "held", "amount", "refunded", "refund_reserved"})
PROGRESS_EVERY = 5000
WEBHOOK = "webhook."  # endpoints and deliveries: recorded, not rebuilt

Progress = Callable[[int, int], None]  # (events done, events in the log)


def replay_events(store: Store, progress: Progress | None = None) -> ReplayReport:
    """Replay the ledger's event log and compare; the contract's `replay-events` object.

    A ledger file is read through its own read-only connection; a PostgreSQL ledger
    through `store`'s, in one read-only snapshot.
    """
    with ReplayStore(store) as replay, replay.snapshot():
        total = replay.event_count()
        refused: list[dict[str, Any]] = []
        applied = _applying(replay, replay.events(), refused, total, progress)
        count, chain_break = verify_chain(applied)
        replay.derive_accounts()
        differences = [*(difference for comparison in COMPARISONS
                         for difference in replay.differences(comparison)),
                       *replay.summary_differences()]
        mismatches = refused + [m for difference in differences
                                for m in mismatches_of(difference)]
    return ReplayReport(
        events=count, chain_ok=chain_break is None, consistent=not mismatches,
        mismatches=[Mismatch.model_validate(found) for found in mismatches],
        chain_break=_break(chain_break),
    )


def _break(chain_break: ChainBreak | None) -> ChainBreakInfo | None:
    if chain_break is None:
        return None
    return ChainBreakInfo(seq=chain_break.seq, reason=chain_break.reason)


def _applying(replay: ReplayStore, events: Iterator[Event], refused: list[dict[str, Any]],
              total: int, progress: Progress | None) -> Iterator[Event]:
    """Pass the events on to the chain check, applying each to the replay on the way."""
    done = 0
    for event in events:
        try:
            apply(replay, event)
        except NotApplicable as exc:
            refused.append(_refusal(event, str(exc)))
        done += 1
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(done, total)
        yield event
    if progress is not None:
        progress(done, total)


def _refusal(event: Event, reason: str) -> dict[str, Any]:
    return {"entity": "event", "id": str(event.seq), "field": "apply",
            "stored": f"{event.type} {event.entity_id}", "replayed": f"not applied: {reason}"}


def apply(replay: ReplayStore, event: Event) -> None:
    """Apply one event to the replayed state; `NotApplicable` if it does not fit."""
    try:
        payload = json.loads(event.payload)
        handler = _HANDLERS.get(event.type)
        if event.type.startswith(WEBHOOK):
            _webhook(payload)
        elif handler is not None:
            handler(replay, payload)
        else:
            replay.change(_changed_table(event.type), payload["id"], payload["changes"])
            took = charge_ms(payload.get("steps")) if event.type in SETTLE_EVENTS else None
            if took is not None:
                replay.charged(payload["id"], took, event.at)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise NotApplicable(f"malformed payload ({type(exc).__name__}: {exc})") from None


def _webhook(p: dict[str, Any]) -> None:
    """Webhook bookkeeping moves no money and is not rebuilt (see `store.tables`): its
    event only has to name what it is about."""
    if not isinstance(p["id"], str):
        raise NotApplicable(f"a webhook event about {p['id']!r}")


def _changed_table(event_type: str) -> str:
    """The table a `payment.*` or `refund.*` change event is about."""
    table = {"payment": "payments", "refund": "refunds"}.get(event_type.partition(".")[0])
    if table is None:
        raise NotApplicable(f"unknown event type {event_type!r}")
    return table


def _posted(replay: ReplayStore, p: dict[str, Any]) -> None:
    source = {"credit": "funding", "refund": "clearing"}.get(p["kind"])
    if source is None:
        raise NotApplicable(f"a posted transfer of kind {p['kind']!r}")
    replay.add_transfer(p["id"], p["kind"], "posted", p["amount"], p["currency"],
                        (source, ""), ("wallet", p["user"]))


def _held(replay: ReplayStore, p: dict[str, Any]) -> None:
    replay.add_transfer(p["id"], p["kind"], "pending", p["amount"], p["currency"],
                        ("wallet", p["user"]), ("clearing", ""))


def _committed(replay: ReplayStore, p: dict[str, Any]) -> None:
    replay.resolve_transfer(p["id"], "posted")


def _voided(replay: ReplayStore, p: dict[str, Any]) -> None:
    replay.resolve_transfer(p["id"], "voided")


def _payment_created(replay: ReplayStore, p: dict[str, Any]) -> None:
    replay.add_payment(p["id"], p["user"], p["currency"], p["amount"],
                       p.get("gateway", "default"))  # events before v9 name no gateway


def _refund_created(replay: ReplayStore, p: dict[str, Any]) -> None:
    replay.add_refund(p["id"], p["payment_id"], p["currency"], p["amount"])


def _limits_set(replay: ReplayStore, p: dict[str, Any]) -> None:
    replay.set_limits(p["scope"], p["currency"], p["max_amount"], p["daily_amount"],
                      p["daily_count"])


_HANDLERS: dict[str, Callable[[ReplayStore, dict[str, Any]], None]] = {
    "limits.set": _limits_set,
    "transfer.posted": _posted,
    "transfer.held": _held,
    "transfer.committed": _committed,
    "transfer.voided": _voided,
    "payment.created": _payment_created,
    "refund.created": _refund_created,
}


def mismatches_of(difference: Difference) -> list[dict[str, Any]]:
    """The contract's mismatch objects for one entity that differs."""
    key = _shown_key(difference)
    stored, replayed = difference.stored, difference.replayed
    if stored is None or replayed is None:
        return [{"entity": difference.entity, "id": key, "field": "row",
                 "stored": "present" if stored else "absent",
                 "replayed": "present" if replayed else "absent"}]
    return [
        {"entity": difference.entity, "id": key, "field": field,
         "stored": _value(field, stored), "replayed": _value(field, replayed)}
        for field in stored
        if stored[field] != replayed[field]
    ]


def _shown_key(difference: Difference) -> str:
    """An account as `kind:user:currency` (`kind:currency` if external), else its id."""
    return ":".join(str(part) for part in difference.key if part != "")


def _value(field: str, row: dict[str, Any]) -> Any:
    value = row[field]
    if field in AMOUNT_FIELDS and isinstance(value, int):
        try:
            return format_minor(value, str(row["currency"]))
        except ValueError:
            return str(value)
    return value


def summary(result: ReplayReport) -> str:
    """One line saying what a replay found."""
    findings = []
    if result.mismatches:
        count = len(result.mismatches)
        findings.append(f"{count} mismatch{'es' if count != 1 else ''} between the stored "
                        "tables and the event log")
    if result.chain_break:
        findings.append(f"hash chain broken at event {result.chain_break.seq}: "
                        f"{result.chain_break.reason}")
    if not findings:
        return f"{result.events} events replayed: the ledger agrees with its event log"
    return "ledger verification failed: " + "; ".join(findings)


def backup(store: Store, target: Path) -> BackupResult:
    """Copy the ledger to `target` (the store's online copy), verify the copy by replaying
    it, then publish it; a copy that does not replay is removed (exit 8)."""
    with private_copy(store, target) as temporary:
        with Store(str(temporary), actor=store.actor) as copy:
            checked = replay_events(copy)
        if not (checked.consistent and checked.chain_ok):
            raise LedgerVerificationFailed(
                f"the copy did not replay consistently ({summary(checked)}); "
                "nothing was written")
        publish(temporary, target)
    return BackupResult(path=str(target), events=checked.events, consistent=True)


def copy_and_verify(source: Store, target: Store) -> DbCopyResult:
    """Copy `source` into the empty `target` (the store's copy: one snapshot, one
    transaction, ids and hashes kept) and replay the target; the contract's `db copy`
    object (`consistent` False when the replay found anything)."""
    counts = copy_ledger(source, target)
    report = replay_events(target)
    return DbCopyResult(to=target.name, events=counts["events"],
                        consistent=report.consistent and report.chain_ok,
                        rows=sum(counts.values()), mismatches=len(report.mismatches))
