"""The contract's `--json` result objects, typed once, one module per command group.

    base        the base of every result (`Result`), an error, a saga step
    wallet      wallet credit, balance, history
    payments    pay, refund, payments list | show | resolve, refunds list | resolve
    batch       the billing run
    fixtures    fixtures load
    limits      limits set | show
    reconcile   reconcile
    recover     recover
    gateway     gateway status | reset
    replay      replay-events, and the verified copies (backup, db copy)
    messages    the words for the reason codes the books keep (the porch shows them)
    stats       stats, and the event lines of events tail
    webhooks    webhooks add | list | remove | deliver | deliveries | retry, and the
                public event body an endpoint receives

Callers import a model from its module (`from paycli.results.wallet import
WalletBalance`): a command loads the models it returns, not the other forty (start-up).

Every command that has `--json` returns one of these models; the JSON view prints
`model_dump(mode="json")`, the human view reads the same attributes, and `paycli schema`
prints `model_json_schema()`. So the three can never drift apart. (The bench's report is
the bench's own, in `paycli.devtools.report`.)

Invariants:
- Amounts are exact decimal strings at the currency's precision (`"50.00"`, `"1000"` for
  JPY), never numbers; timings (`duration_ms` and the like) are numbers.
- Statuses are the enums of `records`, so a status outside the contract cannot be built.
- Models are frozen and refuse unknown fields, except a timeline event, which carries
  whatever its event recorded besides its changes.
"""
