"""How the bench counts the commits a payment costs: `CountedStore`, a ledger that wraps
another and counts the write transactions committed through it.

The count belongs to the bench, not to the ledger: the store knows nothing of it, and
every command's ledger runs without it. The bench hands a `CountedStore` to the saga where
it would hand the `Store` itself, and reads `commits` when the run is over.

Invariants: a transaction counts once it has committed (one rolled back or refused does
not); everything else is the wrapped store's own, unchanged.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from paycli.store import Reader, Store, Tx


class CountedStore(Store):
    """`inner`, counting the write transactions committed through it (see the module)."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner.path, inner.actor)
        self.inner = inner
        self.backend = inner.backend  # the engine is the wrapped one's (replay reads it)
        self.read_only = inner.read_only
        self.commits = 0
        self._lock = threading.Lock()  # threads sharing the store commit in turn

    def close(self) -> None:
        """Close the wrapped store."""
        self.inner.close()

    @property
    def read(self) -> Reader:
        """The wrapped store's reads."""
        return self.inner.read

    @contextlib.contextmanager
    def transaction(self, correlation_id: str | None = None) -> Iterator[Tx]:
        """The wrapped store's write transaction, counted once it has committed."""
        with self.inner.transaction(correlation_id) as tx:
            yield tx
        with self._lock:
            self.commits += 1

    def snapshot(self) -> contextlib.AbstractContextManager[Reader]:
        """The wrapped store's read transaction."""
        return self.inner.snapshot()

    def after_bulk_insert(self, tx: Tx) -> None:
        """What the wrapped store's engine needs after rows were inserted with their ids."""
        self.inner.after_bulk_insert(tx)
