"""The ledger's SQLite schema: a new ledger's DDL, made from the one description of the
tables (`tables`), and the migrations that bring an older ledger to it.

`PRAGMA user_version` records the schema version reached and `PRAGMA application_id` marks
the file as a paycli ledger. A new file (version 0) is created from `TABLES` at once;
`MIGRATIONS[n]` takes a ledger from version n - 1 to n, explicit SQL that never changes
once released. Both ends meet: a migrated ledger and a new one have the same schema, which
tests/test_migrations.py checks table by table.

The CHECK constraints restate the ledger's invariants so that a bug in Python cannot break
them: a wallet never has a negative available balance, amounts are positive, the event log
is append-only. Every table is STRICT: a value of the wrong type is refused, not stored.

To change the schema: edit `tables`, then add the step here (`MIGRATIONS[n + 1]`) and the
same step in `pg_schema`, and move `identity.SCHEMA_VERSION`; the comparison test shows
whether they agree. Opening an up-to-date ledger never loads this module.
"""

from __future__ import annotations

import functools
from typing import Any

from paycli.errors import LedgerCorrupt
from paycli.store import summaries
from paycli.store.describe import APPEND_ONLY, Dialect, Table, create_index, create_table
from paycli.store.identity import SCHEMA_VERSION
from paycli.store.tables import TABLES

SQLITE = Dialect("sqlite", {"text": "TEXT", "int": "INTEGER", "bigint": "INTEGER",
                            "real": "REAL"},
                 identity="PRIMARY KEY",  # an INTEGER PRIMARY KEY is numbered by SQLite
                 ordered="",  # SQLite's BINARY collation already orders byte by byte
                 table_suffix=" STRICT")

_REFUSE = f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END;\n"


def _append_only(table: Table) -> str:
    """Triggers refusing UPDATE, DELETE and REPLACE of a row.

    `INSERT OR REPLACE` of an existing row deletes it without firing the DELETE trigger
    (recursive triggers are off), so it could rewrite the log in place: refused too.
    """
    name, key = table.name, table.key
    return (f"CREATE TRIGGER {name}_no_update BEFORE UPDATE ON {name}\n{_REFUSE}"
            f"CREATE TRIGGER {name}_no_delete BEFORE DELETE ON {name}\n{_REFUSE}"
            f"CREATE TRIGGER {name}_no_replace BEFORE INSERT ON {name}\n"
            f"WHEN EXISTS (SELECT 1 FROM {name} WHERE {key} = NEW.{key})\n{_REFUSE}")


def _create(table: Table) -> str:
    script = create_table(table, SQLITE)
    script += "".join(create_index(table, index) for index in table.indexes)
    return script + (_append_only(table) if table.append_only else "")


def _summary_triggers() -> str:
    """The triggers keeping `summaries`' rows in step with every write of a payment (an
    UPDATE only when it changed what a summary is made of)."""
    payments, charges = summaries.PAYMENT_SOURCES, summaries.CHARGE_SOURCES
    out, into = summaries.count_payment("OLD", "-"), summaries.count_payment("NEW", "+")
    gone = summaries.count_charge("OLD", "-", "sqlite")
    made = summaries.count_charge("NEW", "+", "sqlite")
    return (f"CREATE TRIGGER payments_hours_insert AFTER INSERT ON payments\n"
            f"BEGIN {into}; END;\n"
            f"CREATE TRIGGER payments_charge_insert AFTER INSERT ON payments\n"
            f"WHEN NEW.charge_ms IS NOT NULL BEGIN {made}; END;\n"
            f"CREATE TRIGGER payments_hours_update AFTER UPDATE OF {', '.join(payments)} "
            f"ON payments\nWHEN {summaries.changed(payments, 'IS NOT')}\n"
            f"BEGIN {out}; {into}; END;\n"
            f"CREATE TRIGGER payments_charge_update AFTER UPDATE OF {', '.join(charges)} "
            f"ON payments\nWHEN {summaries.changed(charges, 'IS NOT')}\n"
            f"BEGIN {gone}; {made}; END;\n"
            f"CREATE TRIGGER payments_hours_delete AFTER DELETE ON payments\n"
            f"BEGIN {out}; {gone}; END;\n")


