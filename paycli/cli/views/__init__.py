"""Human views of results (Rich), and the JSON view: the only place that prints results.

    base        what every view shares: the console, JSON and error output, tables,
                escaping, the progress bar; `print_table`, which draws every list
    units       counts, durations and local times as every human view words them
    wallet      wallet credit, balance, history
    payments    a repeated pay or refund, payments list | show | resolve, refunds
    batch       the billing run's bar and summary
    reconcile   reconcile's breaks, as a table or JSON lines
    ledger      replay-events, export, backup, db copy
    recover     recover
    gateway     gateway status | reset
    limits      limits set | show
    fixtures    fixtures load
    webhooks    webhooks add | list | remove | deliver | deliveries | retry
    bench       bench's progress and report
    demo        demo's headings and summary
    stats       stats' figures, groups, hourly bars and checks
    events      events tail's lines
    top         top's screen: figures, sparklines, breakers, latest failures
    listen      listen's line per delivery

A command imports the views of its own results (`from paycli.cli.views import wallet as
views`), so it loads no other.

Invariants: every view takes the same result model that `--json` prints, so both always
agree. Rich loads on the first thing drawn (`base.console`), never for `--json` output or
`wallet balance`. Text from outside (user ids, gateway messages, reasons) goes through
`base.escaped`, never read as markup. `NO_COLOR` is honoured by Rich itself.
"""
