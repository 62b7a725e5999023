"""`paycli metrics`: the ledger's figures in Prometheus text exposition on `GET /metrics`,
served by `prometheus_client`'s own HTTP server until Ctrl-C."""

from __future__ import annotations

import sys
import threading
from typing import Annotated

import typer
from prometheus_client import start_http_server
from prometheus_client.registry import CollectorRegistry

from paycli.cli.common import command, open_store, usage
from paycli.ledger.metrics import LedgerCollector


def register(app: typer.Typer) -> None:
    """Add `metrics` to the app."""
    app.command("metrics")(metrics)


@command
def metrics(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="The port to listen on.")] = 9464,
) -> None:
    """Serve the ledger's figures as Prometheus metrics on GET /metrics.

    Computed from the shared ledger on every scrape, so every process and host's work
    counts once: paycli_payments_total{status,currency,gateway}, paycli_payment_volume_total,
    paycli_payments_in_flight, paycli_payment_failures_total{reason},
    paycli_refunds_total, paycli_refund_volume_total,
    paycli_gateway_request_duration_seconds (histogram) and
    paycli_gateway_breaker_state{gateway,state}. Ctrl-C stops it (exit 130).

    Example: paycli metrics --port 9464   (then: curl -s localhost:9464/metrics)
    """
    if not 0 < port < 65536:
        usage(f"invalid --port {port}: expected 1-65535")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LedgerCollector(lambda: open_store(ctx)))
    try:
        server, _ = start_http_server(port, host, registry)
    except OSError as exc:
        usage(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    sys.stderr.write(f"Serving Prometheus metrics on http://{host}:{port}/metrics\n")
    sys.stderr.flush()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()
        raise typer.Exit(130) from None
