"""Wallet operations: credit, balance and statement, as the contract's result objects.

Amounts in results are exact decimal strings at the currency's precision. A credit with an
idempotency key is checked and stored in the same transaction as the money it moves.

Invariant: the books keep only what happened (the transfer and its statement line); a
repeated key rebuilds its answer from them, so the `--json` shape of `wallet credit` can
change without touching keys stored earlier (the result that older versions stored beside
a key is never read).
"""

from __future__ import annotations

from paycli.ledger import idempotency, postings
from paycli.money import Money, format_minor
from paycli.records import Entry
from paycli.results.wallet import HistoryEntry, WalletBalance, WalletCredit, WalletHistory
from paycli.store import Reader, Store


def credit(store: Store, user: str, money: Money, key: str | None = None) -> WalletCredit:
    """Add money to a wallet from outside; with `key`, at most once."""
    request = {"user": user, "currency": money.currency, "amount": money.minor}
    digest = idempotency.fingerprint("wallet.credit", request)
    with store.transaction(correlation_id=key) as tx:
        if key is not None:
            row = idempotency.lookup(tx, key, "wallet.credit", digest)
            if row is not None:
                return credited(tx, str(row["entity_id"]))
        transfer_id = postings.new_id("txn")
        moves = postings.Postings(tx)
        wallet = moves.deposit("credit", user, money, key, transfer_id)
        moves.write()
        if key is not None:
            tx.put_idempotencies([(key, "wallet.credit", digest, transfer_id, None, 0)])
    return WalletCredit(user=user, currency=money.currency, amount=money.text,
                        balance=format_minor(wallet.balance, money.currency),
                        transaction_id=transfer_id)


def credited(reader: Reader, transfer_id: str) -> WalletCredit:
    """The answer of a credit made earlier, from its transfer and its statement line (the
    wallet's balance right after it)."""
    transfer = reader.transfer(transfer_id)
    assert transfer is not None, transfer_id
    wallet = reader.account_by_id(transfer.credit_account)
    line = reader.entry_of(wallet.id, transfer_id)
    assert line is not None, transfer_id
    return WalletCredit(user=str(wallet.user_id), currency=transfer.currency,
                        amount=format_minor(transfer.amount, transfer.currency),
                        balance=format_minor(line.balance, transfer.currency),
                        transaction_id=transfer_id)


def balance(reader: Reader, user: str, currency: str) -> WalletBalance:
    """A wallet's balance, what is available and what is held (zero if never credited)."""
    account = reader.account("wallet", user, currency)
    total, held = (account.balance, account.held) if account else (0, 0)
    return WalletBalance(user=user, currency=currency, balance=format_minor(total, currency),
                         available=format_minor(total - held, currency),
                         held=format_minor(held, currency), exists=account is not None)


# Statement lines that move held money only: the balance is the same before and after.
HOLD_LINES = frozenset({"hold", "release"})


def history(reader: Reader, user: str, currency: str, limit: int) -> WalletHistory:
    """A wallet's newest statement lines, newest first: one line per movement of the
    balance, so that the amounts add up to it. A hold moves no money: its line shows
    amount 0 and what is held; once the payment posts it or it is released, the one line
    of that outcome stands for both (the hold's own line is left out)."""
    account = reader.account("wallet", user, currency)
    # Twice the lines, since a settled hold's line is left out of the `limit` shown.
    lines = reader.entries(account.id, 2 * limit) if account else []
    settled: set[str] = set()
    entries = []
    for line in lines:  # newest first: a hold's outcome comes before the hold
        if line.type == "hold" and line.transfer_id in settled:
            continue
        settled.add(line.transfer_id)
        entries.append(_statement_line(line, currency))
    return WalletHistory(user=user, currency=currency, entries=entries[:limit])


def _statement_line(line: Entry, currency: str) -> HistoryEntry:
    moved = 0 if line.type in HOLD_LINES else line.amount
    return HistoryEntry(at=line.at, type=line.type, amount=format_minor(moved, currency),
                        balance=format_minor(line.balance, currency),
                        available=format_minor(line.balance - line.held, currency),
                        held=format_minor(line.held, currency),
                        reference=line.reference or line.transfer_id,
                        transfer_id=line.transfer_id)
