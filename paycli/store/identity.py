"""What marks a database as a paycli ledger, and the schema version this paycli keeps.

Every open of a ledger checks these two numbers; only a ledger being created or migrated
needs its DDL (`schema`, `pg_schema`), so opening an up-to-date ledger never builds it.
`schema.MIGRATIONS` and `pg_schema.MIGRATIONS` end at `SCHEMA_VERSION`: each module checks
it when it is loaded.
"""

APPLICATION_ID = 0x70617963  # "payc": SQLite's `PRAGMA application_id`, PostgreSQL's marker
SCHEMA_VERSION = 12  # the last step of the migrations
