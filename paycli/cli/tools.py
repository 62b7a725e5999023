"""`paycli demo`, `paycli bench` and `paycli schema`: first runs, measurements, and the
contract's result objects as JSON Schema."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from paycli.cli import inputs, views
from paycli.cli.common import JsonOption, command, emit, state_of, usage

if TYPE_CHECKING:
    from paycli.results import Result

# The `--json` result model of every command that has `--json`.
SCHEMAS = {
    "wallet credit": "WalletCredit", "wallet balance": "WalletBalance",
    "wallet history": "WalletHistory", "pay": "PayResult", "refund": "RefundResult",
    "payments list": "PaymentsList", "payments show": "PaymentShow",
    "payments resolve": "PaymentResolved", "refunds list": "RefundsList",
    "refunds resolve": "RefundResolved",
    "replay-events": "ReplayReport", "recover": "RecoverReport",
    "gateway status": "GatewayStatus", "gateway reset": "GatewayStatus", "bench": "BenchReport",
    "db copy": "DbCopyResult", "reconcile": "ReconcileReport",
    "backup": "BackupResult", "fixtures load": "FixturesLoaded", "batch": "BatchReport",
    "limits set": "LimitsList", "limits show": "LimitsList",
}


def register(app: typer.Typer) -> None:
    """Add `bench`, `demo` and `schema` to the app."""
    app.command()(bench)
    app.command()(demo)
    app.command()(schema)


def result_model(name: str) -> type[Result]:
    """The result model of a command (`pay`, `wallet balance`, ...)."""
    from paycli import results  # late: see cli.common

    model: type[Result] = getattr(results, SCHEMAS[name])
    return model


@command
def schema(
    command_words: Annotated[list[str], typer.Argument(
        metavar="COMMAND...", help="The command, e.g. pay or wallet balance.")],
) -> None:
    """Print the JSON Schema of a command's --json output.

    Example: paycli schema wallet balance
    """

    name = " ".join(command_words)
    if name not in SCHEMAS:
        usage(f"no --json output for {name!r}: use one of {', '.join(SCHEMAS)}")
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                **result_model(name).model_json_schema(mode="serialization")}
    views.print_json(document)


@command
def bench(
    ctx: typer.Context,
    payments: Annotated[int, typer.Option("--payments", help="How many payments to run.")] = 2000,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Threads paying at once (each its own "
                          "connection; SQLite takes one writer at a time).")
    ] = 1,
    gateway: Annotated[
        str, typer.Option("--gateway", help="inprocess (no network) or http (the mock gateway).")
    ] = "inprocess",
    prefill: Annotated[
        int, typer.Option("--prefill", help="Completed payments to put in the ledger first.")
    ] = 0,
    mode: Annotated[
        str, typer.Option("--mode", help="single (one saga per payment) or batch (the "
                                         "billing run's engine: group commit).")
    ] = "single",
    startup: Annotated[
        bool, typer.Option("--startup/--no-startup", help="Also time paycli's start-up "
                           "(--help, wallet balance) beside a bare Typer app.")
    ] = True,
    json_output: JsonOption = False,
) -> None:
    """Measure payments per second and latency, next to the raw limits of this machine.

    Runs the real saga on a temporary ledger, then raw SQLite with the same durable commits
    per payment (the storage limit) and, with --gateway http, raw httpx to the same mock
    gateway (the network limit), and prints paycli's ratio to each. --mode batch runs
    `paycli batch`'s engine instead, against raw SQLite batched the same way. With --db
    postgresql://... the ledger is a throwaway database on that server (its user must be
    allowed to create one) and the storage limit is raw psycopg there. Every performance
    target the run measures is listed with its baseline, ratio and whether it was met:
    throughput, p99, growth over the run, start-up and peak memory.

    Example: paycli --db postgresql://ops@/postgres?host=/run/pg bench --concurrency 4
    """
    from paycli.devtools import bench as bench_mod  # late: see cli.common

    if gateway not in ("inprocess", "http"):
        usage(f"--gateway must be inprocess or http, got {gateway!r}")
    if mode not in ("single", "batch"):
        usage(f"--mode must be single or batch, got {mode!r}")
    options = bench_mod.BenchOptions(
        payments=inputs.positive_int(payments, "--payments", 10_000_000),
        concurrency=inputs.positive_int(concurrency, "--concurrency", 64),
        gateway=gateway, mode=mode, prefill=inputs.count(prefill, "--prefill", 10_000_000),
        server=_bench_server(ctx), startup=startup,
    )
    if json_output or not sys.stdout.isatty():
        result = bench_mod.run(options)
    else:
        with views.bench_progress() as progress:
            result = bench_mod.run(options, progress)
    emit(result, json_output, views.bench_result)


def _bench_server(ctx: typer.Context) -> str | None:
    """The PostgreSQL server given with --db for the bench (a file --db is not used)."""
    from paycli.config import db_scheme  # late: see cli.common

    chosen = state_of(ctx).settings.raw("db")
    return str(chosen) if chosen and db_scheme(str(chosen)) == "postgresql" else None


@command
def demo(
    ctx: typer.Context,
    fast: Annotated[bool, typer.Option("--fast", help="Shorten the waits.")] = False,
) -> None:
    """Run the seed system's scenarios end to end against a mock gateway it starts itself.

    Uses a temporary ledger unless --db is given; ends with a summary table and exits 1 if
    any scenario did not behave as expected.

    Example: paycli demo --fast
    """
    from paycli.cli import live  # late: see cli.common
    from paycli.devtools import demo as demo_mod
    from paycli.store import Store

    chosen = state_of(ctx).settings.overrides.get("db")
    with tempfile.TemporaryDirectory(prefix="paycli-demo-") as folder:
        path = str(chosen) if chosen else str(Path(folder) / "ledger.db")
        with Store(path) as store:
            results = demo_mod.run_demo(
                store, fast, reporter=lambda title: live.reporter_for(title, False),
                announce=views.announce)
        views.demo_summary(results, path if chosen else None)
    if not all(result.ok for result in results):
        raise typer.Exit(1)
