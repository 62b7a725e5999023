"""The ledger's tables, described once.

`TABLES` holds every table of the ledger: its columns (type, nullability, default, check,
reference), its table checks, unique keys and indexes, whether it is append-only, and what
`replay-events` rebuilds of it. From it are made a new ledger's SQLite DDL (`schema`), its
PostgreSQL DDL (`pg_schema`), replay's scratch tables and comparisons (`comparisons`), and
the columns `db copy` copies (`copy`). The words of the description, and how a table is
spelled in either engine's words, are `describe`'s; the engines' own extras (SQLite's
STRICT, PostgreSQL's identity columns, "C" collation and marker table, each engine's
append-only triggers) live with that engine.

Invariants:
- This is the schema of a ledger at `SCHEMA_VERSION`. A new ledger is made from it, an
  older one reaches it by the explicit migrations; a test compares the two, as each engine
  introspects them, and fails on any difference. So a change here comes with a migration
  on each engine.
- Columns stand in the order a migrated ledger has them: one added later goes at the end
  of its table, where `ALTER TABLE ... ADD COLUMN` puts it.
- Tables stand parents first: every REFERENCES names a table above it.
- Money and ids are `BIGINT` integer minor units, never `REAL`.

To change the schema (a column, a check, an index): change it here, then add the step
that takes an existing ledger there to `MIGRATIONS` in `schema` and in `pg_schema`, under
the next version number (`SCHEMA_VERSION` follows); tests/test_migrations.py shows, on
both engines, whether the two agree.
"""

from __future__ import annotations

from paycli.records import (
    BreakerStatus,
    DeliveryStatus,
    PaymentStatus,
    RefundStatus,
    TransferState,
)
from paycli.store.describe import Check, Column, Index, Replay, Table, one_of

_CURRENCY = "length(currency) = 3"

ACCOUNTS = Table(
    "accounts",
    (
        Column("id", "bigint", primary_key=True, identity=True),
        Column("kind", not_null=True, check=one_of("kind", ("wallet", "funding", "clearing"))),
        Column("user_id", ordered=True),
        Column("currency", not_null=True, check=_CURRENCY),
        Column("balance", "bigint", not_null=True, default="0", compared=True),
        Column("held", "bigint", not_null=True, default="0", check="held >= 0", compared=True),
        Column("updated_at", not_null=True),
    ),
    checks=(Check("kind <> 'wallet' OR balance - held >= 0"),
            Check("(kind = 'wallet') = (user_id IS NOT NULL)")),
    indexes=(Index("accounts_owner", ("kind", "coalesce(user_id, '')", "currency"),
                   unique=True),),
    replay=Replay("account", ("kind", "user_id", "currency")),
)

TRANSFERS = Table(
    "transfers",
    (
        Column("id", primary_key=True, ordered=True),
        Column("kind", not_null=True, check=one_of("kind", ("credit", "payment", "refund")),
              compared=True),
        Column("debit_account", "bigint", not_null=True, references="accounts (id)",
               compared=True),
        Column("credit_account", "bigint", not_null=True, references="accounts (id)",
               compared=True),
        Column("amount", "bigint", not_null=True, check="amount > 0", compared=True),
        Column("currency", not_null=True, compared=True),
        Column("state", not_null=True, check=one_of("state", TransferState), compared=True),
        Column("reference"),
        Column("created_at", not_null=True, ordered=True),
        Column("resolved_at"),
    ),
    checks=(Check("debit_account <> credit_account"),),
    indexes=(Index("transfers_created", ("created_at",)),),
    replay=Replay("transfer"),
)

ENTRIES = Table(
    "entries",
    (
        Column("seq", "bigint", primary_key=True, identity=True),
        Column("account_id", "bigint", not_null=True, references="accounts (id)"),
        Column("transfer_id", not_null=True, references="transfers (id)"),
        Column("type", not_null=True),
        Column("amount", "bigint", not_null=True),
        Column("balance", "bigint", not_null=True),
        Column("held", "bigint", not_null=True),
        Column("reference"),
        Column("at", not_null=True),
    ),
    indexes=(Index("entries_account", ("account_id", "seq")),),
)

# The writer numbers the events itself (the chain's order); SQLite's ledgers were made
# without the CHECK on `seq`, and SQLite cannot add one to a table in place.
EVENTS = Table(
    "events",
    (
        Column("seq", "bigint", primary_key=True),
        Column("type", not_null=True),
        Column("entity_id", not_null=True, ordered=True),
        Column("payload", not_null=True),
        Column("at", not_null=True),
        Column("correlation_id"),
        Column("prev_hash", not_null=True),
        Column("hash", not_null=True),
        Column("actor"),
    ),
    checks=(Check("seq > 0", engine="postgresql"),),
    indexes=(Index("events_entity", ("entity_id", "seq")),),
    append_only=True,
)

