"""Limits: the largest single payment, and the amount and count of payments per UTC day,
per wallet and currency or as a default for every wallet.

    set_limits  change a scope's limits (a user, or the default), with its `limits.set`
                event (the actor recorded like every event's)
    judge       a payment against the limits that apply to it and the day's usage, or
                `LimitExceeded`
    listing     the limits set, as the contract's `limits show` object

Which limit applies: each of the three separately, the wallet's own where it has one set,
else the default's. A day's usage counts the wallet's payments of that currency created
since 00:00 UTC that hold or took money (they have a hold and are not FAILED).

Invariants: limits live in the ledger, so every process and host enforces the same ones;
a payment is judged inside the transaction that opens it and places its hold
(CheckWalletBalance), where writers are serialised, so concurrent payments can never
together pass a daily limit, and a refused payment writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from paycli.errors import LimitExceeded
from paycli.money import Money, format_minor
from paycli.records import Limits
from paycli.results.limits import LimitEntry, LimitsList
from paycli.store import Reader, Store

DEFAULT = ""  # the scope of the default limits
UNSET = object()  # an option not given: the limit stays as it was


def set_limits(store: Store, scope: str, currency: str, max_amount: object = UNSET,
               daily_amount: object = UNSET, daily_count: object = UNSET) -> LimitsList:
    """Change the limits of `scope` (a user id, or `DEFAULT`) in `currency`: each given
    value (minor units or a count; None removes that limit) replaces the old one."""
    with store.transaction(f"limits:{scope or 'default'}") as tx:
        old = tx.limits_of(scope, currency)[0]  # for the default scope, the default
        values = [_new(given, getattr(old, name) if old else None) for given, name in (
            (max_amount, "max_amount"), (daily_amount, "daily_amount"),
            (daily_count, "daily_count"))]
        tx.set_limits(scope, currency, *values)
        tx.append_event("limits.set", f"limits:{scope or '*'}/{currency}", {
            "scope": scope, "currency": currency, "max_amount": values[0],
            "daily_amount": values[1], "daily_count": values[2]})
        changed = tx.limits(scope)
    return LimitsList(limits=[_entry(row) for row in changed if row.currency == currency])


def _new(given: object, old: int | None) -> int | None:
    if given is UNSET:
        return old
    assert given is None or isinstance(given, int)
    return given


def listing(reader: Reader, user: str | None = None) -> LimitsList:
    """The limits set: all of them, or those that concern one user (theirs and the
    default)."""
    rows = reader.limits() if user is None else [*reader.limits(user), *reader.limits(DEFAULT)]
    return LimitsList(limits=[_entry(row) for row in rows])


def _entry(row: Limits) -> LimitEntry:
    def amount(minor: int | None) -> str | None:
        return None if minor is None else format_minor(minor, row.currency)

    return LimitEntry(scope=row.scope or "default", is_default=not row.scope,
                      currency=row.currency, max_amount=amount(row.max_amount),
                      daily_amount=amount(row.daily_amount), daily_count=row.daily_count,
                      updated_at=row.updated_at)


def day_start(now: datetime | None = None) -> str:
    """00:00 UTC of today (or of `now`), as the ledger writes times."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0).isoformat()


class Usage:
    """The limits that apply to one wallet and currency and what it used today: read once,
    then counted on as payments are accepted (a billing run judges many payments of one
    wallet in one transaction, before any of them is written)."""

    def __init__(self, own: Limits | None, default: Limits | None,
                 used: Callable[[], tuple[int, int]]) -> None:
        self.own, self.default = own, default
        self._used = used
        self._today: tuple[int, int] | None = None

    @classmethod
    def of(cls, reader: Reader, user: str, currency: str) -> Usage:
        """A wallet's limits and usage as the ledger stands."""
        own, default = reader.limits_of(user, currency)
        return cls(own, default, lambda: reader.day_usage(user, currency, day_start(), None))

    def today(self) -> tuple[int, int]:
        """Payments made today and their sum (read on first need)."""
        if self._today is None:
            self._today = self._used()
        return self._today

    def add(self, minor: int) -> None:
        """One more payment of `minor` accepted today."""
        count, spent = self.today()
        self._today = (count + 1, spent + minor)


def judge(usage: Usage, user: str, money: Money) -> None:
    """Refuse (`LimitExceeded`) a payment of `money` by `user` over a limit that applies,
    against the limits and the day's usage in `usage`."""
    own, default = usage.own, usage.default
    if own is None and default is None:
        return
    single = _applying("max_amount", own, default)
    if single is not None and money.minor > single[0]:
        raise LimitExceeded(f"{money.text} {money.currency} is above {single[1]} single-payment "
                            f"limit of {_money(single[0], money.currency)}")
    daily_amount = _applying("daily_amount", own, default)
    daily_count = _applying("daily_count", own, default)
    if daily_amount is None and daily_count is None:
        return
    count, spent = usage.today()
    if daily_count is not None and count + 1 > daily_count[0]:
        raise LimitExceeded(f"{user} has made {count} payments in {money.currency} today "
                            f"(UTC), and {daily_count[1]} daily limit is {daily_count[0]}: "
                            "none left today")
    if daily_amount is not None and spent + money.minor > daily_amount[0]:
        left = max(daily_amount[0] - spent, 0)
        raise LimitExceeded(f"{money.text} {money.currency} is over {daily_amount[1]} daily "
                            f"limit of {_money(daily_amount[0], money.currency)}: "
                            f"{_money(left, money.currency)} left today (UTC)")


def _applying(name: str, own: Limits | None, default: Limits | None
              ) -> tuple[int, str] | None:
    """The value of one limit that applies, and whose it is (for the message)."""
    if own is not None and getattr(own, name) is not None:
        return getattr(own, name), f"{own.scope}'s"
    if default is not None and getattr(default, name) is not None:
        return getattr(default, name), "the default"
    return None


def _money(minor: int, currency: str) -> str:
    return f"{format_minor(minor, currency)} {currency}"
