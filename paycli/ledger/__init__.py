"""The ledger's meaning: postings, wallets, idempotency, the event chain, replay, queries,
export and reconciliation. It decides what a movement of money is and what the ledger
says; the store below it keeps the rows.

    postings     double-entry movements (`Postings`, for one payment or a group): deposit,
                 hold, post (commit) and void a hold
    wallet       credit, balance and statement as result objects
    idempotency  key -> request fingerprint -> stored result
    chain        verifying the event log's hash chain
    replay       rebuilding the ledger from its events and comparing; the copies it
                 proves (`backup` of a SQLite ledger, `db copy` into an empty one)
    queries      payments as the contract's result objects
    export       payments, refunds and transfers as CSV or JSON lines
    report       reading a gateway's settlement report (CSV), line by line
    reconcile    the ledger against that report: what agrees, and every break
    limits       per-wallet and default limits, and the check a payment must pass
    batchfile    reading a billing run's file (CSV or JSON Lines), row by row, each order
                 once
    fixturefile  reading a fixtures file (JSON): wallets, payments and refunds, all checked
    fields       the values input files carry (ids, currencies, exact amounts), one rule each
    orders       an order's payment attempts: which one a request means, the next one's key
    stats        the window's figures: outcomes, volume, latency percentiles, declines
    checks       `stats --check` rules, and the durations of `--since`
    tail         `events tail`: the events after a sequence number, as lines
    metrics      the ledger's figures as Prometheus metric families, on each scrape
    board        `top`'s live figures, read incrementally by event number

Invariants: every currency's balances sum to zero; no wallet's available balance goes
below zero; every movement is appended to the hash-chained event log in its transaction.
Nothing here talks to the network or draws on the terminal.
"""
