"""Results of the guard rails (`limits set | show`, `backup`, `fixtures load`) and of the
billing run (`batch`)."""

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


class LimitEntry(Result):
    """A scope's limits of one currency: `scope` is a user id or `default` (`is_default`
    tells the default from a user named so); amounts are decimal strings, null when
    unlimited."""

    scope: str
    is_default: bool
    currency: str
    max_amount: str | None
    daily_amount: str | None
    daily_count: int | None
    updated_at: str


class LimitsList(Result):
    """`limits show` and `limits set`: the limits, by scope and currency."""

    limits: list[LimitEntry]


class BatchFailure(Result):
    """A row of a billing run that did not complete: its line (the header is line 1), its
    order id (if it has a usable one), why, and the exit code `pay` would have given it."""

    line: int
    order_id: str | None
    error: str
    exit_code: int


class BatchReport(Result):
    """`batch`: every row accounted for (`rows = completed + failed + unknown + skipped`;
    unknown: PROCESSING, its funds held), rows per second, and the failures (the first
    thousand; `--failures FILE` has all of them)."""

    batch_id: str
    file: str
    format: str
    rows: int
    completed: int
    failed: int
    unknown: int
    skipped: int
    throughput: float
    seconds: float
    interrupted: bool
    failures: list[BatchFailure]
    failures_file: str | None
    retried: int = 0  # rows paid by a new attempt after failed ones (`--retry-failed`)
    retryable: int = 0  # failed rows whose order has a FAILED attempt: `--retry-failed`
