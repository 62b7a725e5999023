"""The summary rows `stats` reads whole hours from, kept by triggers on `payments` in the
transaction of every write of a payment, whichever path, process or host writes it.

`payment_hours` counts the payments created in each UTC hour (the first 13 characters of
`created_at`) by status, currency, gateway and decline reason (the `error_type` of a
FAILED payment, `unknown` without one; empty for every other status), with the exact
integer sum of their amounts. `charge_hours` counts the charges timed in each UTC hour
(of `charged_at`) by whole milliseconds (`floor(charge_ms)`): the histogram a latency
percentile is found in before its exact value is read along `payments_charge`.

Invariants:
- A change of a payment is one row out (its old key, -1 and -amount) and one row in (its
  new key): the rows always equal a grouping of `payments`, which migration 11 filled
  them with; `replay-events` checks it (`checks`), beside the payments' own comparison
  with the replayed ones.
- A key whose count came down to 0 keeps its row (the reads skip it): a write never
  deletes, so concurrent writers only ever add to a row.
- SQLite's triggers run for each row (`count_payment`, `count_charge`); PostgreSQL's,
  since schema 12, once per statement over its transition tables (`count_payments`,
  `count_charges`): a group of 256 payments moves each summary row it touches once, not
  256 times. Both keep the same rows; only `floor` is spelled per engine.
"""

from __future__ import annotations

from typing import NamedTuple

from paycli.store.describe import Engine

PAYMENT_KEY = ("hour", "status", "currency", "gateway", "reason")
# The columns of `payments` a payment's summary key or amount is made of.
PAYMENT_SOURCES = ("status", "error_type", "gateway", "currency", "amount", "created_at")
CHARGE_SOURCES = ("charge_ms", "charged_at")

# Whole milliseconds of a charge time (never negative), as each engine spells floor.
FLOOR = {"sqlite": "CAST({} AS INTEGER)", "postgresql": "floor({})::bigint"}


def changed(columns: tuple[str, ...], differ: str) -> str:
    """The condition that an UPDATE changed one of `columns` (`differ`: each engine's
    null-safe "not equal", `IS NOT` or `IS DISTINCT FROM`): a write that rewrites them
    unchanged moves no summary row."""
    return " OR ".join(f"OLD.{column} {differ} NEW.{column}" for column in columns)


def reason(row: str) -> str:
    """The decline reason of `row` (NEW, OLD or a table), as `payment_hours` keys it."""
    prefix = f"{row}." if row else ""
    return (f"CASE WHEN {prefix}status = 'FAILED' THEN coalesce({prefix}error_type, "
            f"'unknown') ELSE '' END")


def count_payment(row: str, sign: str) -> str:
    """The upsert adding `row` (NEW or OLD) to its hour's summary, `sign` `+` or `-`."""
    return (f"INSERT INTO payment_hours (hour, status, currency, gateway, reason, payments, "
            f"amount) VALUES (substr({row}.created_at, 1, 13), {row}.status, "
            f"{row}.currency, {row}.gateway, {reason(row)}, {sign}1, {sign}{row}.amount) "
            f"ON CONFLICT ({', '.join(PAYMENT_KEY)}) DO UPDATE SET "
            "payments = payment_hours.payments + excluded.payments, "
            "amount = payment_hours.amount + excluded.amount")


def count_charge(row: str, sign: str, engine: Engine) -> str:
    """The upsert adding `row`'s charge time, if it has one, to its hour's histogram."""
    whole = FLOOR[engine].format(f"{row}.charge_ms")
    return (f"INSERT INTO charge_hours (hour, ms, charges) SELECT "
            f"substr({row}.charged_at, 1, 13), {whole}, {sign}1 "
            f"WHERE {row}.charge_ms IS NOT NULL AND {row}.charged_at IS NOT NULL "
            "ON CONFLICT (hour, ms) DO UPDATE SET charges = charge_hours.charges + "
            "excluded.charges")


