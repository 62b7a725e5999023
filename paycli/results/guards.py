"""Results of the guard rails: `backup`."""

from __future__ import annotations

from paycli.results.base import Result


class BackupResult(Result):
    """`backup`: where the copy is, how many events it holds, and that it replayed
    consistently (it is only reported when it did)."""

    path: str
    events: int
    consistent: bool
