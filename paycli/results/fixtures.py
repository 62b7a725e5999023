"""Results of `fixtures load`: what a fixtures file created, skipped and failed."""

from __future__ import annotations

from paycli.results.base import Result


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
