"""The holds of many payments moved in one transaction: a billing run's group.

The same movements as `postings.hold`, `commit_hold` and `void_hold`, with the same
checks, statement lines and events, in the same order; what changes is the cost. Every
account the group touches is read once, moved in memory in the order the movements
happen (each statement line shows the account as it stood after its own movement), and
written once; the group's transfers, resolutions and statement lines go in one statement
each (`write`).

Invariants: the caller holds the write transaction for the whole group (writers are
serialised), so nothing else moves these accounts between the read and the write; a hold
is placed only if the wallet's available balance, after the group's earlier holds, covers
it; a hold that is no longer pending is never resolved again.
"""

from __future__ import annotations

from collections.abc import Iterable

from paycli.ledger.postings import insufficient, new_id, transfer_event
from paycli.money import Money
from paycli.records import Account, Transfer, TransferState
from paycli.store import Tx


class GroupPostings:
    """The movements of one group, kept in memory until `write`."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self._accounts: dict[int, Account] = {}  # as moved so far in this group
        self._wallets: dict[tuple[str, str], int] = {}
        self._clearing: dict[str, int] = {}
        self._moved: dict[int, None] = {}  # accounts to write, in the order first moved
        self._transfers: list[tuple[object, ...]] = []
        self._resolved: list[tuple[str, str]] = []
        self._entries: list[tuple[object, ...]] = []
        self._holds: dict[str, Transfer] = {}

    # -- holds ---------------------------------------------------------------------------

    def load_wallets(self, users: Iterable[str]) -> None:
        """Read the wallets of these users (every currency) in one query."""
        wanted = [user for user in dict.fromkeys(users)
                  if not any(key[0] == user for key in self._wallets)]
        for key, wallet in self.tx.wallets_of(wanted).items():
            self._wallets[key] = wallet.id
            self._accounts[wallet.id] = wallet

    def available(self, user: str, currency: str) -> int:
        """A wallet's available balance after the group's movements so far."""
        wallet_id = self._wallets.get((user, currency))
        return self._accounts[wallet_id].available if wallet_id is not None else 0

    def hold(self, user: str, money: Money, reference: str) -> str:
        """`postings.hold` within the group; returns the hold's id.

        Raises `InsufficientFunds` (moving nothing) if the wallet cannot cover it."""
        wallet_id = self._wallets.get((user, money.currency))
        available = self._accounts[wallet_id].available if wallet_id is not None else 0
        if wallet_id is None or available < money.minor:
            raise insufficient(user, available, money)
        transfer_id = new_id("hold")
        clearing_id = self._clearing_of(money.currency)
        wallet = self._move(wallet_id, held=money.minor)
        self._transfers.append((transfer_id, "payment", wallet_id, clearing_id, money.minor,
                                money.currency, TransferState.PENDING, reference, None))
        self._entries.append((wallet_id, transfer_id, "hold", -money.minor, wallet.balance,
                              wallet.held, reference))
        self.tx.append_event("transfer.held", transfer_id,
                             transfer_event(transfer_id, "payment", user, money, reference))
        return transfer_id

    def _clearing_of(self, currency: str) -> int:
        found = self._clearing.get(currency)
        if found is None:
            clearing = self.tx.open_account("clearing", None, currency)
            self._accounts.setdefault(clearing.id, clearing)
            found = self._clearing[currency] = clearing.id
        return found

    # -- resolving holds -----------------------------------------------------------------

    def load_holds(self, transfer_ids: list[str]) -> None:
        """Read these holds and the accounts they move, in two queries."""
        found = self.tx.transfers_by_id([tid for tid in transfer_ids
                                         if tid not in self._holds])
        self._holds.update(found)
        wanted = {account for transfer in found.values()
                  for account in (transfer.debit_account, transfer.credit_account)
                  if account not in self._accounts}
        self._accounts.update(self.tx.accounts_by_id(sorted(wanted)))

    def commit(self, transfer_id: str) -> bool:
        """`postings.commit_hold` within the group (the hold loaded first): the money leaves
        the wallet. False, moving nothing, if the hold is no longer pending."""
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
        """`postings.void_hold` within the group: the money stays in the wallet. False,
        moving nothing, if the hold is no longer pending."""
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

    # -- both ----------------------------------------------------------------------------

    def _move(self, account_id: int, balance: int = 0, held: int = 0) -> Account:
        old = self._accounts[account_id]
        moved = self._accounts[account_id] = old._replace(balance=old.balance + balance,
                                                          held=old.held + held)
        self._moved[account_id] = None
        return moved

    def write(self) -> None:
        """Write the group's movements: transfers, resolutions, accounts, statement lines
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
