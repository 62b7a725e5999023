"""The terminal: the Typer app, one module per command group, input checks, the views.

    app         the app, its global options, usage errors as one line; registers groups
    common      options, the error wrapper, JSON or human output
    wallet      wallet credit, balance, history
    payments    pay, refund, payments list and show
    audit       replay-events, export
    operations  recover, gateway status and reset
    tools       demo, bench, schema
    inputs      the operator's input checked into values (before the ledger is opened)
    views       human views of results (Rich) and the JSON view
    live        the live step view of a saga

Invariants: the only layer that imports Typer or Rich; no SQL and no HTTP here (commands
call the core); nothing below imports it. A command parses, calls the core, renders the
result model, and maps errors to exit codes.
"""

from paycli.cli.app import app

__all__ = ["app"]
