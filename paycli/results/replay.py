"""Results of the commands that replay a whole ledger and verify it: `replay-events`,
and the copies that are only reported once their replay agrees (`backup`, `db copy`)."""

from __future__ import annotations

from typing import Any

from paycli.results.base import Result


class Mismatch(Result):
    """One difference between the stored tables and the replayed event log."""

    entity: str
    id: str
    field: str
    stored: Any
    replayed: Any


class ChainBreakInfo(Result):
    """Where the hash chain first breaks."""

    seq: int
    reason: str


class ReplayReport(Result):
    """`replay-events`."""

    events: int
    chain_ok: bool
    consistent: bool
    mismatches: list[Mismatch]
    chain_break: ChainBreakInfo | None


class BackupResult(Result):
    """`backup`: where the copy is, how many events it holds, and that it replayed
    consistently (it is only reported when it did)."""

    path: str
    events: int
    consistent: bool


class DbCopyResult(Result):
    """`db copy`: where the ledger went (password hidden), how many events it took, and
    whether replaying them on the target matched every copied row."""

    to: str
    events: int
    consistent: bool
    rows: int
    mismatches: int
