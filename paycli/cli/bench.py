"""`paycli bench`: payments per second and latency, beside the raw limits of this machine."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from paycli.cli import inputs
from paycli.cli.common import JsonOption, command, emit, state_of, usage
from paycli.cli.views import bench as views
from paycli.config import db_scheme
from paycli.devtools import bench as bench_mod

if TYPE_CHECKING:
    pass


def register(app: typer.Typer) -> None:
    """Add `bench` to the app."""
    app.command()(bench)


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
    failover: Annotated[
        bool, typer.Option("--failover", help="With --gateway http: then two gateways (the "
                           "second Stripe-shaped), the first killed half way: the time "
                           "to the first payment at the second, and payments lost.")
    ] = False,
    stats_payments: Annotated[
        int, typer.Option("--stats-payments", help="Then time `stats` (24 h window) and a "
                          "`top` refresh over a scratch ledger of this many payments, "
                          "filled in bulk (0: skip).")
    ] = 100_000,
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
    throughput, p99, growth over the run, start-up and peak memory; then `stats` over a
    scratch ledger of --stats-payments payments (< 1 s) and a `top` refresh (< 50 ms).

    Example: paycli --db postgresql://ops@/postgres?host=/run/pg bench --concurrency 4
    """
    if gateway not in ("inprocess", "http"):
        usage(f"--gateway must be inprocess or http, got {gateway!r}")
    if mode not in ("single", "batch"):
        usage(f"--mode must be single or batch, got {mode!r}")
    if failover and (gateway != "http" or mode != "single"):
        usage("--failover needs --gateway http and --mode single")
    options = bench_mod.BenchOptions(
        payments=inputs.positive_int(payments, "--payments", 10_000_000),
        concurrency=inputs.positive_int(concurrency, "--concurrency", 64),
        gateway=gateway, mode=mode, prefill=inputs.count(prefill, "--prefill", 10_000_000),
        server=_bench_server(ctx), startup=startup, failover=failover,
        stats_payments=inputs.count(stats_payments, "--stats-payments", 10_000_000),
    )
    if json_output or not sys.stdout.isatty():
        result = bench_mod.run(options)
    else:
        with views.bench_progress() as progress:
            result = bench_mod.run(options, progress)
    emit(result, json_output, views.bench_result)


def _bench_server(ctx: typer.Context) -> str | None:
    """The PostgreSQL server given with --db for the bench (a file --db is not used)."""
    chosen = state_of(ctx).settings.raw("db")
    return str(chosen) if chosen and db_scheme(str(chosen)) == "postgresql" else None


