"""The live step view of a saga: a Rich panel on a terminal, plain lines elsewhere.

The panel is the seed system's payment monitor done properly: the payment's details and
the wallet's starting balance, one row per step (spinner while running, retry with
attempt n/m and the wait, success, failed, pending), and a footer with the outcome.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

from paycli.saga.steps import SilentReporter, StepUpdate

if TYPE_CHECKING:
    from paycli.results import PayResult, RefundResult

ICONS = {"running": "⏳", "retry": "🔄", "success": "✅", "failed": "❌", "pending": "⚠️ "}
STYLES = {"running": "cyan", "retry": "yellow", "success": "green", "failed": "red",
          "pending": "yellow"}
LABELS = {"running": "RUNNING", "retry": "RETRY", "success": "SUCCESS", "failed": "FAILED",
          "pending": "PENDING"}


class PlainReporter:
    """One plain line per transition (stdout is not a terminal)."""

    def __init__(self, title: str) -> None:
        self.title = title

    def started(self, details: dict[str, Any]) -> None:
        """Print the details line."""
        shown = " ".join(f"{k}={v}" for k, v in details.items() if v is not None)
        print(f"{self.title} {shown}", flush=True)

    def step(self, update: StepUpdate) -> None:
        """Print a step's transition."""
        took = f" {update.duration_ms:.1f}ms" if update.duration_ms is not None else ""
        detail = f" {update.detail}" if update.detail else ""
        print(f"[{LABELS.get(update.status, update.status.upper())}] {update.name}{took}{detail}",
              flush=True)

    def finish(self, result: PayResult | RefundResult, error: Any) -> None:
        """Print the outcome line."""
        status = result.status or "REFUSED"
        print(f"{self.title} {status} id={_ident(result)} balance={result.balance}", flush=True)


class LiveReporter:
    """A Rich live panel redrawn on every transition."""

    def __init__(self, title: str) -> None:
        from rich.console import Console  # late: Rich loads only when a panel is drawn
        from rich.live import Live

        self.title = title
        self.details: dict[str, Any] = {}
        self.rows: dict[str, StepUpdate] = {}
        self.footer: Any = None
        self.started_at = time.perf_counter()
        self.console = Console(highlight=False)
        self.live = Live(self._render(), console=self.console, refresh_per_second=12,
                         transient=False)
        self.live.start()

    def started(self, details: dict[str, Any]) -> None:
        """Show the payment's details and starting balance."""
        self.details = details
        self.live.update(self._render())

    def step(self, update: StepUpdate) -> None:
        """Redraw a step's row."""
        self.rows[update.name] = StepUpdate(**vars(update))
        self.live.update(self._render())

    def finish(self, result: PayResult | RefundResult, error: Any) -> None:
        """Show the footer and stop redrawing."""
        took = time.perf_counter() - self.started_at
        ok = error is None
        status = result.status or "REFUSED"
        ident = _ident(result)
        style = "green" if ok else ("yellow" if status == "PROCESSING" else "red")
        icon = "🎉" if ok else ("⚠️ " if status == "PROCESSING" else "❌")
        currency = result.currency
        self.footer = (
            f"[bold {style}]{icon} {status}[/]  id [bold]{ident}[/]  final balance "
            f"[bold]{result.balance} {currency}[/]  in {took:.2f}s"
        )
        if error is not None:
            self.footer += f"\n[{style}]{error.message}[/]"
        self.live.update(self._render())
        self.live.stop()

    def _render(self) -> Any:
        from rich.console import Group  # late: as in __init__
        from rich.panel import Panel
        from rich.spinner import Spinner
        from rich.table import Table

        info = Table.grid(padding=(0, 2))
        for name, value in self.details.items():
            if value is not None:
                shown = f"{value} {self.details.get('currency', '')}" if name in (
                    "initial_balance", "amount") else value
                info.add_row(f"[dim]{name.replace('_', ' ')}[/]", str(shown))
        steps = Table.grid(padding=(0, 2))
        for update in self.rows.values():
            icon: Any = Spinner("dots", style="cyan") if update.status == "running" else (
                ICONS.get(update.status, "·"))
            label = f"[{STYLES.get(update.status, 'white')}]{LABELS.get(update.status, '')}[/]"
            took = f"{update.duration_ms:.0f} ms" if update.duration_ms is not None else ""
            steps.add_row(icon, label, f"[bold]{update.name}[/]", took,
                          f"[dim]{update.detail}[/]")
        parts: list[Any] = [info, "", steps]
        if self.footer:
            parts += ["", self.footer]
        return Panel(Group(*parts), title=f"🚀 {self.title}", title_align="left",
                     border_style="blue")


def _ident(result: PayResult | RefundResult) -> str:
    """The id a saga's outcome is about: the refund's for a refund, else the payment's."""
    refund_id: str | None = getattr(result, "refund_id", None)
    return refund_id or result.payment_id or "-"


def reporter_for(title: str, as_json: bool) -> Any:
    """The reporter that fits where stdout goes: silent, live panel, or plain lines."""
    if as_json:
        return SilentReporter()
    if sys.stdout.isatty():
        return LiveReporter(title)
    return PlainReporter(title)
