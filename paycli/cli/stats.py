"""`paycli stats`: the window's payments, approval, volume, latency, declines, breaker
openings, refunds and webhook breaks; `--check` rules for cron and monitoring."""

from __future__ import annotations

from typing import Annotated

import typer

from paycli.cli import inputs
from paycli.cli.common import JsonOption, command, emit, fail, open_existing
from paycli.cli.views import stats as views
from paycli.ledger import checks
from paycli.ledger import stats as figures
from paycli.results.stats import CheckResult, Stats
from paycli.store import Store


def register(app: typer.Typer) -> None:
    """Add `stats` to the app."""
    app.command("stats")(stats)


@command
def stats(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", help="The window: 1h, 24h, 7d, 30m.")] = "24h",
    by: Annotated[
        str | None, typer.Option("--by", help="Group by currency, gateway, status or hour.")
    ] = None,
    rules: Annotated[
        list[str] | None,
        typer.Option("--check", metavar="RULE",
                     help="A rule like approval_rate>=0.9; exit 8 if it fails."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Show the window's payments, approval rate, volume, gateway latency and declines.

    From the shared ledger (every process and host): payments by outcome, approval_rate
    (completed / decided), volume per currency (exact), gateway_latency_ms p50/p95/p99
    (the charge step of every payment settled in the window), declines by reason,
    breaker_opens, refunds and webhook_breaks. --by hour draws a bar chart. Each --check
    rule (approval_rate>=0.9, failed_rate<=0.01, p99_ms<=500,
    processing_older_than=10m==0) is judged; if one fails, exit 8 naming it.

    Example: paycli stats --since 1h --check 'p99_ms<=500' --check 'failed_rate<=0.01'
    """
    window = figures.Window.last(checks.parse_duration(since))
    group = inputs.choice(by, figures.BY, "--by") if by is not None else None
    parsed = [checks.parse_rule(rule) for rule in rules or []]
    with open_existing(ctx) as store:
        result = figures.stats(store, window, group)
        result = result.model_copy(update={"checks": _judge(store, result, parsed)})
    error = checks.failure(result.checks)
    if error is not None:
        fail(result, error, json_output, views.stats)
    emit(result, json_output, views.stats)


def _judge(store: Store, result: Stats, rules: list[checks.Rule]) -> list[CheckResult]:
    judged = []
    for rule in rules:
        if rule.older_than_s is not None:
            value: float | None = figures.stuck(store, rule.older_than_s)
        else:
            value = checks.figure(rule, result)
        judged.append(checks.judge(rule, value))
    return judged
