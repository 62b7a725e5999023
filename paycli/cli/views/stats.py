"""Views of `stats`: the figures as a table, `--by` groups as a table or, by hour, a bar
chart, and the `--check` rules."""

from __future__ import annotations

from paycli.cli.views.base import Column, console, escaped, print_table, when
from paycli.results.stats import Group, Stats

BAR_WIDTH = 40


def stats(result: Stats) -> None:
    """The window's figures, its groups, and how each rule fared."""
    console().print(f"[bold]From {when(result.since)} to {when(result.until)}[/]")
    print_table(None, [Column("figure", whole_words=True), Column("value", whole=True,
                                                                   right=True)],
                _rows(result))
    if result.by == "hour":
        _hour_bars(result.groups)
    elif result.groups:
        _group_table(result.by or "", result.groups)
    for check in result.checks:
        mark = "[green]✓[/]" if check.ok else "[red]✗[/]"
        value = "nothing to judge" if check.value is None else f"{check.value:g}"
        console().print(f"{mark} {escaped(check.rule)} ({value})")


def _rows(result: Stats) -> list[tuple[str, str]]:
    latency = result.gateway_latency_ms
    rows = [("payments", str(result.payments)), ("completed", str(result.completed)),
            ("failed", str(result.failed)), ("processing", str(result.processing)),
            ("approval rate", _percent(result.approval_rate))]
    rows += [(f"volume {code}", amount) for code, amount in result.volume.items()]
    rows += [(f"gateway {name} ms", _ms(value)) for name, value
             in (("p50", latency.p50), ("p95", latency.p95), ("p99", latency.p99))]
    rows += [(f"declined: {reason}", str(count)) for reason, count in result.declines.items()]
    rows += [("breaker openings", str(result.breaker_opens)),
             ("refunds", f"{result.refunds.refunds} ({result.refunds.completed} completed)"),
             ("webhook breaks", str(result.webhook_breaks))]
    return rows


def _group_table(by: str, groups: list[Group]) -> None:
    """The groups through `print_table`: the key, counts and volume never cut; on a narrow
    terminal `processing`, then `failed`, then `completed` leave first."""
    columns = [Column(by, whole=True), Column("payments", whole=True, right=True),
               Column("completed", whole=True, right=True, drop=3),
               Column("failed", whole=True, right=True, drop=2),
               Column("processing", whole=True, right=True, drop=1),
               Column("approval", whole=True, right=True), Column("volume", whole_words=True)]
    rows = [[group.key, str(group.payments), str(group.completed), str(group.failed),
             str(group.processing), _percent(group.approval_rate),
             ", ".join(f"{amount} {code}" for code, amount in group.volume.items())]
            for group in groups]
    print_table(f"By {by}", columns, rows)


def _hour_bars(groups: list[Group]) -> None:
    """One bar per hour: its length the hour's payments, its red tail the failed ones."""
    most = max((group.payments for group in groups), default=0)
    console().print("[bold]Payments by hour (UTC)[/]  [green]█[/] completed and other  "
                    "[red]█[/] failed")
    for group in groups:
        length = round(group.payments / most * BAR_WIDTH) if most else 0
        failed = round(group.failed / most * BAR_WIDTH) if most else 0
        bar = f"[green]{'█' * (length - failed)}[/][red]{'█' * failed}[/]"
        console().print(f"{group.key[5:].replace('T', ' ')}h {bar} {group.payments}")


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f} %"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
