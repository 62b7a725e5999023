"""`db copy`: every row of one ledger, events and all, into an empty ledger of either
backend, in one write transaction of the target read from one snapshot of the source.

Invariants: the source is only read (one read snapshot: what is copied is one consistent
state, even while others write to it); the target must hold nothing yet, checked again
under its write lock, so two copies into one target cannot both land; ids and sequence
numbers are kept, so every event's hash, and so the whole chain, verifies unchanged on the
target; tables are copied parents first, so foreign keys hold throughout.
"""

from __future__ import annotations

from collections.abc import Callable

from paycli.errors import UsageError
from paycli.store.base import Store
from paycli.store.tables import TABLES as LEDGER_TABLES

# (table, columns, key) of every table, parents before children (as described); derived
# tables are left out: the target's triggers make their rows as the payments land.
TABLES: tuple[tuple[str, tuple[str, ...], str], ...] = tuple(
    (table.name, table.column_names, table.key) for table in LEDGER_TABLES
    if not table.derived)


def copy_ledger(source: Store, target: Store,
                progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Copy every row of `source` into the empty `target`; returns rows copied per table."""
    if source.path == target.path:
        raise UsageError(f"--to {target.name}: that is the ledger being copied")
    if not target.is_empty():
        raise UsageError(f"--to {target.name}: not an empty ledger; db copy only fills an "
                         "empty one")
    counts: dict[str, int] = {}
    with source.snapshot() as read, target.transaction("db-copy") as tx:
        if not tx.is_empty():  # someone wrote to it since: still refuse
            raise UsageError(f"--to {target.name}: not an empty ledger; db copy only fills "
                             "an empty one")
        for table, columns, key in TABLES:
            counts[table] = tx.insert_rows(table, columns, read.stream(table, columns, key))
            if progress:
                progress(table, counts[table])
        target.after_bulk_insert(tx)
    return counts
