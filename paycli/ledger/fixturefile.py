"""Reading a fixtures file (`paycli fixtures load FILE`): the one place it is parsed and
checked.

    {"wallets":  [{"user", "amount", "currency"}],
     "payments": [{"user", "amount", "currency", "order_id"}],
     "refunds":  [{"order_id", "amount"}]}

Every section may be left out; `currency` may be left out, null or empty for USD; a
refund without an amount refunds what is left. Ids and amounts follow the rules of the
billing file (`ledger.fields`): an amount is exact decimal text or a JSON number read as
its text, never through float.

Invariants: the whole file is read and every entry checked before the caller writes
anything; a problem is one `UsageError` (exit 2) naming the file and the entry
(`shop.json: payments[2].amount: …`); unknown keys, a key given twice in one object,
NaN or Infinity, a second wallet entry for the same user and currency and a second payment
for the same order are refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from paycli.errors import UsageError
from paycli.ledger.fields import (
    Amount,
    AmountShape,
    CurrencyOrUsd,
    JsonNumber,
    OrderId,
    UserId,
    no_constant,
    problem,
)

MAX_FILE_BYTES = 16 * 1024 * 1024
SECTIONS = "wallets, payments and refunds"


class _Entry(BaseModel):
    """An entry of the file: only its own keys, immutable once read."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class WalletEntry(_Entry):
    """A wallet to credit: `money` (the file's `amount`) to `user`."""

    user: UserId
    currency: CurrencyOrUsd = "USD"
    money: Amount = Field(alias="amount")


class PaymentEntry(_Entry):
    """A payment: who pays what, for which order."""

    user: UserId
    currency: CurrencyOrUsd = "USD"
    money: Amount = Field(alias="amount")
    order_id: OrderId


class RefundEntry(_Entry):
    """A refund of the payment made for `order_id`; everything left if no amount is given
    (the amount's currency is the payment's, so only its shape is known here)."""

    order_id: OrderId
    amount: AmountShape = None


class FixturesFile(BaseModel):
    """A checked fixtures file: what `devtools.fixtures.load` writes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wallets: list[WalletEntry] = []
    payments: list[PaymentEntry] = []
    refunds: list[RefundEntry] = []

    @model_validator(mode="after")
    def _once_each(self) -> Self:
        """One credit per wallet, one payment per order: a second is a mistake in the file."""
        _unique([(w.user, w.money.currency) for w in self.wallets], "wallets",
                "a second entry for")
        _unique([p.order_id for p in self.payments], "payments", "a second payment for order")
        return self


def read_fixtures(file: Path, max_major: int) -> FixturesFile:
    """The checked contents of the fixtures file at `file`, amounts at most `max_major`
    whole units; `UsageError` naming the file and the entry otherwise."""
    data = _parsed(file)
    if not isinstance(data, dict) or not set(data) <= set(FixturesFile.model_fields):
        raise UsageError(f"{file}: expected an object with {SECTIONS}")
    try:
        return FixturesFile.model_validate(data, context={"max_major": max_major})
    except ValidationError as exc:
        raise UsageError(f"{file}: {problem(exc)}") from None


def _parsed(file: Path) -> Any:
    """The file's JSON, numbers kept as their exact text."""
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            raise UsageError(f"{file}: larger than {MAX_FILE_BYTES // 2**20} MiB")
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{file}: not UTF-8 text") from None
    try:
        return json.loads(text, parse_float=JsonNumber, parse_int=JsonNumber,
                          parse_constant=no_constant, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{file}: not valid JSON ({str(exc).splitlines()[0][:200]})"
                         ) from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"a key given twice in one object: {sorted(keys)}")
    return dict(pairs)


def _unique(keys: list[Any], section: str, says: str) -> None:
    """Refuse the first key met a second time, naming its entry."""
    seen: set[Any] = set()
    for number, key in enumerate(keys):
        if key in seen:
            shown = " ".join(key) if isinstance(key, tuple) else key
            raise ValueError(f"{section}[{number}]: {says} {shown}")
        seen.add(key)