def count_payments(sides: tuple[tuple[str, str], ...]) -> str:
    """The upsert adding whole tables of payments to their hours' summaries, grouped:
    each side a table (a statement trigger's transition table) and its sign, `+` or `-`.
    A key whose changes cancel out (a row rewritten unchanged) is left alone."""
    moved = " UNION ALL ".join(
        f"SELECT substr(created_at, 1, 13), status, currency, gateway, {reason('')}, "
        f"{sign}1, {sign}amount FROM {table}" for table, sign in sides)
    return (f"INSERT INTO payment_hours ({', '.join(PAYMENT_KEY)}, payments, amount) "
            f"SELECT {', '.join(PAYMENT_KEY)}, sum(n), sum(amount) FROM ({moved}) AS moved "
            f"({', '.join(PAYMENT_KEY)}, n, amount) GROUP BY 1, 2, 3, 4, 5 "
            "HAVING sum(n) <> 0 OR sum(amount) <> 0 "
            f"ON CONFLICT ({', '.join(PAYMENT_KEY)}) DO UPDATE SET "
            "payments = payment_hours.payments + excluded.payments, "
            "amount = payment_hours.amount + excluded.amount")


def count_charges(sides: tuple[tuple[str, str], ...], engine: Engine) -> str:
    """`count_payments` for the charge times' histogram."""
    whole = FLOOR[engine].format("charge_ms")
    timed = " UNION ALL ".join(
        f"SELECT substr(charged_at, 1, 13), {whole}, {sign}1 FROM {table} "
        "WHERE charge_ms IS NOT NULL AND charged_at IS NOT NULL" for table, sign in sides)
    return ("INSERT INTO charge_hours (hour, ms, charges) SELECT hour, ms, sum(n) FROM "
            f"({timed}) AS timed (hour, ms, n) GROUP BY 1, 2 HAVING sum(n) <> 0 "
            "ON CONFLICT (hour, ms) DO UPDATE SET charges = charge_hours.charges + "
            "excluded.charges")


def backfill(engine: Engine) -> str:
    """The rows of both summaries, from the payments already in the ledger."""
    return (f"INSERT INTO payment_hours ({', '.join(PAYMENT_KEY)}, payments, amount) "
            f"SELECT substr(created_at, 1, 13), status, currency, gateway, {reason('')}, "
            "count(*), sum(amount) FROM payments GROUP BY 1, 2, 3, 4, 5;\n"
            "INSERT INTO charge_hours (hour, ms, charges) SELECT substr(charged_at, 1, 13), "
            f"{FLOOR[engine].format('charge_ms')}, count(*) FROM payments "
            "WHERE charge_ms IS NOT NULL AND charged_at IS NOT NULL GROUP BY 1, 2;\n")


class Check(NamedTuple):
    """One summary table checked against the payments it summarises: its key columns and
    counted fields, the summary's rows and the same grouping made from the payments."""

    entity: str
    keys: tuple[str, ...]
    fields: tuple[str, ...]
    stored: str
    derived: str


def checks(prefix: str, engine: Engine) -> tuple[Check, ...]:
    """Both summaries' checks, their tables named with `prefix` (`stored.` where the
    ledger is attached beside the replay)."""
    whole = FLOOR[engine].format("charge_ms")
    return (
        Check("payment_hour", PAYMENT_KEY, ("payments", "amount"),
              f"SELECT {', '.join(PAYMENT_KEY)}, payments, amount FROM "
              f"{prefix}payment_hours WHERE payments <> 0 OR amount <> 0",
              f"SELECT substr(created_at, 1, 13), status, currency, gateway, {reason('')}, "
              f"count(*), sum(amount) FROM {prefix}payments GROUP BY 1, 2, 3, 4, 5"),
        Check("charge_hour", ("hour", "ms"), ("charges",),
              f"SELECT hour, ms, charges FROM {prefix}charge_hours WHERE charges <> 0",
              f"SELECT substr(charged_at, 1, 13), {whole}, count(*) FROM {prefix}payments "
              "WHERE charge_ms IS NOT NULL AND charged_at IS NOT NULL GROUP BY 1, 2"),
    )
