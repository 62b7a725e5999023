"""`paycli reconcile`: the ledger against the gateway's settlement report."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from paycli.cli.common import JsonOption, command, open_existing, state_of, usage
from paycli.cli.views import reconcile as views
from paycli.cli.views import units
from paycli.cli.views.base import print_error
from paycli.config import Settings
from paycli.errors import ReconcileBreaks
from paycli.gateway.routes import Route, route_named, routes
from paycli.ledger.report import decoded
from paycli.saga.gatewayreports import Combined, named
from paycli.saga.reconcile import reconcile as run_reconcile
from paycli.saga.wiring import saga_env, settlement_report

if TYPE_CHECKING:
    from paycli.errors import ReconcileBreaks
    from paycli.saga.reconcile import Reconciliation


def register(app: typer.Typer) -> None:
    """Add `reconcile` to the app."""
    app.command("reconcile")(reconcile)


@command
def reconcile(
    ctx: typer.Context,
    report: Annotated[
        Path | None, typer.Option("--report", help="The settlement report CSV to read.",
                                  dir_okay=False)
    ] = None,
    from_gateway: Annotated[
        bool, typer.Option("--from-gateway", help="Fetch the report from the gateway "
                                                  "(GET /reports/settlement).")
    ] = False,
    apply: Annotated[
        bool, typer.Option("--apply", help="Settle the PROCESSING payments and refunds whose "
                                           "final outcome the report states.")
    ] = False,
    gateway: Annotated[str | None, typer.Option(
        "--gateway", metavar="NAME", help="Only this gateway: its report, its payments "
                                          "(default: every configured gateway's).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Match every payment and refund against the gateway's settlement report and list the
    breaks: missing_in_ledger, missing_at_gateway, status_mismatch, amount_mismatch,
    resolvable (PROCESSING here, final in the report) and unresolved.

    The report is a CSV with the header
    external_id,payment_id,type,status,amount,currency,created_at, read line by line (any
    size, constant memory); a malformed line stops the run before anything is settled.
    With --apply, only the resolvable ones are settled, through the saga's own settle path,
    each with an event citing its report line; a final state is never changed, and a
    second run has nothing to do. Exits 0 when no break is left, 8 otherwise.

    With several gateways (PAYCLI_GATEWAYS), --from-gateway reads every gateway's report
    (or only --gateway NAME's, compared with that gateway's payments only), and each break
    names its gateway (its report line's, else the payment's).

    Example: paycli reconcile --from-gateway --apply
    """
    settings = state_of(ctx).settings
    if (report is None) == (not from_gateway):
        usage("give exactly one of --report FILE or --from-gateway")
    chosen = [route_named(settings, gateway)] if gateway is not None else (
        routes(settings) if from_gateway else [])
    combined = Combined() if from_gateway else None
    with open_existing(ctx) as store, _report_lines(report, settings, chosen, combined) as (
            source, lines):
        env = saga_env(store, settings, calls_gateway=from_gateway)
        try:
            run = run_reconcile(env, lines, source, apply, named(store.read, combined, gateway),
                                gateway)
        finally:
            env.close()
    try:
        error = _breaks_left(run)
        views.reconciled(run, error, json_output)
        if not json_output:
            views.webhook_breaks(run.webhook_breaks)
    finally:
        run.close()
    if error is not None:
        if not json_output:
            print_error(error.message)
        raise typer.Exit(error.exit_code)


def _breaks_left(run: Reconciliation) -> ReconcileBreaks | None:
    """The error of a run that left breaks (exit 8), or None."""
    counts = run.counts()
    if not counts:
        return None
    kinds = ", ".join(f"{count:,} {kind}" for kind, count in counts.items())
    hint = "; --apply settles the resolvable ones" if (
        "resolvable" in counts and not run.applied) else ""
    return ReconcileBreaks(f"{units.count(sum(counts.values()), 'break')} left: {kinds}{hint}")


@contextlib.contextmanager
def _report_lines(report: Path | None, settings: Settings, chosen: list[Route],
                  combined: Combined | None) -> Iterator[tuple[str, Iterator[str]]]:
    """The report's name (for errors and events) and its text lines, from the file or the
    `chosen` gateways (one after the other, as one report: `combined`)."""
    if report is None:
        assert combined is not None
        yield (", ".join(f"{route.url}/reports/settlement" for route in chosen),
               _every_report(settings, chosen, combined))
        return
    try:
        handle = report.open("rb")
    except OSError as exc:
        usage(f"cannot read the report {report}: {exc.strerror or exc}")
    with handle:
        yield str(report), decoded(handle, str(report))


def _every_report(settings: Settings, chosen: list[Route], combined: Combined
                  ) -> Iterator[str]:
    """Each chosen gateway's report in turn, streamed."""
    for route in chosen:
        with settlement_report(settings, route) as lines:
            yield from combined.lines(route.name, lines)
