"""Ledgers as earlier releases of paycli left them, to prove that they still open and
migrate: schema version 1 exactly as it was released on each engine, then paycli's own
migration steps up to the version asked for, with that version recorded as the release did.

The version-1 scripts are history: they must never change (a ledger made by that release
has exactly these tables), so they live here, beside the tests, and no longer in paycli,
which creates a new ledger from its description of the tables (`paycli.store.tables`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg

from paycli.store import pg_schema, schema
from paycli.store.identity import APPLICATION_ID
from paycli.store.sqlite import run_script

SQLITE_V1 = """
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

POSTGRES_V1 = """
CREATE TABLE paycli_ledger (
    application_id BIGINT NOT NULL,
    schema_version INTEGER NOT NULL,
    singleton      BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton)
);
CREATE TABLE accounts (
    id         BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('wallet', 'funding', 'clearing')),
    user_id    TEXT COLLATE "C",
    currency   TEXT NOT NULL CHECK (length(currency) = 3),
    balance    BIGINT NOT NULL DEFAULT 0,
    held       BIGINT NOT NULL DEFAULT 0 CHECK (held >= 0),
    updated_at TEXT NOT NULL,
    CHECK (kind <> 'wallet' OR balance - held >= 0),
    CHECK ((kind = 'wallet') = (user_id IS NOT NULL))
);
CREATE UNIQUE INDEX accounts_owner ON accounts (kind, coalesce(user_id, ''), currency);
CREATE TABLE transfers (
    id             TEXT COLLATE "C" PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('credit', 'payment', 'refund')),
    debit_account  BIGINT NOT NULL REFERENCES accounts (id),
    credit_account BIGINT NOT NULL REFERENCES accounts (id),
    amount         BIGINT NOT NULL CHECK (amount > 0),
    currency       TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'posted', 'voided')),
    reference      TEXT,
    created_at     TEXT COLLATE "C" NOT NULL,
    resolved_at    TEXT,
    CHECK (debit_account <> credit_account)
);
CREATE INDEX transfers_created ON transfers (created_at);
CREATE TABLE entries (
    seq         BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES accounts (id),
    transfer_id TEXT NOT NULL REFERENCES transfers (id),
    type        TEXT NOT NULL,
    amount      BIGINT NOT NULL,
    balance     BIGINT NOT NULL,
    held        BIGINT NOT NULL,
    reference   TEXT,
    at          TEXT NOT NULL
);
CREATE INDEX entries_account ON entries (account_id, seq);
CREATE TABLE events (
    seq            BIGINT PRIMARY KEY CHECK (seq > 0),
    type           TEXT NOT NULL,
    entity_id      TEXT COLLATE "C" NOT NULL,
    payload        TEXT NOT NULL,
    at             TEXT NOT NULL,
    correlation_id TEXT,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL
);
CREATE INDEX events_entity ON events (entity_id, seq);
CREATE FUNCTION paycli_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the event log is append-only'; END $$;
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
FOR EACH ROW EXECUTE FUNCTION paycli_append_only();
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
FOR EACH ROW EXECUTE FUNCTION paycli_append_only();
CREATE TABLE idempotency (
    key         TEXT COLLATE "C" PRIMARY KEY,
    command     TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    entity_id   TEXT,
    result      TEXT,
    exit_code   INTEGER,
    created_at  TEXT NOT NULL
);
CREATE TABLE payments (
    id              TEXT COLLATE "C" PRIMARY KEY,
    user_id         TEXT COLLATE "C" NOT NULL,
    currency        TEXT NOT NULL,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    order_id        TEXT,
    idempotency_key TEXT,
    gateway_key     TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('PENDING', 'PROCESSING', 'COMPLETED',
                                                    'FAILED', 'PARTIALLY_REFUNDED', 'REFUNDED')),
    gateway_ref     TEXT,
    hold_id         TEXT,
    refunded        BIGINT NOT NULL DEFAULT 0 CHECK (refunded >= 0),
    refund_reserved BIGINT NOT NULL DEFAULT 0 CHECK (refund_reserved >= 0),
    error_type      TEXT,
    error_message   TEXT,
    owner           TEXT,
    created_at      TEXT COLLATE "C" NOT NULL,
    updated_at      TEXT NOT NULL,
    CHECK (refunded + refund_reserved <= amount)
);
CREATE INDEX payments_created ON payments (created_at);
CREATE INDEX payments_user ON payments (user_id, created_at);
CREATE INDEX payments_status ON payments (status, created_at);
CREATE TABLE refunds (
    id              TEXT COLLATE "C" PRIMARY KEY,
    payment_id      TEXT COLLATE "C" NOT NULL REFERENCES payments (id),
    currency        TEXT NOT NULL,
    amount          BIGINT NOT NULL CHECK (amount > 0),
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
    created_at      TEXT COLLATE "C" NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX refunds_payment ON refunds (payment_id, created_at);
CREATE INDEX refunds_status ON refunds (status);
CREATE TABLE breaker (
    name          TEXT PRIMARY KEY,
    state         TEXT NOT NULL CHECK (state IN ('closed', 'open', 'half-open')),
    failures      INTEGER NOT NULL DEFAULT 0,
    opened_at     DOUBLE PRECISION,
    probe_started DOUBLE PRECISION
);
"""


def sqlite_ledger(path: Path, version: int) -> None:
    """Make at `path` a SQLite ledger of schema `version`, as the release of it did."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        run_script(conn, SQLITE_V1)
        for step in range(2, version + 1):
            run_script(conn, schema.MIGRATIONS[step])
        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version={version}")
        conn.execute("COMMIT")
    finally:
        conn.close()


def postgres_ledger(url: str, version: int) -> None:
    """Make in the empty database at `url` a PostgreSQL ledger of schema `version`."""
    with psycopg.connect(url) as conn:
        conn.execute(POSTGRES_V1.encode())
        for step in range(2, version + 1):
            if pg_schema.MIGRATIONS[step]:
                conn.execute(pg_schema.MIGRATIONS[step].encode())
        conn.execute("INSERT INTO paycli_ledger (application_id, schema_version) "
                     "VALUES (%s, %s)", (APPLICATION_ID, version))
