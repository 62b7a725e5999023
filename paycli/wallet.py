"""Wallet operations: credit, balance and statement, as the contract's result objects.

Results are plain dicts shaped like the `--json` output, amounts as exact decimal strings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from paycli.money import Money, format_minor

if TYPE_CHECKING:
    from paycli.store import Reader, Store


def credit(store: Store, user: str, money: Money, key: str | None = None) -> dict[str, Any]:
    """Add money to a wallet from outside; with `key`, at most once."""
    from paycli import idempotency, ledger
    from paycli.hashing import canonical_json

    request = {"user": user, "currency": money.currency, "amount": money.minor}
    digest = idempotency.fingerprint("wallet.credit", request)
    with store.transaction(correlation_id=key) as tx:
        if key is not None:
            row = idempotency.lookup(tx, key, "wallet.credit", digest)
            if row is not None:
                return idempotency.stored_result(row)[0]
        transfer_id = ledger.new_id("txn")
        wallet = ledger.deposit(tx, "credit", user, money, key, transfer_id)
        result = {
            "user": user,
            "currency": money.currency,
            "amount": money.text,
            "balance": format_minor(wallet.balance, money.currency),
            "transaction_id": transfer_id,
        }
        if key is not None:
            tx.put_idempotency(key, "wallet.credit", digest, transfer_id,
                               canonical_json(result), 0)
    return result


def balance(reader: Reader, user: str, currency: str) -> dict[str, Any]:
    """A wallet's balance, what is available and what is held (zero if never credited)."""
    account = reader.account("wallet", user, currency)
    total, held = (account.balance, account.held) if account else (0, 0)
    return {
        "user": user,
        "currency": currency,
        "balance": format_minor(total, currency),
        "available": format_minor(total - held, currency),
        "held": format_minor(held, currency),
    }


def history(reader: Reader, user: str, currency: str, limit: int) -> dict[str, Any]:
    """A wallet's newest statement lines, newest first."""
    account = reader.account("wallet", user, currency)
    lines = reader.entries(account.id, limit) if account else []
    entries = [
        {
            "at": line.at,
            "type": line.type,
            "amount": format_minor(line.amount, currency),
            "balance": format_minor(line.balance, currency),
            "available": format_minor(line.balance - line.held, currency),
            "reference": line.reference or line.transfer_id,
            "transfer_id": line.transfer_id,
        }
        for line in lines
    ]
    return {"user": user, "currency": currency, "entries": entries}
