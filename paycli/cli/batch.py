"""`paycli batch FILE`: a billing run, with a progress bar, a summary, and the rows that did
not complete written back out, ready to run again."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from paycli.cli import inputs
from paycli.cli.common import GatewayOption, JsonOption, command, open_store, state_of, usage
from paycli.cli.views import batch as views
from paycli.errors import PaycliError
from paycli.gateway.routes import route_named
from paycli.ledger.batchfile import file_format, read_rows, write_rows
from paycli.ledger.postings import new_id
from paycli.results.batch import BatchFailure, BatchReport
from paycli.saga.batch import Batch, BatchOptions
from paycli.saga.wiring import saga_env

if TYPE_CHECKING:
    from paycli.errors import PaycliError
    from paycli.ledger.batchfile import Row
    from paycli.results.batch import BatchReport
    from paycli.saga.batchrows import RowOutcome

KEPT_FAILURES = 1000  # failures listed in the summary; --failures FILE has every one
# The order in which a run's row outcomes decide its exit code: money left held first.
SEVERITY = (10, 11, 5, 4, 3, 12, 6, 7, 9, 2, 1)


def register(app: typer.Typer) -> None:
    """Add `batch` to the app."""
    app.command("batch")(batch)


@command
def batch(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV (user,amount,currency,order_id) or JSON "
                                              "Lines.", dir_okay=False)],
    concurrency: Annotated[int, typer.Option(
        "--concurrency", help="Charges in flight at once.")] = 8,
    failures: Annotated[Path | None, typer.Option(
        "--failures", help="Write the rows that did not complete here, in the input's "
                           "format.", dir_okay=False)] = None,
    retry_failed: Annotated[bool, typer.Option(
        "--retry-failed", help="A new attempt for each row whose order's every attempt "
                               "FAILED (never one PROCESSING or COMPLETED).")] = False,
    gateway: GatewayOption = None,
    json_output: JsonOption = False,
) -> None:
    """Pay every row of a file: a billing run. Each row has the guarantees of `pay
    --order-id`: funds checked and held before the charge leaves, one charge per order
    id, the outcome settled.

    The file is CSV with the header user,amount,currency,order_id (currency may be empty
    for USD) or JSON Lines with those keys; order_id is required and unique in the file.
    It is read row by row (any size, constant memory). A bad row, a decline, insufficient
    funds or a limit fail that row only, reported with its line number (the header is line
    1). Run the file again, after a crash or twice: rows already completed are skipped
    and counted, and nothing is charged twice. A row whose order's latest attempt FAILED
    counts as failed again, with that reason; --retry-failed gives those rows a new
    attempt. Exits 0 when every row completed or was skipped, else the most serious row
    outcome's code (10 first: money left held).

    Example: paycli batch billing-2026-11.csv --failures retry.csv, then, once the
    gateway is back: paycli batch retry.csv --retry-failed
    """
    concurrency = inputs.positive_int(concurrency, "--concurrency", 256)
    settings = state_of(ctx).settings
    if gateway is not None:
        route_named(settings, gateway)  # an unknown name: exit 2 before anything is written
    try:
        handle = file.open("rb")
    except OSError as exc:
        usage(f"cannot read {file}: {exc.strerror or exc}")
    with handle, open_store(ctx) as store, _failure_file(failures) as kept:
        run = _Run(file, handle, kept, json_output)
        report, error = run.go(store, settings, concurrency, retry_failed, gateway)
    views.batch_summary(report, error, json_output)


class _Run:
    """One run of the command: reads the file, tallies the rows, keeps the failures."""

    def __init__(self, file: Path, handle: Any, kept: _Failures | None, as_json: bool
                 ) -> None:
        self.file, self.handle, self.kept, self.as_json = file, handle, kept, as_json
        first = handle.peek(1)[:1].decode("utf-8", "replace") if hasattr(handle, "peek") else ""
        self.fmt = file_format(file, first)
        self.counts = {"completed": 0, "failed": 0, "unknown": 0, "skipped": 0}
        self.attempts = {"retried": 0, "retryable": 0}  # see `BatchReport`
        self.listed: list[dict[str, Any]] = []
        self.worst: PaycliError | None = None

    def go(self, store: Any, settings: Any, concurrency: int, retry_failed: bool,
           gateway: str | None = None) -> tuple[BatchReport, PaycliError | None]:
        batch_id = new_id("bat")
        env = saga_env(store, settings, only=gateway)
        started = time.perf_counter()
        interrupted = False
        with views.batch_progress(self._total(), not self.as_json) as progress:
            self.progress = progress
            try:
                options = BatchOptions(concurrency=concurrency, retry_failed=retry_failed)
                Batch(env, batch_id, options, self.on_row,
                      self.on_interrupt).run(self._rows(settings.max_amount))
            except KeyboardInterrupt:
                interrupted = True
            finally:
                env.close()
        return self._report(batch_id, time.perf_counter() - started, interrupted)

    def _total(self) -> int | None:
        """The rows to come (for the bar's ETA), when the file can be counted cheaply."""
        if self.as_json or not sys.stdout.isatty():
            return None
        with self.file.open("rb") as counting:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: counting.read(1 << 20),
                                                             b""))
        return max(lines - (1 if self.fmt == "csv" else 0), 0)

    def _rows(self, max_major: int) -> Iterator[Row]:
        text = (raw.decode("utf-8", "replace") for raw in self.handle)
        return read_rows(text, self.fmt, max_major)

    def on_interrupt(self, press: int, at_gateway: int, unsent: int) -> None:
        """Ctrl-C: say what the run still waits for before it stops."""
        views.batch_stopping(press, at_gateway, unsent, self.as_json)

    def on_row(self, outcome: RowOutcome) -> None:
        """A row has ended: count it, keep it if it failed, move the bar."""
        self.counts[outcome.status] += 1
        self._count_attempts(outcome)
        if outcome.status in ("failed", "unknown"):
            assert outcome.error is not None
            self.worst = _worse(self.worst, outcome.error)
            if len(self.listed) < KEPT_FAILURES:
                self.listed.append({"line": outcome.line, "order_id": outcome.order_id,
                                    "error": _why(outcome), "exit_code": outcome.error.exit_code})
            if self.kept is not None:
                self.kept.add(outcome.line, outcome.raw)
        self.progress(self.counts)

    def _count_attempts(self, outcome: RowOutcome) -> None:
        """Rows this run paid by a new attempt; failed rows a new attempt could retry."""
        if outcome.attempt > 1 and not outcome.earlier and outcome.status != "skipped":
            self.attempts["retried"] += 1
        if outcome.status == "failed" and outcome.payment_id is not None:
            self.attempts["retryable"] += 1

    def _report(self, batch_id: str, elapsed: float, interrupted: bool
                ) -> tuple[BatchReport, PaycliError | None]:
        rows = sum(self.counts.values())
        report = BatchReport(
            batch_id=batch_id, file=str(self.file), format=self.fmt, rows=rows,
            **self.counts, **self.attempts,
            throughput=round(rows / elapsed, 1) if elapsed > 0 else 0.0,
            seconds=round(elapsed, 3), interrupted=interrupted,
            failures=[BatchFailure(**entry)
                      for entry in sorted(self.listed, key=lambda entry: entry["line"])],
            failures_file=str(self.kept.target) if self.kept else None)
        if self.kept is not None:
            self.kept.finish(self.fmt)
        if interrupted:
            left = (f"; {report.unknown} opened rows were left PROCESSING with their funds "
                    "held" if report.unknown else "")
            interruption = PaycliError(f"interrupted (Ctrl-C): the rows not yet read were left "
                                       f"untouched{left}; run the same file again to finish "
                                       "them (rows done are skipped)")
            interruption.exit_code, interruption.type = 130, "interrupted"
            return report, interruption
        if self.worst is None:
            return report, None
        retry = (f"; {report.retryable} can be tried again: run the file with --retry-failed"
                 if report.retryable else "")
        summary = PaycliError(f"{report.failed + report.unknown} of {rows} rows did not "
                              f"complete; the most serious: {self.worst.message}{retry}")
        summary.exit_code, summary.type = self.worst.exit_code, self.worst.type
        return report, summary