IDEMPOTENCY = Table(
    "idempotency",
    (
        Column("key", primary_key=True, ordered=True),
        Column("command", not_null=True),
        Column("fingerprint", not_null=True),
        Column("entity_id"),
        Column("result"),
        Column("exit_code", "int"),
        Column("created_at", not_null=True),
    ),
)

PAYMENTS = Table(
    "payments",
    (
        Column("id", primary_key=True, ordered=True),
        Column("user_id", not_null=True, ordered=True, compared=True),
        Column("currency", not_null=True, compared=True),
        Column("amount", "bigint", not_null=True, check="amount > 0", compared=True),
        Column("order_id"),
        Column("idempotency_key"),
        Column("gateway_key", not_null=True),
        Column("status", not_null=True, check=one_of("status", PaymentStatus), compared=True,
              changed=True),
        Column("gateway_ref", compared=True, changed=True),
        Column("hold_id", compared=True, changed=True),
        Column("refunded", "bigint", not_null=True, default="0", check="refunded >= 0",
               compared=True, changed=True),
        Column("refund_reserved", "bigint", not_null=True, default="0",
               check="refund_reserved >= 0", compared=True, changed=True),
        Column("error_type", compared=True, changed=True),
        Column("error_message", changed=True),
        Column("owner"),
        Column("created_at", not_null=True, ordered=True),
        Column("updated_at", not_null=True),
        # The gateway the charge goes to (v9): fixed before the charge leaves, moved only
        # by a failover before any charge could have been made (`payment.gateway_changed`).
        Column("gateway", not_null=True, default="'default'", compared=True, changed=True),
        # The gateway's time for the charge (v10): the ProcessPayment step's duration of
        # the first settle event that carries one, and that event's time. Facts `stats`
        # reads by SQL instead of parsing every settle event; replay derives them alike.
        Column("charge_ms", "real", compared=True),
        Column("charged_at", ordered=True, compared=True),
    ),
    checks=(Check("refunded + refund_reserved <= amount"),),
    indexes=(Index("payments_created", ("created_at",)),
             Index("payments_user", ("user_id", "created_at")),
             Index("payments_status", ("status", "created_at")),
             Index("payments_order", ("order_id", "created_at"), where="order_id IS NOT NULL"),
             # An order may be tried again once every attempt FAILED, but at most one
             # attempt is ever past FAILED: the ledger itself refuses a second live one.
             Index("payments_one_live_attempt", ("order_id",), unique=True,
                   where="order_id IS NOT NULL AND status <> 'FAILED'"),
             # The charges of a window's first, partial hour (v11; `summaries`).
             Index("payments_charged", ("charged_at",), where="charge_ms IS NOT NULL"),
             # Latency percentiles walk it in order (`LIMIT 1 OFFSET k`), the window's
             # bound read from the index itself, never sorting the window's charges.
             Index("payments_charge", ("charge_ms", "charged_at"),
                   where="charge_ms IS NOT NULL")),
    replay=Replay("payment"),
)

REFUNDS = Table(
    "refunds",
    (
        Column("id", primary_key=True, ordered=True),
        Column("payment_id", not_null=True, ordered=True, references="payments (id)",
              compared=True),
        Column("currency", not_null=True, compared=True),
        Column("amount", "bigint", not_null=True, check="amount > 0", compared=True),
        Column("reason"),
        Column("idempotency_key"),
        Column("gateway_key", not_null=True),
        Column("status", not_null=True, check=one_of("status", RefundStatus), compared=True,
              changed=True),
        Column("gateway_ref", compared=True, changed=True),
        Column("transfer_id", compared=True, changed=True),
        Column("error_type", changed=True),
        Column("error_message", changed=True),
        Column("owner"),
        Column("created_at", not_null=True, ordered=True),
        Column("updated_at", not_null=True),
    ),
    indexes=(Index("refunds_payment", ("payment_id", "created_at")),
             Index("refunds_status", ("status",))),
    replay=Replay("refund"),
)

BREAKER = Table(
    "breaker",
    (
        Column("name", primary_key=True),
        Column("state", not_null=True, check=one_of("state", BreakerStatus)),
        Column("failures", "int", not_null=True, default="0"),
        Column("opened_at", "real"),
        Column("probe_started", "real"),
    ),
)

# Limits per wallet (`scope` a user id) or for every wallet (`scope` ''), per currency;
# `id` is `SCOPE/CURRENCY` (`*/USD` for the default), one key to stream and copy by. A
# NULL limit is no limit. Changed only with its `limits.set` event, like everything else.
LIMITS = Table(
    "limits",
    (
        Column("id", primary_key=True, ordered=True),
        Column("scope", not_null=True),
        Column("currency", not_null=True, check=_CURRENCY),
        Column("max_amount", "bigint", check="max_amount > 0", compared=True),
        Column("daily_amount", "bigint", check="daily_amount > 0", compared=True),
        Column("daily_count", "bigint", check="daily_count >= 0", compared=True),
        Column("updated_at", not_null=True),
    ),
    unique=(("scope", "currency"),),
    replay=Replay("limit", ("scope", "currency")),
)

