"""The terminal: the Typer app, one module per command or command group, input checks,
the views.

    app         the app, its global options, usage errors as one line; the command table
                and the lazy loading of each command's module (start-up)
    common      options, the error wrapper, JSON or human output
    helptext    how --help reads: plain upper-case names, whole examples and summaries
    wallet      wallet credit, balance, history
    payments    pay, refund, payments list | show | resolve
    refunds     refunds list | resolve
    batch       batch (a billing run from a file)
    reconcile   reconcile
    replay      replay-events
    export      export
    recover     recover
    gateway     gateway status | reset
    limits      limits set | show
    backup      backup
    database    db copy
    fixtures    fixtures load
    webhooks    webhooks add | list | remove | deliver | deliveries | retry
    bench       bench
    demo        demo
    stats       stats (the window's figures, --check rules)
    events      events tail (the event log as it grows)
    metrics     metrics (Prometheus exposition on GET /metrics)
    top         top (the live full-screen board)
    schema      schema (the JSON Schema of each `--json` output)
    listen      listen (the gateway's webhooks, served over HTTP)
    inputs      the operator's input checked into values (before the ledger is opened)
    completion  shell completion: option values, and ids from the ledger
    live        the live step view of a saga
    echo        the terminal's echo of control characters, off while drawing live
    views       human views of results (Rich) and the JSON view

Invariants: the only layer that imports Typer or Rich; no SQL and no HTTP here (commands
call the core); nothing below imports it. A command parses, calls the core, renders the
result model, and maps errors to exit codes.
"""

from paycli.cli.app import app

__all__ = ["app"]