def _why(outcome: RowOutcome) -> str:
    """A failed row's reason; for one whose order's attempt failed before this run, which
    attempt (the run charged nothing for it)."""
    assert outcome.error is not None
    if outcome.earlier and outcome.status == "failed":
        return (f"attempt {outcome.attempt} ({outcome.payment_id}) failed earlier: "
                f"{outcome.error.message}")
    return outcome.error.message


def _worse(worst: PaycliError | None, error: PaycliError) -> PaycliError:
    """The more serious of two row errors (see `SEVERITY`)."""
    if worst is None:
        return error
    rank = {code: place for place, code in enumerate(SEVERITY)}
    return min(worst, error, key=lambda found: rank.get(found.exit_code, len(SEVERITY)))


class _Failures:
    """The rows that did not complete, written privately (0600) beside `target` and moved
    into place when the run ends."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.rows: Any = tempfile.NamedTemporaryFile(  # noqa: SIM115 -- closed in finish
            "w+", dir=target.parent, prefix=f".{target.name}.", suffix=".part",
            delete=False, encoding="utf-8", newline="")

    def add(self, line: int, raw: Any) -> None:
        """One row as read (a CSV row's fields, or a JSON line), and its line."""
        self.rows.write(json.dumps([line, raw]) + "\n")

    def finish(self, fmt: str) -> None:
        """Write the rows in the input's format and file order (rows end in any order),
        and publish the file."""
        self.rows.seek(0)
        kept = sorted((json.loads(text) for text in self.rows), key=lambda pair: pair[0])
        final = Path(self.rows.name).with_suffix(".out")
        with final.open("w", encoding="utf-8", newline="") as out:
            os.chmod(final, 0o600)
            write_rows(out, fmt, (raw for _, raw in kept))
        self.rows.close()
        os.unlink(self.rows.name)
        os.replace(final, self.target)

    def discard(self) -> None:
        """Remove what was written (the run never started)."""
        self.rows.close()
        with contextlib.suppress(OSError):
            os.unlink(self.rows.name)


@contextlib.contextmanager
def _failure_file(target: Path | None) -> Iterator[_Failures | None]:
    if target is None:
        yield None
        return
    try:
        kept = _Failures(target)
    except OSError as exc:
        usage(f"--failures {target}: cannot write there ({exc.strerror or exc})")
    try:
        yield kept
    finally:
        if not kept.rows.closed:
            kept.discard()
