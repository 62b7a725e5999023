"""The ledger database: the only place of paycli with SQL.

    sqlite      `Store`: opens (creates, migrates) a ledger file; read snapshots and
                `BEGIN IMMEDIATE` write transactions
    connection  the file's path, permissions and pragmas; waiting out a busy database
    schema      the tables, their CHECK constraints and triggers, and the migrations
    reads       `Reader`: every read query (sqlite-utils for the filtered listings)
    writes      `Tx`: every write, each state change with its hash-chained event
    hashing     canonical JSON and the event hash the chain is built from
    breaker     the shared circuit breaker's row (compare-and-set probe)
    replay      `replay-events`' in-memory rebuild beside the ledger attached read-only

Invariants: nothing outside this package runs SQL (the bench's raw baseline is the one
named exception: it measures SQLite itself, so it must not go through paycli); nothing
here talks to the network or the terminal. A second backend is one more module offering
the same `Store`, `Reader` and `Tx` methods.
"""

from paycli.store.breaker import BreakerStore
from paycli.store.reads import Reader
from paycli.store.sqlite import Store
from paycli.store.writes import Tx

__all__ = ["BreakerStore", "Reader", "Store", "Tx"]
