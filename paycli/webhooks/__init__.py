"""Merchant webhooks: paycli's own events, signed and delivered to the shops' endpoints
with retries and a dead-letter state.

    endpoints   `webhooks add | list | remove`: URL checks (http(s), no private address
                unless allowed), the `whe_` id and `whsec_` secret, pattern matching
    events      the public event types, how ledger events map to them, and their bodies
                built from the records (`payments show` / `refunds list` / `wallet credit`)
    schedule    when a failed delivery is tried again (tenacity's exponential wait with
                jitter) and when it is given up on
    sender      one signed HTTP POST (Standard Webhooks) over a worker's keep-alive
                connection
    deliver     `webhooks deliver`: turn events into deliveries, lease due ones, send
                them with bounded concurrency, record each outcome
    repair      `webhooks deliveries | retry`: what was tried, and sending again now

Invariants: delivery happens outside every money movement (`pay` never waits for it);
each event goes to an endpoint at least once, with the same `webhook-id` every time; the
events of one payment reach an endpoint in order; a secret never leaves the ledger but
as a signature (shown once, by `add`).
"""
