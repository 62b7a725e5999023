"""Double-entry movements between accounts, each with its event.

Every movement is a transfer between two accounts of one currency, so the sum of all
balances of a currency is always zero:

    credit   funding  -> wallet     posted at once (money enters from outside)
    payment  wallet   -> clearing   two-phase: held (pending), then posted or voided
    refund   clearing -> wallet     posted at once (money given back)

A hold raises the wallet's `held` without moving its balance; `available = balance - held`
never goes below zero: checked here inside the write transaction, and again by the
schema's CHECK constraints. The ledger never talks to the network.

Event payloads carry what `replay` needs to rebuild every balance and hold:
`transfer.posted` / `transfer.held` {id, kind, user, currency, amount, reference},
`transfer.committed` / `transfer.voided` {id}.
"""

from __future__ import annotations

import secrets
import time

from paycli.errors import InsufficientFunds
from paycli.money import Money, format_minor
from paycli.records import Account, Transfer, TransferState
from paycli.store import Tx

_SOURCE = {"credit": "funding", "refund": "clearing"}


def new_id(prefix: str) -> str:
    """A fresh identifier such as `pay_` and 24 hex digits: the creation time in
    milliseconds (11 digits), then 52 random bits (13 digits).

    Ids made later sort later, so every index keyed by them (payments, transfers, the
    events of an entity) grows at its right edge instead of at random places: inserting
    stays as cheap in a ledger of millions of payments as in a new one. Uniqueness is
    still the randomness's (and each table's primary key refuses a repeat)."""
    return f"{prefix}_{time.time_ns() // 1_000_000:011x}{secrets.randbits(52):013x}"


def transfer_event(transfer_id: str, kind: str, user: str, money: Money,
                   reference: str | None) -> dict[str, object]:
    """The payload of a `transfer.posted` or `transfer.held` event."""
    return {"id": transfer_id, "kind": kind, "user": user, "currency": money.currency,
            "amount": money.minor, "reference": reference}


def insufficient(user: str, available: int, money: Money) -> InsufficientFunds:
    """The refusal of a payment that a wallet's available balance does not cover."""
    return InsufficientFunds(
        f"insufficient funds: {user} has {format_minor(available, money.currency)} "
        f"{money.currency} available, {money.text} {money.currency} needed")


def _moved(account: Account, balance_delta: int = 0, held_delta: int = 0) -> Account:
    return Account(account.id, account.kind, account.user_id, account.currency,
                   account.balance + balance_delta, account.held + held_delta)


def _save(tx: Tx, *accounts: Account) -> None:
    for account in accounts:
        tx.set_account(account.id, account.balance, account.held)


def deposit(tx: Tx, kind: str, user: str, money: Money, reference: str | None,
            transfer_id: str | None = None) -> Account:
    """Post money into a wallet from outside (`credit`) or back from clearing (`refund`).

    Returns the wallet as it stands afterwards.
    """
    transfer_id = transfer_id or new_id("txn")
    source = tx.open_account(_SOURCE[kind], None, money.currency)
    wallet = tx.open_account("wallet", user, money.currency)
    source, wallet = _moved(source, -money.minor), _moved(wallet, money.minor)
    tx.insert_transfer(transfer_id, kind, source.id, wallet.id, money.minor, money.currency,
                       TransferState.POSTED, reference)
    _save(tx, source, wallet)
    tx.add_entry(wallet, transfer_id, kind, money.minor, reference)
    tx.append_event("transfer.posted", transfer_id,
                    transfer_event(transfer_id, kind, user, money, reference))
    return wallet


def hold(tx: Tx, user: str, money: Money, reference: str, transfer_id: str | None = None) -> str:
    """Reserve `money` of a wallet for a payment (a pending transfer); returns its id.

    Raises `InsufficientFunds` if the wallet's available balance does not cover it.
    """
    wallet = tx.account("wallet", user, money.currency)
    available = wallet.available if wallet else 0
    if wallet is None or available < money.minor:
        raise insufficient(user, available, money)
    transfer_id = transfer_id or new_id("hold")
    clearing = tx.open_account("clearing", None, money.currency)
    wallet = _moved(wallet, held_delta=money.minor)
    tx.insert_transfer(transfer_id, "payment", wallet.id, clearing.id, money.minor,
                       money.currency, TransferState.PENDING, reference)
    _save(tx, wallet)
    tx.add_entry(wallet, transfer_id, "hold", -money.minor, reference)
    tx.append_event("transfer.held", transfer_id,
                    transfer_event(transfer_id, "payment", user, money, reference))
    return transfer_id


def _pending(tx: Tx, transfer_id: str) -> tuple[Transfer, Account, Account] | None:
    transfer = tx.transfer(transfer_id)
    if transfer is None or transfer.state != TransferState.PENDING:
        return None
    debit = tx.account_by_id(transfer.debit_account)
    return transfer, debit, tx.account_by_id(transfer.credit_account)


def commit_hold(tx: Tx, transfer_id: str) -> Account | None:
    """Post a pending hold: the money leaves the wallet. Returns the wallet, or None if the
    hold was already resolved (so a repeat moves nothing)."""
    found = _pending(tx, transfer_id)
    if found is None:
        return None
    transfer, wallet, clearing = found
    amount = transfer.amount
    wallet = _moved(wallet, -amount, -amount)
    clearing = _moved(clearing, amount)
    tx.resolve_transfer(transfer_id, TransferState.POSTED)
    _save(tx, wallet, clearing)
    tx.add_entry(wallet, transfer_id, "payment", -amount, transfer.reference)
    tx.append_event("transfer.committed", transfer_id, {"id": transfer_id})
    return wallet


def void_hold(tx: Tx, transfer_id: str) -> Account | None:
    """Release a pending hold: the money stays in the wallet. Returns the wallet, or None
    if the hold was already resolved."""
    found = _pending(tx, transfer_id)
    if found is None:
        return None
    transfer, wallet, _clearing = found
    amount = transfer.amount
    wallet = _moved(wallet, held_delta=-amount)
    tx.resolve_transfer(transfer_id, TransferState.VOIDED)
    _save(tx, wallet)
    tx.add_entry(wallet, transfer_id, "release", amount, transfer.reference)
    tx.append_event("transfer.voided", transfer_id, {"id": transfer_id})
    return wallet
