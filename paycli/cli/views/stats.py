"""Views of `stats`: the figures as a table, `--by` groups as a table or, by hour, a bar
chart, and the `--check` rules."""

from __future__ import annotations

from paycli.cli.views.base import console, escaped, new_table, when
from paycli.results.stats import Group, Stats

BAR_WIDTH = 40


def stats(result: Stats) -> None:
    """The window's figures, its groups, and how each rule fared."""
    console().print(f"[bold]From {when(result.since)} to {when(result.until)} UTC[/]")
    table = new_table()
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in _rows(result):
        table.add_row(name, escaped(value))
    console().print(table)
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
    table = new_table(f"By {by}")
    for name in (by, "payments", "completed", "failed", "processing", "approval", "volume"):
        table.add_column(name, justify="left" if name in (by, "volume") else "right",
                         no_wrap=name == "volume")
    for group in groups:
        volume = ", ".join(f"{amount} {code}" for code, amount in group.volume.items())
        table.add_row(escaped(group.key), str(group.payments), str(group.completed),
                      str(group.failed), str(group.processing),
                      _percent(group.approval_rate), escaped(volume))
    console().print(table)


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
