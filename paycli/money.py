"""Exact money: integer minor units and an ISO 4217 currency.

Invariants:
- An amount is an `int` count of the currency's minor units (cents for USD, yen for JPY,
  fils for KWD); a float never holds money.
- Parsing is from the operator's ASCII decimal string, exactly, and rejects anything the
  contract rejects; formatting back gives the same digits at the currency's precision.
- Money of two currencies never mixes: arithmetic between them raises `CurrencyMismatch`.

This module imports nothing else of paycli.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

_AMOUNT = re.compile(r"[0-9]{1,30}(?:\.[0-9]{1,30})?")
_CODE = re.compile(r"[A-Za-z]{3}")


class MoneyError(ValueError):
    """Base of the errors of this module; its message is fit for the operator."""


class InvalidAmount(MoneyError):
    """An amount string that is not a positive exact decimal the currency can hold."""


class UnknownCurrency(MoneyError):
    """A code that is not an active ISO 4217 currency with minor units."""


class CurrencyMismatch(MoneyError):
    """Arithmetic or comparison between two currencies."""


# Codes ISO 4217 lists that are not money a wallet can hold (they have no minor unit, so
# the table leaves them out); named so that refusing them says why.
NOT_MONEY = {"XTS": "testing", "XXX": "transactions where no currency is involved",
             "XAU": "gold", "XAG": "silver", "XPT": "platinum", "XPD": "palladium",
             "XDR": "the IMF's special drawing right", "XSU": "the SUCRE unit of account",
             "XUA": "the ADB unit of account", "XBA": "a bond market unit",
             "XBB": "a bond market unit", "XBC": "a bond market unit",
             "XBD": "a bond market unit"}


@dataclass(frozen=True, slots=True)
class Currency:
    """An ISO 4217 currency: its code and the exponent of its minor unit."""

    code: str
    exponent: int
    name: str


@cache
def _currencies() -> dict[str, Currency]:
    table: dict[str, Currency] = {}
    text = (Path(__file__).parent / "data" / "iso4217.tsv").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line and not line.startswith("#"):
            code, _number, exponent, name = line.split("\t")
            table[code] = Currency(code, int(exponent), name)
    return table


def currency(code: str) -> Currency:
    """The currency for `code` (case-insensitive); `UnknownCurrency` if not usable."""
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise UnknownCurrency(f"invalid currency {code!r}: expected a 3-letter ISO 4217 code")
    found = _currencies().get(code.upper())
    if code.upper() in NOT_MONEY:
        raise UnknownCurrency(f"currency {code.upper()} is refused: ISO 4217 keeps it for "
                              f"{NOT_MONEY[code.upper()]}; it is not a currency of money")
    if found is None:
        raise UnknownCurrency(f"unknown currency {code!r}: not an ISO 4217 code paycli accepts")
    return found


@dataclass(frozen=True, slots=True, order=False)
class Money:
    """An exact amount: `minor` units of `currency` (an ISO 4217 code, upper case)."""

    minor: int
    currency: str

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.minor <= other.minor

    def __str__(self) -> str:
        return f"{format_minor(self.minor, self.currency)} {self.currency}"

    @property
    def text(self) -> str:
        """The amount as a decimal string at the currency's precision (`"50.00"`)."""
        return format_minor(self.minor, self.currency)


def parse_amount(text: str, code: str, max_major: int | None = None) -> Money:
    """Parse the operator's decimal string into exact `Money` of currency `code`.

    Accepts only ASCII digits with an optional fraction (`50`, `50.5`, `1250.50`). Rejects
    signs, exponents, NaN/infinity, non-ASCII digits, zero, more decimals than the currency
    has, and amounts above `max_major` whole units.
    """
    cur = currency(code)
    decimal_text(text)
    shown = text if len(text) <= 40 else text[:37] + "..."
    whole, _, fraction = text.partition(".")
    if len(fraction) > cur.exponent:
        places = {0: "no decimal places", 1: "at most 1 decimal place"}.get(
            cur.exponent, f"at most {cur.exponent} decimal places")
        raise InvalidAmount(f"invalid amount {shown!r}: {cur.code} has {places}")
    minor = int(whole) * 10**cur.exponent + int(fraction.ljust(cur.exponent, "0") or "0")
    if minor == 0:
        raise InvalidAmount(f"invalid amount {shown!r}: must be greater than zero")
    if max_major is not None and minor > max_major * 10**cur.exponent:
        raise InvalidAmount(
            f"invalid amount {shown!r}: above the maximum of {max_major} {cur.code}"
        )
    return Money(minor, cur.code)


def decimal_text(text: str) -> str:
    """`text` if it has the shape of an amount (`50`, `50.25`) whatever its currency, as a
    refund's amount is checked before its payment's currency is known."""
    if not isinstance(text, str):
        raise InvalidAmount(f"invalid amount {text!r}: expected a decimal string")
    if not _AMOUNT.fullmatch(text):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise InvalidAmount(
            f"invalid amount {shown!r}: expected a positive decimal like 50 or 50.25"
        )
    return text


def format_minor(minor: int, code: str) -> str:
    """Minor units as an exact decimal string at the currency's precision."""
    exponent = currency(code).exponent
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**exponent)
    if exponent == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:0{exponent}d}"


def to_decimal_text(minor: int, code: str) -> str:
    """The amount as the exact JSON-number text the gateway protocol carries (`50.5`)."""
    text = format_minor(minor, code)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def decimal_to_minor(value: Decimal, code: str) -> int | None:
    """A gateway's Decimal amount in minor units of `code`; None when it has more decimals
    than the currency (no exact minor amount), or is not finite."""
    if not value.is_finite():
        return None
    scaled = value.scaleb(currency(code).exponent)
    return int(scaled) if scaled == scaled.to_integral_value() else None
