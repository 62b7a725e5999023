"""Results of `wallet credit | balance | history`."""

from __future__ import annotations

from pydantic import Field

from paycli.results.base import Result


class WalletCredit(Result):
    """`wallet credit`."""

    user: str
    currency: str
    amount: str
    balance: str
    transaction_id: str


class WalletBalance(Result):
    """`wallet balance`: `balance = available + held` (all zero for a wallet that was never
    credited, which the human view says; `exists` is not part of the JSON)."""

    user: str
    currency: str
    balance: str
    available: str
    held: str
    exists: bool = Field(default=True, exclude=True)


class HistoryEntry(Result):
    """One statement line of `wallet history`: `amount` is how much the line moved the
    balance (0 for a `hold` or `release`, which move held money only), so the amounts add up
    to the balance; `balance`, `available` and `held` are the wallet's after the line."""

    at: str
    type: str
    amount: str
    balance: str
    available: str
    held: str
    reference: str
    transfer_id: str


class WalletHistory(Result):
    """`wallet history`: `entries` newest first."""

    user: str
    currency: str
    entries: list[HistoryEntry]
