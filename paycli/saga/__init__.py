"""The sagas: pay, refund and recover, each a sequence of committed steps, and the ways
to finish one that is stuck: resolve by hand, reconcile with the gateway's report.

    core       the environment a saga runs in, its verdict and outcome, changing a row
               with its event, taking over an orphan
    steps      named, timed steps told to a `Reporter` (the terminal draws them)
    owner      which process owns a saga in flight, and waiting for it
    calls      the conversations with the gateway: charge and refund
    routing    which gateway a new payment goes to, and moving it before any charge left
    lookups    what the gateway's answers and look-ups mean, as verdicts
    settle     the one settle path: a verdict applied to a payment or a refund
    pay        the pay saga
    group      opening payments (check, create, hold) in one transaction: a billing
               run's group, or `pay`'s group of one
    batch      billing runs: many payments per commit (group commit), charged concurrently
    batchrows  how each row of a billing run ended, and the step records kept with it
    presses    Ctrl-C during a billing run, counted and acted on where stopping is safe
    refund     the refund saga
    recover    finishing orphans
    interrupt  what an interrupted saga (Ctrl-C) left behind, said for the operator
    resolve    settling by hand
    reconcile  settling from the gateway's settlement report
    gatewayreports  several gateways' settlement reports read as one, each break named
    inbound    settling from the gateway's webhooks, each webhook id acted on once
    wiring     a saga environment from settings

Invariants: no step leaves the ledger between states; a hold (or a refund's reservation)
is released only when the gateway cannot hold the money; nothing here draws on the
terminal or speaks SQL.
"""