@functools.cache
def create_script() -> str:
    """A new ledger's whole schema, at `SCHEMA_VERSION`."""
    return "\n".join(_create(table) for table in TABLES) + _summary_triggers()


# Version 1 created the tables (tests/old_ledgers.py keeps its script, to make such a
# ledger); each step below is the SQL that took a ledger one version further.

# Version 2 closed `INSERT OR REPLACE` on events (see `_append_only`).
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

# Limits per wallet or for every wallet, per currency (see `tables.LIMITS`).
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

# The owner index in the spelling of the shared queries (`coalesce`, as on PostgreSQL):
# SQLite matches an expression index only to the same expression, and `ifnull` left the
# account lookup searching every account of a kind.
_V5 = """
DROP INDEX accounts_owner;
CREATE UNIQUE INDEX accounts_owner ON accounts (kind, coalesce(user_id, ''), currency);
"""

# An order's payment attempts (round 3): an order may be tried again once every attempt
# FAILED, so several payments may share an order id, but at most one of them is ever past
# FAILED (PENDING, PROCESSING, COMPLETED or refunded): the ledger itself refuses a second
# live attempt, whatever process or host writes it. The plain index finds an order's
# attempts, oldest first.
_V6 = """
CREATE INDEX payments_order ON payments (order_id, created_at) WHERE order_id IS NOT NULL;
CREATE UNIQUE INDEX payments_one_live_attempt ON payments (order_id)
WHERE order_id IS NOT NULL AND status <> 'FAILED';
"""

# Merchant endpoints for paycli's own events and their deliveries (see `tables`).
_V7 = """
CREATE TABLE webhook_endpoints (
    id         TEXT PRIMARY KEY,
    url        TEXT NOT NULL,
    events     TEXT NOT NULL,
    secret     TEXT NOT NULL,
    cursor     INTEGER NOT NULL DEFAULT 0 CHECK (cursor >= 0),
    created_at TEXT NOT NULL,
    removed_at TEXT
) STRICT;
CREATE TABLE webhook_deliveries (
    id          TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id),
    event_seq   INTEGER NOT NULL,
    event_id    TEXT NOT NULL,
    type        TEXT NOT NULL,
    order_key   TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'failed', 'dead', 'delivered')),
    attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_status INTEGER,
    last_body   TEXT,
    next_at     TEXT,
    lease_owner TEXT,
    lease_until TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (endpoint_id, event_seq)
) STRICT;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_at);
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (endpoint_id, order_key, event_seq);
"""

# Gateway webhooks received by `paycli listen` (see `tables.GATEWAY_WEBHOOKS`).
_V8 = """
CREATE TABLE gateway_webhooks (
    id             TEXT PRIMARY KEY,
    type           TEXT NOT NULL,
    entity_id      TEXT,
    outcome        TEXT NOT NULL CHECK (outcome IN ('applied', 'agreed', 'break', 'ignored')),
    ledger_status  TEXT,
    gateway_status TEXT,
    received_at    TEXT NOT NULL
) STRICT;
CREATE INDEX gateway_webhooks_outcome ON gateway_webhooks (outcome, received_at);
"""

# Each payment names its gateway; every earlier payment went to the single one, `default`.
_V9 = """
ALTER TABLE payments ADD COLUMN gateway TEXT NOT NULL DEFAULT 'default';
"""

