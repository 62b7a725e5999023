"""The live step view of a saga: a Rich panel on a terminal, plain lines elsewhere.

The panel is the seed system's payment monitor done properly: the payment's details and
the wallet's starting balance, one row per step (spinner and ticking time while running,
retry with attempt n/m and the wait, success, failed, pending), and a footer with the
outcome.

Invariants:
- A reporter is a context manager: whatever happens (an error, Ctrl-C), leaving it stops
  the live display, so the terminal is left clean with its cursor visible.
- Nothing is drawn before the saga announces its details: a refusal found before any step
  runs prints one error line and no panel.
- Text from outside (gateway messages, user ids, reasons) is escaped, never read as markup.
- The outcome's error is said once, as the command's final error line, not in the footer.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, Self

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.spinner import Spinner
from rich.table import Table

from paycli.cli.echo import quiet_control_echo, restore_echo
from paycli.cli.views.units import duration
from paycli.saga.steps import SilentReporter, StepUpdate

if TYPE_CHECKING:
    from paycli.results.payments import PayResult, RefundResult

ICONS = {"running": "⏳", "retry": "🔄", "success": "✅", "failed": "❌", "pending": "⚠️ ",
         "stopped": "⏸ "}
STYLES = {"running": "cyan", "retry": "yellow", "success": "green", "failed": "red",
          "pending": "yellow", "stopped": "yellow"}
LABELS = {"running": "RUNNING", "retry": "RETRY", "success": "SUCCESS", "failed": "FAILED",
          "pending": "PENDING", "stopped": "STOPPED"}
TICKING = frozenset({"running", "retry", "pending"})
AMOUNT_DETAILS = frozenset({"initial_balance", "amount", "left"})


def _ident(result: PayResult | RefundResult) -> str:
    """The id a saga's outcome is about: the refund's for a refund, else the payment's."""
    refund_id: str | None = getattr(result, "refund_id", None)
    return refund_id or result.payment_id or "-"


class _Reporter:
    """What every reporter shares: the details announced so far, and `with` support."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.details: dict[str, Any] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop drawing (nothing to stop here)."""

    def interrupted(self, left: str) -> None:
        """Ctrl-C: stop drawing; `left` (what was left behind) is printed by the caller."""
        self.stop()


class PlainReporter(_Reporter):
    """One plain line per transition (stdout is not a terminal)."""

    def started(self, details: dict[str, Any]) -> None:
        """Print the details line (once)."""
        first = not self.details
        self.details = details
        if first:
            shown = " ".join(f"{k}={v}" for k, v in details.items() if v is not None)
            print(f"{self.title} {shown}", flush=True)

    def step(self, update: StepUpdate) -> None:
        """Print a step's transition."""
        took = f" {duration(update.duration_ms / 1000)}" if update.duration_ms is not None else ""
        detail = f" {update.detail}" if update.detail else ""
        label = LABELS.get(update.status, update.status.upper())
        print(f"[{label}] {update.name}{took}{detail}", flush=True)

    def finish(self, result: PayResult | RefundResult, error: Any) -> None:
        """Print the outcome line."""
        status = result.status or "REFUSED"
        print(f"{self.title} {status} id={_ident(result)} balance={result.balance}", flush=True)


class LiveReporter(_Reporter):
    """A Rich live panel, redrawn on every transition and ticking while a step runs."""

    def __init__(self, title: str) -> None:
        super().__init__(title)
        self.rows: dict[str, StepUpdate] = {}
        self.since: dict[str, float] = {}
        self.footer: str | None = None
        self.started_at = time.perf_counter()
        self.live: Live | None = None
        self._echo: list[Any] | None = None

    def started(self, details: dict[str, Any]) -> None:
        """Show the saga's details (and start drawing, the first time)."""
        self.details = details
        if self.live is None:
            self.live = Live(get_renderable=self._render, console=Console(highlight=False),
                             refresh_per_second=8, transient=False)
            self._echo = quiet_control_echo()
            self.live.start()
        self.live.refresh()

    def step(self, update: StepUpdate) -> None:
        """Redraw a step's row."""
        self.rows[update.name] = StepUpdate(**vars(update))
        self.since.setdefault(update.name, time.perf_counter())
        if self.live is not None:
            self.live.refresh()

    def finish(self, result: PayResult | RefundResult, error: Any) -> None:
        """Show the footer and stop redrawing."""
        if self.live is None:
            return
        took = time.perf_counter() - self.started_at
        status = result.status or "REFUSED"
        style = "green" if error is None else ("yellow" if status == "PROCESSING" else "red")
        icon = "🎉" if error is None else ("⚠️ " if status == "PROCESSING" else "❌")
        ident = _ident(result) if result.status else "(none created)"
        self.footer = (f"[bold {style}]{icon} {status}[/]  id [bold]{ident}[/]  balance "
                       f"[bold]{result.balance} {result.currency}[/]  in {duration(took)}")
        self.stop()

    def interrupted(self, left: str) -> None:
        """Ctrl-C: close the panel with what was left behind, then stop drawing."""
        if self.live is not None:
            took = duration(time.perf_counter() - self.started_at)
            shown = escape(left.removeprefix("interrupted: "))
            self.footer = f"[bold yellow]⏸ STOPPED[/] by Ctrl-C: {shown}  in {took}"
        self.stop()

    def stop(self) -> None:
        """Draw the last frame and give the terminal back (cursor shown)."""
        if self.live is not None:
            self.live.refresh()
            self.live.stop()
            self.live = None
            restore_echo(self._echo)

    def _elapsed(self, update: StepUpdate) -> str:
        if update.duration_ms is not None:
            return duration(update.duration_ms / 1000)
        if update.status in TICKING and self.live is not None:
            return duration(time.perf_counter() - self.since[update.name])
        return ""

    def _render(self) -> Any:
        info = Table.grid(padding=(0, 2))
        currency = self.details.get("currency", "")
        for name, value in dict(self.details).items():
            if value is not None:
                shown = f"{value} {currency}" if name in AMOUNT_DETAILS else str(value)
                info.add_row(f"[dim]{name.replace('_', ' ')}[/]", escape(shown))
        steps = Table.grid(padding=(0, 2))
        for update in list(self.rows.values()):
            icon: Any = Spinner("dots", style="cyan") if update.status == "running" else (
                ICONS.get(update.status, "·"))
            label = f"[{STYLES.get(update.status, 'white')}]{LABELS.get(update.status, '')}[/]"
            steps.add_row(icon, label, f"[bold]{update.name}[/]", self._elapsed(update),
                          f"[dim]{escape(update.detail)}[/]")
        parts: list[Any] = [info, "", steps]
        if self.footer:
            parts += ["", self.footer]
        return Panel(Group(*parts), title=f"🚀 {self.title}", title_align="left",
                     border_style="blue")


class QuietReporter(SilentReporter):
    """A silent reporter that is also a context manager (for `--json`)."""

    def __init__(self) -> None:
        self.details: dict[str, Any] = {}

    def started(self, details: dict[str, Any]) -> None:
        """Remember the details (an interrupted saga's id), show nothing."""
        self.details = details

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Nothing to stop."""

    def interrupted(self, left: str) -> None:
        """Ctrl-C: nothing is drawn; the caller reports `left`."""


Reporter = PlainReporter | LiveReporter | QuietReporter


def reporter_for(title: str, as_json: bool) -> Reporter:
    """The reporter that fits where stdout goes: silent, live panel, or plain lines."""
    if as_json:
        return QuietReporter()
    if sys.stdout.isatty():
        return LiveReporter(title)
    return PlainReporter(title)
