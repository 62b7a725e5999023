"""Several gateways' settlement reports read as one, for `reconcile --from-gateway`.

Each gateway's report is streamed in turn, the later ones without their header line, so
the comparison sees one report sorted as it reads it; a short table of where each report
starts in that stream (one row per gateway, whatever the reports' size) names the gateway
of any line and gives the line's number in its own report.

Invariants: a later report must begin with the header (anything else is malformed, as in
a single report); line numbers are physical lines, as the CSV reader counts them, so a
quoted field spanning lines counts the same here and there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from paycli.errors import ReportMalformed
from paycli.ledger.report import HEADER
from paycli.results.reconcile import ReconcileBreak
from paycli.store import Reader


@dataclass
class Combined:
    """The reports of several gateways as one stream of lines (see the module docstring)."""

    starts: list[tuple[int, int, str]] = field(default_factory=list)  # (first, offset, name)
    emitted: int = 0  # lines of the combined stream so far

    def lines(self, name: str, lines: Iterable[str]) -> Iterator[str]:
        """Gateway `name`'s report lines, as the combined stream carries them."""
        first = not self.starts
        self.starts.append((self.emitted + 1, self.emitted - (0 if first else 1), name))
        seen_header = first
        for line in lines:
            if not seen_header:
                seen_header = True
                if line.strip().lstrip("\ufeff") != ",".join(HEADER):
                    raise ReportMalformed(f"gateway {name}'s report line 1: expected the "
                                          f"header {','.join(HEADER)}")
                continue
            self.emitted += 1
            yield line

    def where(self, line: int) -> tuple[str, int]:
        """The gateway and the own line number of the combined stream's `line`."""
        found = self.starts[0]
        for start in self.starts:
            if start[0] <= line:
                found = start
        return found[2], line - found[1]


def named(reader: Reader, combined: Combined | None, only: str | None
          ) -> Callable[[ReconcileBreak], ReconcileBreak]:
    """What names a break's gateway: its report line's gateway (and its line in that
    report), else the payment's own gateway, else `only` (the one gateway compared)."""

    def name(found: ReconcileBreak) -> ReconcileBreak:
        if combined is not None and found.line is not None:
            gateway, line = combined.where(found.line)
            return found.model_copy(update={"gateway": gateway, "line": line})
        payment = reader.payment(found.payment_id) if found.payment_id else None
        return found.model_copy(update={"gateway": payment.gateway if payment else only})

    return name
