"""Results of `limits set | show`: the limits an operator set, by scope and currency."""

from __future__ import annotations

from paycli.results.base import Result


class LimitEntry(Result):
    """A scope's limits of one currency: `scope` is a user id or `default` (`is_default`
    tells the default from a user named so); amounts are decimal strings, null when
    unlimited."""

    scope: str
    is_default: bool
    currency: str
    max_amount: str | None
    daily_amount: str | None
    daily_count: int | None
    updated_at: str


class LimitsList(Result):
    """`limits show` and `limits set`: the limits, by scope and currency."""

    limits: list[LimitEntry]
