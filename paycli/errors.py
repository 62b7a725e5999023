"""The one error tree of paycli. Each class says when it is raised and carries its exit code.

    PaycliError                      exit 1   unexpected: a bug
    ├── UsageError                   exit 2   bad input or configuration; nothing was written
    │   └── ReportMalformed          exit 2   a settlement report line that cannot be read
    ├── InsufficientFunds            exit 3   available < amount; nothing held, nothing charged
    ├── PaymentDeclined              exit 4   the gateway declined; the hold was released
    ├── GatewayUnavailable           exit 5   breaker open, retries exhausted; hold released
    │   └── BreakerOpen              exit 5   failed fast: no call left the process
    ├── IdempotencyConflict          exit 6   a key reused with a different request
    ├── NotFound                     exit 7   no such payment or refund
    ├── LedgerVerificationFailed     exit 8   replay found a mismatch or a broken hash chain
    │   └── ReconcileBreaks          exit 8   reconcile left breaks between ledger and gateway
    ├── DeliveriesFailed             exit 8   `webhooks deliver`: some deliveries failed or died
    ├── RefundRefused                exit 9   not refundable, too much, or the gateway refused
    ├── RefusedInState               exit 9   not in a state that allows it (resolve: not
    │                                         PROCESSING); a final state is never changed
    ├── OutcomeUnknown               exit 10  still pending or unknown at the gateway; held
    ├── GatewayConfigError           exit 11  the gateway refused paycli's configuration (its
    │                                         API key, or its URL): never retried, never
    │                                         counted by the breaker; hold released
    └── LimitExceeded                exit 12  over a wallet's (or the default) limit: single
                                              amount, daily amount or daily count; nothing
                                              written

`type` is the snake_case name shown in `--json` error objects.
"""

from __future__ import annotations


class PaycliError(Exception):
    """An error paycli reports to the operator as one line and an exit code."""

    exit_code = 1
    type = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(PaycliError):
    """Raised for invalid input or configuration, before anything is written."""

    exit_code = 2
    type = "usage_error"


class ReportMalformed(UsageError):
    """Raised for a settlement report that cannot be read, naming its line; nothing is
    settled from a report until all of it has been read."""

    type = "report_malformed"


class InsufficientFunds(PaycliError):
    """Raised when a wallet's available balance does not cover an amount."""

    exit_code = 3
    type = "insufficient_funds"


class PaymentDeclined(PaycliError):
    """Raised when the gateway answers `declined` (or rejects the request with a 4xx)."""

    exit_code = 4
    type = "declined"


class GatewayUnavailable(PaycliError):
    """Raised when the gateway cannot be reached or keeps failing: nothing was charged."""

    exit_code = 5
    type = "gateway_unavailable"


class BreakerOpen(GatewayUnavailable):
    """Raised when the shared circuit breaker is open: the call never left the process."""

    type = "breaker_open"


class IdempotencyConflict(PaycliError):
    """Raised when an idempotency key is reused with different arguments."""

    exit_code = 6
    type = "idempotency_conflict"


class NotFound(PaycliError):
    """Raised when a payment or refund id is unknown."""

    exit_code = 7
    type = "not_found"


class LedgerVerificationFailed(PaycliError):
    """Raised when replaying the event log disagrees with the stored state."""

    exit_code = 8
    type = "ledger_verification_failed"


class ReconcileBreaks(LedgerVerificationFailed):
    """Raised when `reconcile` leaves breaks between the ledger and the gateway's report."""

    type = "reconcile_breaks"


class ChecksFailed(LedgerVerificationFailed):
    """Raised when a `stats --check` rule does not hold (a monitoring probe's alarm)."""

    type = "check_failed"


class DeliveriesFailed(PaycliError):
    """Raised when `webhooks deliver` ends with deliveries that failed (retried later) or
    went dead: a cron probe's signal."""

    exit_code = 8
    type = "deliveries_failed"


class RefundRefused(PaycliError):
    """Raised when a refund is not allowed or the gateway refuses it."""

    exit_code = 9
    type = "refund_refused"


class OutcomeUnknown(PaycliError):
    """Raised when a charge is still pending or its outcome unknown; `recover` finishes it."""

    exit_code = 10
    type = "outcome_unknown"


class LedgerCorrupt(PaycliError):
    """Raised when the database is not a paycli ledger or is of a newer schema."""

    exit_code = 2
    type = "bad_ledger"


class GatewayConfigError(PaycliError):
    """Raised when the gateway refuses paycli's configuration rather than the request: HTTP
    401/403 (the API key) or a protocol path it does not serve, 404/405 (the gateway URL).

    Not a gateway failure: retrying cannot help and the gateway is not unwell, so it is
    never retried and never counted by the circuit breaker. Its message names the setting
    to check (PAYCLI_GATEWAY_API_KEY, or PAYCLI_GATEWAY_URL / --gateway-url).
    """

    exit_code = 11
    type = "gateway_config"


class RefusedInState(PaycliError):
    """Raised when a payment or refund is not in the state an action needs (resolving by
    hand needs PROCESSING): nothing is changed."""

    exit_code = 9
    type = "refused_in_state"


class LimitExceeded(PaycliError):
    """Raised when a payment is over its wallet's limit (or the default one): its single
    amount, or today's (UTC) amount or count of payments; nothing is written."""

    exit_code = 12
    type = "limit_exceeded"
