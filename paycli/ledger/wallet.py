"""Wallet operations: credit, balance and statement, as the contract's result objects.

Amounts in results are exact decimal strings at the currency's precision. A credit with an
idempotency key is checked and stored in the same transaction as the money it moves.
"""

from __future__ import annotations

from paycli.ledger import idempotency, postings
from paycli.money import Money, format_minor
from paycli.results import HistoryEntry, WalletBalance, WalletCredit, WalletHistory
from paycli.store import Reader, Store
from paycli.store.hashing import canonical_json


def credit(store: Store, user: str, money: Money, key: str | None = None) -> WalletCredit:
    """Add money to a wallet from outside; with `key`, at most once."""
    request = {"user": user, "currency": money.currency, "amount": money.minor}
    digest = idempotency.fingerprint("wallet.credit", request)
    with store.transaction(correlation_id=key) as tx:
        if key is not None:
            row = idempotency.lookup(tx, key, "wallet.credit", digest)
            if row is not None:
                return WalletCredit.model_validate(idempotency.stored_result(row)[0])
        transfer_id = postings.new_id("txn")
        moves = postings.Postings(tx)
        wallet = moves.deposit("credit", user, money, key, transfer_id)
        moves.write()
        result = WalletCredit(user=user, currency=money.currency, amount=money.text,
                              balance=format_minor(wallet.balance, money.currency),
                              transaction_id=transfer_id)
        if key is not None:
            tx.put_idempotencies([(key, "wallet.credit", digest, transfer_id,
                                   canonical_json(result.to_json()), 0)])
    return result


def balance(reader: Reader, user: str, currency: str) -> WalletBalance:
    """A wallet's balance, what is available and what is held (zero if never credited)."""
    account = reader.account("wallet", user, currency)
    total, held = (account.balance, account.held) if account else (0, 0)
    return WalletBalance(user=user, currency=currency, balance=format_minor(total, currency),
                         available=format_minor(total - held, currency),
                         held=format_minor(held, currency), exists=account is not None)


def history(reader: Reader, user: str, currency: str, limit: int) -> WalletHistory:
    """A wallet's newest statement lines, newest first."""
    account = reader.account("wallet", user, currency)
    lines = reader.entries(account.id, limit) if account else []
    entries = [
        HistoryEntry(at=line.at, type=line.type, amount=format_minor(line.amount, currency),
                     balance=format_minor(line.balance, currency),
                     available=format_minor(line.balance - line.held, currency),
                     reference=line.reference or line.transfer_id,
                     transfer_id=line.transfer_id)
        for line in lines
    ]
    return WalletHistory(user=user, currency=currency, entries=entries)
