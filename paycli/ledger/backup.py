"""`paycli backup`: an online, verified copy of a SQLite ledger.

The store takes the copy (`store.backup`: SQLite's backup API, one consistent snapshot
while others keep writing); here it is opened as a ledger and replayed — every balance,
hold, payment and refund rebuilt from its events and compared, the hash chain verified —
before it is published under the target's name.

Invariant: a backup is reported only once its replay agrees; one that does not is removed
and the command fails (exit 8).
"""

from __future__ import annotations

from pathlib import Path

from paycli.errors import LedgerVerificationFailed
from paycli.ledger import replay
from paycli.results import BackupResult
from paycli.store import Store
from paycli.store.backup import private_copy, publish


def backup(store: Store, target: Path) -> BackupResult:
    """Copy the ledger to `target`, verify the copy by replaying it, then publish it."""
    with private_copy(store, target) as temporary:
        with Store(str(temporary), actor=store.actor) as copy:
            checked = replay.replay_events(copy)
        if not (checked.consistent and checked.chain_ok):
            raise LedgerVerificationFailed(
                f"the copy did not replay consistently ({replay.summary(checked)}); "
                "nothing was written")
        publish(temporary, target)
    return BackupResult(path=str(target), events=checked.events, consistent=True)
