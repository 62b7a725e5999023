"""The ledger's SQLite schema and its migrations.

`MIGRATIONS[n]` takes a ledger from schema version n to n + 1; `PRAGMA user_version` records
the version reached and `PRAGMA application_id` marks the file as a paycli ledger. The CHECK
constraints restate the ledger's invariants so that a bug in Python cannot break them:
a wallet never has a negative available balance, amounts are positive, the event log is
append-only.
"""

from __future__ import annotations

APPLICATION_ID = 0x70617963  # "payc"

_V1 = """
CREATE TABLE accounts (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('wallet', 'funding', 'clearing')),
    user_id    TEXT,
    currency   TEXT NOT NULL CHECK (length(currency) = 3),
    balance    INTEGER NOT NULL DEFAULT 0,
    held       INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0),
    updated_at TEXT NOT NULL,
    CHECK (kind <> 'wallet' OR balance - held >= 0),
    CHECK ((kind = 'wallet') = (user_id IS NOT NULL))
) STRICT;
CREATE UNIQUE INDEX accounts_owner ON accounts (kind, ifnull(user_id, ''), currency);

CREATE TABLE transfers (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('credit', 'payment', 'refund')),
    debit_account  INTEGER NOT NULL REFERENCES accounts (id),
    credit_account INTEGER NOT NULL REFERENCES accounts (id),
    amount         INTEGER NOT NULL CHECK (amount > 0),
    currency       TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'posted', 'voided')),
    reference      TEXT,
    created_at     TEXT NOT NULL,
    resolved_at    TEXT,
    CHECK (debit_account <> credit_account)
) STRICT;
CREATE INDEX transfers_created ON transfers (created_at);

CREATE TABLE entries (
    seq         INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    transfer_id TEXT NOT NULL REFERENCES transfers (id),
    type        TEXT NOT NULL,
    amount      INTEGER NOT NULL,
    balance     INTEGER NOT NULL,
    held        INTEGER NOT NULL,
    reference   TEXT,
    at          TEXT NOT NULL
) STRICT;
CREATE INDEX entries_account ON entries (account_id, seq);

CREATE TABLE events (
    seq            INTEGER PRIMARY KEY,
    type           TEXT NOT NULL,
    entity_id      TEXT NOT NULL,
    payload        TEXT NOT NULL,
    at             TEXT NOT NULL,
    correlation_id TEXT,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL
) STRICT;
CREATE INDEX events_entity ON events (entity_id, seq);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;

CREATE TABLE idempotency (
    key         TEXT PRIMARY KEY,
    command     TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    entity_id   TEXT,
    result      TEXT,
    exit_code   INTEGER,
    created_at  TEXT NOT NULL
) STRICT;

CREATE TABLE payments (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    currency        TEXT NOT NULL,
    amount          INTEGER NOT NULL CHECK (amount > 0),
    order_id        TEXT,
    idempotency_key TEXT,
    gateway_key     TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('PENDING', 'PROCESSING', 'COMPLETED',
                                                    'FAILED', 'PARTIALLY_REFUNDED', 'REFUNDED')),
    gateway_ref     TEXT,
    hold_id         TEXT,
    refunded        INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0),
    refund_reserved INTEGER NOT NULL DEFAULT 0 CHECK (refund_reserved >= 0),
    error_type      TEXT,
    error_message   TEXT,
    owner           TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    CHECK (refunded + refund_reserved <= amount)
) STRICT;
CREATE INDEX payments_created ON payments (created_at);
CREATE INDEX payments_user ON payments (user_id, created_at);
CREATE INDEX payments_status ON payments (status, created_at);

CREATE TABLE refunds (
    id              TEXT PRIMARY KEY,
    payment_id      TEXT NOT NULL REFERENCES payments (id),
    currency        TEXT NOT NULL,
    amount          INTEGER NOT NULL CHECK (amount > 0),
    reason          TEXT,
    idempotency_key TEXT,
    gateway_key     TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('PENDING', 'PROCESSING', 'COMPLETED',
                                                    'FAILED')),
    gateway_ref     TEXT,
    transfer_id     TEXT,
    error_type      TEXT,
    error_message   TEXT,
    owner           TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;
CREATE INDEX refunds_payment ON refunds (payment_id, created_at);
CREATE INDEX refunds_status ON refunds (status);

CREATE TABLE breaker (
    name          TEXT PRIMARY KEY,
    state         TEXT NOT NULL CHECK (state IN ('closed', 'open', 'half-open')),
    failures      INTEGER NOT NULL DEFAULT 0,
    opened_at     REAL,
    probe_started REAL
) STRICT;
"""

# `INSERT OR REPLACE` of an existing event deletes it without firing `events_no_delete`
# (recursive triggers are off), so it could rewrite the log in place: refuse it too.
_V2 = """
CREATE TRIGGER events_no_replace BEFORE INSERT ON events
WHEN EXISTS (SELECT 1 FROM events WHERE seq = NEW.seq)
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
"""

# Who acted: the OS user or PAYCLI_ACTOR, on every event from version 3 on. Older events
# have none, and their hashes (which cover the actor only when there is one) still verify.
_V3 = """
ALTER TABLE events ADD COLUMN actor TEXT;
"""

# Limits per wallet (`scope` a user id) or for every wallet (`scope` ''), per currency;
# `id` is `SCOPE/CURRENCY` (`*/USD` for the default), one key to stream and copy by. A
# NULL limit is no limit. Changed only with its `limits.set` event, like everything else.
_V4 = """
CREATE TABLE limits (
    id           TEXT PRIMARY KEY,
    scope        TEXT NOT NULL,
    currency     TEXT NOT NULL CHECK (length(currency) = 3),
    max_amount   INTEGER CHECK (max_amount > 0),
    daily_amount INTEGER CHECK (daily_amount > 0),
    daily_count  INTEGER CHECK (daily_count >= 0),
    updated_at   TEXT NOT NULL,
    UNIQUE (scope, currency)
) STRICT;
"""

# An order's payment attempts (round 3): an order may be tried again once every attempt
# FAILED, so several payments may share an order id, but at most one of them is ever past
# FAILED (PENDING, PROCESSING, COMPLETED or refunded): the ledger itself refuses a second
# live attempt, whatever process or host writes it. The plain index finds an order's
# attempts, oldest first.
_V5 = """
CREATE INDEX payments_order ON payments (order_id, created_at) WHERE order_id IS NOT NULL;
CREATE UNIQUE INDEX payments_one_live_attempt ON payments (order_id)
WHERE order_id IS NOT NULL AND status <> 'FAILED';
"""

MIGRATIONS: list[str] = [_V1, _V2, _V3, _V4, _V5]
SCHEMA_VERSION = len(MIGRATIONS)
