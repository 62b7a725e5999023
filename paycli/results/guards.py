"""Results of the guard rails: `backup`, `fixtures load`."""

from __future__ import annotations

from paycli.results.base import Result


class BackupResult(Result):
    """`backup`: where the copy is, how many events it holds, and that it replayed
    consistently (it is only reported when it did)."""

    path: str
    events: int
    consistent: bool


class FixtureFailure(Result):
    """An entry of a fixtures file that did not load: its kind (`payments`, `refunds`),
    its order id, and why."""

    kind: str
    entry: str
    error: str


class FixturesLoaded(Result):
    """`fixtures load`: what was created, what was already there (`skipped`), and what
    failed (a declined payment, say), with why."""

    wallets: int
    payments: int
    refunds: int
    skipped: int
    failed: int
    failures: list[FixtureFailure]