# Each payment's charge time and when it was recorded (see `tables.PAYMENTS`), filled
# from the settle events already written: the ProcessPayment step of the first one that
# carries a duration, as `replay-events` derives it.
_V10 = """
ALTER TABLE payments ADD COLUMN charge_ms REAL;
ALTER TABLE payments ADD COLUMN charged_at TEXT;
UPDATE payments SET charge_ms = charged.ms, charged_at = charged.at FROM (
    SELECT e.entity_id AS id, json_extract(step.value, '$.duration_ms') AS ms, e.at AS at,
           row_number() OVER (PARTITION BY e.entity_id ORDER BY e.seq, step.key) AS n
    FROM events e, json_each(e.payload, '$.steps') step
    WHERE e.type IN ('payment.completed', 'payment.failed', 'payment.unresolved')
      AND json_type(e.payload, '$.steps') = 'array'
      AND json_extract(step.value, '$.name') = 'ProcessPayment'
      AND json_type(step.value, '$.duration_ms') IN ('integer', 'real')
) AS charged
WHERE charged.n = 1 AND payments.id = charged.id;
CREATE INDEX payments_charge ON payments (charge_ms, charged_at) WHERE charge_ms IS NOT NULL;
"""

# Summary rows per UTC hour that `stats` reads whole hours from (see `summaries`),
# filled from the payments already there, then kept by triggers.
_V11 = """
CREATE TABLE payment_hours (
    hour     TEXT NOT NULL,
    status   TEXT NOT NULL,
    currency TEXT NOT NULL,
    gateway  TEXT NOT NULL,
    reason   TEXT NOT NULL,
    payments INTEGER NOT NULL,
    amount   INTEGER NOT NULL,
    UNIQUE (hour, status, currency, gateway, reason)
) STRICT;
CREATE TABLE charge_hours (
    hour    TEXT NOT NULL,
    ms      INTEGER NOT NULL,
    charges INTEGER NOT NULL,
    UNIQUE (hour, ms)
) STRICT;
CREATE INDEX payments_charged ON payments (charged_at) WHERE charge_ms IS NOT NULL;
""" + summaries.backfill("sqlite") + _summary_triggers()

# PostgreSQL's summary triggers became one call per statement (`pg_schema`); SQLite has
# no statement triggers with the rows they wrote, so its stay one call per row.
_V12 = ""

MIGRATIONS: dict[int, str] = {2: _V2, 3: _V3, 4: _V4, 5: _V5, 6: _V6, 7: _V7, 8: _V8,
                              9: _V9, 10: _V10, 11: _V11, 12: _V12}
assert max(MIGRATIONS) == SCHEMA_VERSION, "a new step moves `identity.SCHEMA_VERSION`"


# Before schema 6 nothing stopped two live payments for one order (two hand-given keys
# could make them); its unique index cannot be built over such a ledger.
_LIVE_TWINS = """
SELECT order_id, id FROM payments
WHERE status <> 'FAILED' AND order_id IN (
    SELECT order_id FROM payments WHERE order_id IS NOT NULL AND status <> 'FAILED'
    GROUP BY order_id HAVING count(*) > 1)
ORDER BY order_id, created_at
"""


def refuse_live_twins(conn: Any, version: int, where: str) -> None:
    """Before migrating a ledger older than schema 6: a clear refusal (nothing changed)
    if an order has more than one payment that is not FAILED, naming them and what to do,
    rather than the unique index's integrity error."""
    if version == 0 or version >= 6:
        return
    twins: dict[str, list[str]] = {}
    for order_id, payment_id in conn.execute(_LIVE_TWINS).fetchall():
        twins.setdefault(str(order_id), []).append(str(payment_id))
    if twins:
        order, ids = next(iter(twins.items()))
        more = f" (and {len(twins) - 1} more orders like it)" if len(twins) > 1 else ""
        raise LedgerCorrupt(
            f"--db {where}: cannot upgrade this ledger to schema {SCHEMA_VERSION}: order "
            f"{order} has {len(ids)} payments that are not FAILED ({', '.join(ids)}){more}, "
            "and an order may have one live attempt; settle the extra ones with the paycli "
            "that made them (`paycli payments resolve`), then open the ledger again")


def upgrade(version: int) -> list[str]:
    """The scripts that take a ledger at `version` (0: a new file) to `SCHEMA_VERSION`."""
    if version == 0:
        return [create_script()]
    return [MIGRATIONS[step] for step in range(version + 1, SCHEMA_VERSION + 1)]
