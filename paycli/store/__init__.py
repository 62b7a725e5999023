"""The ledger database: the only place of paycli with SQL.

    base        `Store`: the ledger whatever its engine; picks the backend from `--db`
    sqlite      `SqliteStore`: opens (creates, migrates) a ledger file; read snapshots and
                `BEGIN IMMEDIATE` write transactions
    connection  the file's path, permissions and pragmas; waiting out a busy database
    describe    the words a table is described in, and how each engine spells one
    identity    what marks a database as a paycli ledger, and the schema version kept
    tables      the one description of the ledger's tables: columns, types, checks,
                indexes, and what replay-events rebuilds and compares of each
    schema      SQLite's DDL of a new ledger, made from `tables`, its append-only
                triggers, and the migrations from older ledgers
    postgres    `PostgresStore`: the same ledger on PostgreSQL, shared by many hosts
    pg_connection  its connection: `?` statements, writes sent with the next answer, rows
                by COPY and many-row updates in one statement
    pg_schema   PostgreSQL's DDL made from `tables`, its triggers, migrations and its
                paycli marker
    sql         what the shared queries need of a connection (either engine's)
    reads       `Reader`: every read query, in the SQL both engines share
    groupreads  its reads of many rows at once (by lists of keys), and the reads an
                opening or a settling starts with, sent together
    writes      `Tx`: every write, each state change with its hash-chained event
    hashing     canonical JSON and the event hash the chain is built from
    breaker     the shared circuit breaker's row (compare-and-set probe)
    replay      `replay-events`' scratch rebuild beside the ledger attached read-only
    comparisons  what the replay rebuilds and compares, made from `tables`
    copy        `db copy`: a ledger's rows, events and all, into an empty ledger
    backup      `backup`: SQLite's online copy into a private file, published by rename
    spool       `reconcile`'s scratch file: a report sorted by payment id, and its breaks
    stats       the grouped reads behind stats, metrics and events tail
    summaries   the hourly summary rows of the payments, kept by triggers, stats reads
    webhooks    merchant endpoints, their deliveries and the lease one sender holds
    inbound     the gateway webhooks `listen` acted on: each id taken once, the breaks

Invariants: nothing outside this package runs SQL (the bench's raw baseline is the one
named exception: it measures the engine itself, so it must not go through paycli); nothing
here talks to the network (but to its PostgreSQL server) or the terminal. Both backends
offer the same `Store`, `Reader` and `Tx` and keep the same ledger: the same events, the
same hash chain, the same errors.
"""

# Each backend registers itself with `Store` by subclassing it, its module loaded when a
# ledger of its engine is first opened (`base.ENGINES`).
from paycli.store.base import Store
from paycli.store.breaker import BreakerStore
from paycli.store.reads import Reader
from paycli.store.writes import Tx

__all__ = ["BreakerStore", "Reader", "Store", "Tx"]
