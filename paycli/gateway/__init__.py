"""The card gateway: its protocol, the HTTP client, retries and the shared breaker.

    protocol    the answers, failures and calls of the gateway protocol (`Gateway`)
    http        `HttpGateway`: the protocol over httpx, one attempt per call
    stripe      `StripeGateway`: the protocol spoken as Stripe's PaymentIntents (form
                bodies, minor units, bearer key), on `HttpGateway`'s plumbing
    clients     the client that speaks a gateway's protocol (`paycli`, `seed`, `stripe`)
    routes      the configured gateways in priority order (`PAYCLI_GATEWAYS`), their keys
                and breaker rows
    resilience  retries (tenacity) and the circuit breaker (pybreaker) whose state is
                the ledger's breaker row, shared by every process
    inprocess   an in-process gateway that approves everything (the bench's)
    webhook     the gateway's signed webhooks (Standard Webhooks): verified, read as events

Invariants: `http` (and `stripe`, through the client it inherits from `http`) are the only
modules of the package that touch the network; nothing here writes the ledger except the
breaker's row, through the store; nothing draws on the terminal.
"""
