"""Results of the billing run (`batch`): every row accounted for, and the failures."""

from __future__ import annotations

from paycli.results.base import Result


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
