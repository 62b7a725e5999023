"""`listen`'s output: one line per delivery, Rich on a terminal, JSON lines otherwise."""

from __future__ import annotations

import sys
from typing import Any

from paycli.cli.views.base import console, escaped, print_json, when

_STYLES = {"applied": "green", "agreed": "cyan", "duplicate": "cyan", "break": "red",
           "ignored": "yellow"}


def delivery_line(delivery: dict[str, Any], as_json: bool) -> None:
    """Print one delivery: `{at, status, outcome, webhook_id, type, entity_id,
    ledger_status, ms}` (`ms`: from receipt to the ledger's commit; a refused one has a
    `reason` and no outcome)."""
    if as_json or not sys.stdout.isatty():
        print_json(delivery)
        return
    what = delivery.get("outcome") or delivery.get("reason") or ""
    style = _STYLES.get(what, "red")
    parts = [when(delivery["at"]), str(delivery["status"]), f"[{style}]{escaped(what)}[/]",
             escaped(delivery.get("type")), escaped(delivery.get("entity_id")),
             escaped(delivery.get("ledger_status")), escaped(delivery.get("webhook_id"))]
    console().print("  ".join(part for part in parts if part))


def listening_line(host: str, port: int) -> None:
    """The one ready line, on stderr, once the socket accepts connections."""
    shown = f"[{host}]" if ":" in host else host
    sys.stderr.write(f"paycli listening on http://{shown}:{port}/webhooks/gateway\n")
    sys.stderr.flush()
