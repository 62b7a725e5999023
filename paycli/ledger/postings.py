"""Double-entry movements between accounts, each with its event: the one implementation of
every movement paycli makes, whoever makes it (`pay`, a billing run, settling, a wallet
credit, a refund).

Every movement is a transfer between two accounts of one currency, so the sum of all
balances of a currency is always zero:

    credit   funding  -> wallet     posted at once (money enters from outside)
    payment  wallet   -> clearing   two-phase: held (pending), then committed or voided
    refund   clearing -> wallet     posted at once (money given back)

`Postings` buffers the movements of one transaction, one payment's or a group's alike:
every account they touch is read once, moved in memory in the order the movements happen
(each statement line shows the account as it stood after its own movement), and written
once by `write`; the transfers, resolutions and statement lines go in one statement each.
Events are appended as the movements happen, so the chain has them in that order.

A hold raises the wallet's `held` without moving its balance; `available = balance - held`
never goes below zero: checked here, in movement order, and again by the schema's CHECK
constraints when the accounts are written. The ledger never talks to the network.

Event payloads carry what `replay` needs to rebuild every balance and hold:
`transfer.posted` / `transfer.held` {id, kind, user, currency, amount, reference},
`transfer.committed` / `transfer.voided` {id}.

Invariants: the caller holds the write transaction for the whole buffer (writers are
serialised), so nothing else moves these accounts between the read and the write; a hold
that is no longer pending is never resolved again; nothing reaches the tables before
`write`, which the caller runs before its transaction commits.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable

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


class Postings:
    """The movements of one transaction, kept in memory until `write`."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self._accounts: dict[int, Account] = {}  # as moved so far in this transaction
        self._wallets: dict[tuple[str, str], int] = {}
        self._loaded: set[str] = set()  # users whose wallets were read
        self._system: dict[tuple[str, str], int] = {}  # (kind, currency): funding, clearing
        self._moved: dict[int, None] = {}  # accounts to write, in the order first moved
        self._transfers: list[tuple[object, ...]] = []
        self._resolved: list[tuple[str, str]] = []
        self._entries: list[tuple[object, ...]] = []
        self._holds: dict[str, Transfer] = {}

    # -- wallets -------------------------------------------------------------------------

    def load_wallets(self, users: Iterable[str], read: list[Account] | None = None) -> None:
        """Read the wallets of these users (every currency) in one query, with the
        ledger's own accounts; or take them as the caller read them (`read`: what
        `accounts_of(users)` returned, read together with other queries)."""
        wanted = [user for user in dict.fromkeys(users) if user not in self._loaded]
        if not wanted:
            return
        self._loaded.update(wanted)
        for account in self.tx.accounts_of(wanted) if read is None else read:
            if account.user_id is None:
                self._system.setdefault((account.kind, account.currency), account.id)
            else:
                self._wallets[(account.user_id, account.currency)] = account.id
            self._accounts.setdefault(account.id, account)

    def available(self, user: str, currency: str) -> int:
        """A wallet's available balance after the movements so far (0 if it has none)."""
        self.load_wallets([user])
        wallet_id = self._wallets.get((user, currency))
        return self._accounts[wallet_id].available if wallet_id is not None else 0

    def deposit(self, kind: str, user: str, money: Money, reference: str | None,
                transfer_id: str | None = None) -> Account:
        """Post money into a wallet from outside (`credit`) or back from clearing
        (`refund`), opening the wallet if it is new; the wallet as it then stands."""
        transfer_id = transfer_id or new_id("txn")
        self.load_wallets([user])  # and with them the source, in the same query
        source = self._move(self._system_account(_SOURCE[kind], money.currency),
                            balance=-money.minor)
        wallet = self._move(self._wallet_opened(user, money.currency), balance=money.minor)
        self._transfers.append((transfer_id, kind, source.id, wallet.id, money.minor,
                                money.currency, TransferState.POSTED, reference, self.tx.at))
        self._entries.append((wallet.id, transfer_id, kind, money.minor, wallet.balance,
                              wallet.held, reference))
        self.tx.append_event("transfer.posted", transfer_id,
                             transfer_event(transfer_id, kind, user, money, reference))
        return wallet

    def _wallet_opened(self, user: str, currency: str) -> int:
        self.load_wallets([user])
        found = self._wallets.get((user, currency))
        if found is None:
            wallet = self.tx.open_account("wallet", user, currency)
            self._accounts[wallet.id] = wallet
            found = self._wallets[(user, currency)] = wallet.id
        return found

    def _system_account(self, kind: str, currency: str) -> int:
        found = self._system.get((kind, currency))
        if found is None:
            account = self.tx.open_account(kind, None, currency)
            self._accounts.setdefault(account.id, account)
            found = self._system[(kind, currency)] = account.id
        return found

    # -- holds ---------------------------------------------------------------------------

    def hold(self, user: str, money: Money, reference: str) -> str:
        """Reserve `money` of a wallet for a payment (a pending transfer); the hold's id.

        Raises `InsufficientFunds` (moving nothing) if the wallet cannot cover it."""
        available = self.available(user, money.currency)
        wallet_id = self._wallets.get((user, money.currency))
        if wallet_id is None or available < money.minor:
            raise insufficient(user, available, money)
        transfer_id = new_id("hold")
        clearing_id = self._system_account("clearing", money.currency)
        wallet = self._move(wallet_id, held=money.minor)
        self._transfers.append((transfer_id, "payment", wallet_id, clearing_id, money.minor,
                                money.currency, TransferState.PENDING, reference, None))
        self._holds[transfer_id] = Transfer(transfer_id, "payment", wallet_id, clearing_id,
                                            money.minor, money.currency,
                                            TransferState.PENDING, reference, self.tx.at, None)
        self._entries.append((wallet_id, transfer_id, "hold", -money.minor, wallet.balance,
                              wallet.held, reference))
        self.tx.append_event("transfer.held", transfer_id,
                             transfer_event(transfer_id, "payment", user, money, reference))
        return transfer_id

    def take_holds(self, holds: dict[str, Transfer]) -> None:
        """Holds as the caller read them (`Reader.settling`), before this buffer moved
        anything of theirs; the accounts they move that are not known yet are read."""
        for transfer_id, transfer in holds.items():
            self._holds.setdefault(transfer_id, transfer)
        wanted = {account for transfer in holds.values()
                  for account in (transfer.debit_account, transfer.credit_account)
                  if account not in self._accounts}
        if wanted:
            self._accounts.update(self.tx.accounts_by_id(sorted(wanted)))

    def commit(self, transfer_id: str) -> bool:
        """Post a pending hold (loaded first, or placed by this buffer): the money leaves
        the wallet. False, moving
        nothing, if the hold is no longer pending (or unknown)."""
        transfer = self._pending(transfer_id)
        if transfer is None:
            return False
        amount = transfer.amount
        wallet = self._move(transfer.debit_account, balance=-amount, held=-amount)
        self._move(transfer.credit_account, balance=amount)
        self._resolve(transfer, TransferState.POSTED)
        self._entries.append((wallet.id, transfer_id, "payment", -amount, wallet.balance,
                              wallet.held, transfer.reference))
        self.tx.append_event("transfer.committed", transfer_id, {"id": transfer_id})
        return True

    def void(self, transfer_id: str) -> bool:
        """Release a pending hold (loaded first): the money stays in the wallet. False,
        moving nothing, if the hold is no longer pending (or unknown)."""
        transfer = self._pending(transfer_id)
        if transfer is None:
            return False
        amount = transfer.amount
        wallet = self._move(transfer.debit_account, held=-amount)
        self._resolve(transfer, TransferState.VOIDED)
        self._entries.append((wallet.id, transfer_id, "release", amount, wallet.balance,
                              wallet.held, transfer.reference))
        self.tx.append_event("transfer.voided", transfer_id, {"id": transfer_id})
        return True

    def _pending(self, transfer_id: str) -> Transfer | None:
        transfer = self._holds.get(transfer_id)
        return transfer if transfer and transfer.state == TransferState.PENDING else None

    def _resolve(self, transfer: Transfer, state: TransferState) -> None:
        self._holds[transfer.id] = transfer._replace(state=state, resolved_at=self.tx.at)
        self._resolved.append((state, transfer.id))

    # -- every movement ------------------------------------------------------------------

    def _move(self, account_id: int, balance: int = 0, held: int = 0) -> Account:
        old = self._accounts[account_id]
        moved = self._accounts[account_id] = old._replace(balance=old.balance + balance,
                                                          held=old.held + held)
        self._moved[account_id] = None
        return moved

    def write(self) -> None:
        """Write the movements so far: transfers, resolutions, accounts, statement lines
        (the schema's CHECKs see each account only as it ends, never negative anywhere in
        between since every movement was checked in order)."""
        if self._transfers:
            self.tx.insert_transfers(self._transfers)
        if self._resolved:
            self.tx.resolve_transfers(self._resolved)
        if self._moved:
            self.tx.set_accounts([(self._accounts[account].balance,
                                   self._accounts[account].held, account)
                                  for account in self._moved])
        if self._entries:
            self.tx.add_entries(self._entries)
        self._transfers, self._resolved, self._entries, self._moved = [], [], [], {}
