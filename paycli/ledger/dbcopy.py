"""`paycli db copy`: move a ledger to another engine (or file), then prove the copy.

The rows are copied by the store (`store.copy`: one snapshot of the source, one
transaction of the empty target, ids and hashes kept); the target is then replayed from
its own event log, exactly as `replay-events` does, and the copy counts as done only if
that replay is consistent and its hash chain intact.

Invariants: the source is never written; a target that holds anything is refused before
anything is written to it; the result names the target with its password hidden.
"""

from __future__ import annotations

from paycli.ledger.replay import replay_events
from paycli.results import DbCopyResult
from paycli.store import Store
from paycli.store.copy import copy_ledger


def copy_and_verify(source: Store, target: Store) -> DbCopyResult:
    """Copy `source` into the empty `target` and replay the target; the contract's
    `db copy` object (`consistent` False when the replay found anything)."""
    counts = copy_ledger(source, target)
    report = replay_events(target)
    return DbCopyResult(to=target.name, events=counts["events"],
                        consistent=report.consistent and report.chain_ok,
                        rows=sum(counts.values()), mismatches=len(report.mismatches))
