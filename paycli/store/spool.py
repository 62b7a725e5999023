"""Scratch files: for `reconcile`, the report's lines sorted by payment id and what the
comparison found; for `batch`, the order ids met so far. Kept on disk so a file of any
size runs in constant memory.

A private SQLite file in a temporary folder (0700, removed on close), written without a
journal or fsync: it is a sort buffer, never a ledger, and dies with the run. Findings are
kept as the JSON their own objects write (`model_dump_json`) beside their kind, in the order
found, and read back by the parsers the spool was made with: the store knows no result
model.

Invariant: nothing of the ledger is here; the spool is gone when the run ends, however it
ends.
"""

from __future__ import annotations

import itertools
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from paycli.records import BreakKind, ReportLine

BATCH = 5000
TABLES = """
CREATE TABLE lines (line INTEGER PRIMARY KEY, external_id TEXT, payment_id TEXT, type TEXT,
                    status TEXT, amount INTEGER, currency TEXT, created_at TEXT);
CREATE TABLE findings (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, payload TEXT NOT NULL);
CREATE INDEX findings_kind ON findings (kind, seq);
"""
T = TypeVar("T")
RESOLVED = "resolved"  # a finding's kind once `--apply` settled it


class Kept(Protocol):
    """What the spool keeps: an object that writes itself as JSON."""

    def model_dump_json(self) -> str:
        """The object as JSON text."""
        ...


class Finding(Kept, Protocol):
    """A break: kept under its kind."""

    @property
    def kind(self) -> BreakKind:
        """What sort of break it is."""
        ...


B = TypeVar("B", bound=Finding)
R = TypeVar("R", bound=Kept)


class ReportSpool(Generic[B, R]):
    """The scratch file of one reconcile run (its breaks read back by `parse_break`, what
    was settled by `parse_resolved`); use it in `with`."""

    def __init__(self, parse_break: Callable[[str], B], parse_resolved: Callable[[str], R]
                 ) -> None:
        self._parse_break = parse_break
        self._parse_resolved = parse_resolved
        self._folder = tempfile.TemporaryDirectory(prefix="paycli-reconcile-")
        self.conn = sqlite3.connect(Path(self._folder.name) / "spool.db", isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = OFF")
        self.conn.execute("PRAGMA synchronous = OFF")
        self.conn.executescript(TABLES)

    def close(self) -> None:
        """Close and remove the scratch file."""
        self.conn.close()
        self._folder.cleanup()

    def __enter__(self) -> ReportSpool[B, R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_lines(self, lines: Iterable[ReportLine]) -> int:
        """Keep every line (read lazily, in batches); returns how many."""
        count = 0
        self.conn.execute("BEGIN")
        for chunk in _chunks(lines, BATCH):
            self.conn.executemany("INSERT INTO lines VALUES (?, ?, ?, ?, ?, ?, ?, ?)", chunk)
            count += len(chunk)
        self.conn.execute("CREATE INDEX lines_payment ON lines (payment_id, line)")
        self.conn.execute("COMMIT")
        return count

    def lines_by_payment(self) -> Iterator[tuple[str, list[ReportLine]]]:
        """The lines grouped by payment id, in payment id order (by bytes, as the ledger's
        ids are read), each group in report order."""
        rows = self.conn.execute("SELECT * FROM lines ORDER BY payment_id, line")
        lines = (ReportLine(*row) for row in rows)
        for payment_id, group in itertools.groupby(lines, key=lambda line: line.payment_id):
            yield payment_id, list(group)

    def add_breaks(self, breaks: Iterable[B]) -> None:
        """Keep breaks, in the order given."""
        self.conn.execute("BEGIN")
        for chunk in _chunks(breaks, BATCH):
            self.conn.executemany("INSERT INTO findings (kind, payload) VALUES (?, ?)",
                                  [(found.kind.value, found.model_dump_json()) for found in chunk])
        self.conn.execute("COMMIT")

    def breaks(self, kind: BreakKind | None = None, limit: int = -1) -> Iterator[B]:
        """The breaks kept (of one kind, or all but those resolved), in the order found."""
        where, args = ("kind = ?", (kind.value,)) if kind else ("kind != ?", (RESOLVED,))
        rows = self.conn.execute(
            f"SELECT payload FROM findings WHERE {where} ORDER BY seq LIMIT ?", (*args, limit))
        for (payload,) in rows:
            yield self._parse_break(payload)

    def resolvable(self) -> Iterator[tuple[int, B]]:
        """The resolvable breaks with their spool numbers, read a page at a time, so that
        settling them (`mark_resolved`) may go on while they are read."""
        after = 0
        while True:
            page = self.conn.execute(
                "SELECT seq, payload FROM findings WHERE kind = ? AND seq > ? ORDER BY seq "
                "LIMIT ?", (BreakKind.RESOLVABLE.value, after, BATCH)).fetchall()
            if not page:
                return
            for seq, payload in page:
                yield seq, self._parse_break(payload)
            after = page[-1][0]

    def mark_resolved(self, seq: int, resolved: R) -> None:
        """A resolvable break was settled: keep what it became instead."""
        self.conn.execute("UPDATE findings SET kind = ?, payload = ? WHERE seq = ?",
                          (RESOLVED, resolved.model_dump_json(), seq))

    def replace(self, seq: int, found: B) -> None:
        """A resolvable break turned out otherwise (settled meanwhile by someone else)."""
        self.conn.execute("UPDATE findings SET kind = ?, payload = ? WHERE seq = ?",
                          (found.kind.value, found.model_dump_json(), seq))

    def forget(self, seq: int) -> None:
        """A resolvable break turned out to agree after all (settled meanwhile alike)."""
        self.conn.execute("DELETE FROM findings WHERE seq = ?", (seq,))

    def resolved(self, limit: int = -1) -> Iterator[R]:
        """What `--apply` settled, in the order found."""
        rows = self.conn.execute(
            "SELECT payload FROM findings WHERE kind = ? ORDER BY seq LIMIT ?",
            (RESOLVED, limit))
        for (payload,) in rows:
            yield self._parse_resolved(payload)

    def counts(self) -> dict[str, int]:
        """How many findings of each kind (`resolved` among them)."""
        rows = self.conn.execute("SELECT kind, count(*) FROM findings GROUP BY kind")
        return {kind: int(count) for kind, count in rows}


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


class SeenKeys:
    """Keys met so far and the line each was first met on, in a scratch file: a file of a
    million rows checks its order ids for repeats in constant memory."""

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="paycli-batch-")
        self.conn = sqlite3.connect(Path(self._folder.name) / "seen.db", isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = OFF")
        self.conn.execute("PRAGMA synchronous = OFF")
        self.conn.execute("CREATE TABLE seen (key TEXT PRIMARY KEY, line INTEGER) WITHOUT ROWID")
        self.conn.execute("BEGIN")

    def first_line(self, key: str, line: int) -> int | None:
        """Note `key` as met on `line`; the line it was first met on if it was before."""
        row = self.conn.execute("SELECT line FROM seen WHERE key = ?", (key,)).fetchone()
        if row is not None:
            return int(row[0])
        self.conn.execute("INSERT INTO seen VALUES (?, ?)", (key, line))
        return None

    def close(self) -> None:
        """Close and remove the scratch file."""
        self.conn.close()
        self._folder.cleanup()

    def __enter__(self) -> SeenKeys:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