# A merchant's endpoint for paycli's own events (`webhooks add`): `events` its patterns,
# comma-joined; `cursor` the last event sequence number turned into its deliveries; a
# removed endpoint keeps its row (and its deliveries' history) with `removed_at` set.
# Delivery bookkeeping, like the breaker, moves no money: replay-events checks the events
# that record it apply, and rebuilds and compares nothing of these two tables.
WEBHOOK_ENDPOINTS = Table(
    "webhook_endpoints",
    (
        Column("id", primary_key=True, ordered=True),
        Column("url", not_null=True),
        Column("events", not_null=True),
        Column("secret", not_null=True),
        Column("cursor", "bigint", not_null=True, default="0", check="cursor >= 0"),
        Column("created_at", not_null=True),
        Column("removed_at"),
    ),
)

# One event to send to one endpoint, and where its sending stands. `order_key` (the
# payment, refund's payment or wallet it is about) keeps the events of one payment in
# order; `lease_owner`/`lease_until` let one `deliver` process at a time send it.
WEBHOOK_DELIVERIES = Table(
    "webhook_deliveries",
    (
        Column("id", primary_key=True, ordered=True),
        Column("endpoint_id", not_null=True, references="webhook_endpoints (id)"),
        Column("event_seq", "bigint", not_null=True),
        Column("event_id", not_null=True),
        Column("type", not_null=True),
        Column("order_key", not_null=True, ordered=True),
        Column("status", not_null=True, check=one_of("status", DeliveryStatus)),
        Column("attempts", "int", not_null=True, default="0", check="attempts >= 0"),
        Column("last_status", "int"),
        Column("last_body"),
        Column("next_at", ordered=True),
        Column("lease_owner"),
        Column("lease_until", ordered=True),
        Column("created_at", not_null=True, ordered=True),
        Column("updated_at", not_null=True),
    ),
    unique=(("endpoint_id", "event_seq"),),
    indexes=(Index("webhook_deliveries_due", ("status", "next_at")),
             Index("webhook_deliveries_order", ("endpoint_id", "order_key", "event_seq"))),
)


# Every gateway webhook `listen` verified, by its `webhook-id`: the row is written in the
# transaction that acts on the event, so an id is acted on once by any number of
# listeners. `outcome`: applied (a PROCESSING payment or refund settled), agreed (the
# ledger already held that outcome), break (it held a final state the event contradicts:
# never rewritten, shown by `reconcile`), ignored (nothing of this ledger's). What the
# ledger held and what the gateway said are kept beside it.
GATEWAY_WEBHOOKS = Table(
    "gateway_webhooks",
    (
        Column("id", primary_key=True, ordered=True),
        Column("type", not_null=True),
        Column("entity_id", ordered=True),
        Column("outcome", not_null=True,
               check=one_of("outcome", ("applied", "agreed", "break", "ignored"))),
        Column("ledger_status"),
        Column("gateway_status"),
        Column("received_at", not_null=True, ordered=True),
    ),
    indexes=(Index("gateway_webhooks_outcome", ("outcome", "received_at")),),
)

# Summaries of the payments per UTC hour (v11), kept by triggers on `payments` in the
# transaction of each write (`summaries`): `stats` reads a window's whole hours here and
# only its first, partial hour from the payments. Derived rows: never copied by `db
# copy` (the target's triggers make them).
PAYMENT_HOURS = Table(
    "payment_hours",
    (
        Column("hour", not_null=True, ordered=True),
        Column("status", not_null=True),
        Column("currency", not_null=True),
        Column("gateway", not_null=True),
        Column("reason", not_null=True),
        Column("payments", "bigint", not_null=True),
        Column("amount", "bigint", not_null=True),
    ),
    unique=(("hour", "status", "currency", "gateway", "reason"),),
    derived=True,
)

# Charges timed per UTC hour, by whole milliseconds (v11): a latency histogram.
CHARGE_HOURS = Table(
    "charge_hours",
    (
        Column("hour", not_null=True, ordered=True),
        Column("ms", "bigint", not_null=True),
        Column("charges", "bigint", not_null=True),
    ),
    unique=(("hour", "ms"),),
    derived=True,
)

TABLES: tuple[Table, ...] = (ACCOUNTS, TRANSFERS, ENTRIES, EVENTS, IDEMPOTENCY, PAYMENTS,
                             REFUNDS, BREAKER, LIMITS, WEBHOOK_ENDPOINTS, WEBHOOK_DELIVERIES,
                             GATEWAY_WEBHOOKS, PAYMENT_HOURS, CHARGE_HOURS)
