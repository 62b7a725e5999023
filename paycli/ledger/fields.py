"""The values input files carry, each checked by one rule whatever file carries it: user
ids, order ids, currency codes and exact amounts (billing files and fixtures files are
pydantic models made of these), and pydantic's complaint told as one line naming its
place (`payments[2].amount: invalid amount '5.001': USD has at most 2 decimal places`).

Invariants: an amount never passes through float: it is text, or a JSON number kept as its
text (`JsonNumber`), parsed by the one money parser (`money.parse_amount`) at the
currency's precision and under the `max_major` the model is validated with (its context);
a value quoted in a message is cut short, so a hostile file cannot flood a terminal.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import PlainValidator, ValidationError, ValidationInfo
from pydantic_core import PydanticCustomError

from paycli.money import Money, MoneyError, currency, decimal_text, parse_amount
from paycli.records import KEY, USER_ID

DEFAULT_CURRENCY = "USD"


class JsonNumber:
    """A JSON number as its exact text: only an amount may be one (an id must be text)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def no_constant(name: str) -> Any:
    """`json.loads`'s `parse_constant`: NaN and Infinity are no value of an input file."""
    raise ValueError(f"{name} is not a JSON value")


def shown(value: Any) -> str:
    """A value for a message: quoted, at most 40 characters."""
    text = value if isinstance(value, str) else str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def text(value: Any) -> str:
    """`value` if it is text; pydantic's `string_type` complaint otherwise."""
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", "must be a string")
    return value


def user_id(value: Any) -> str:
    """A user id: 1-64 characters of `[A-Za-z0-9_.:-]`."""
    if not USER_ID.fullmatch(text(value)):
        raise ValueError(f"invalid user id {shown(value)}: use 1-64 characters of letters, "
                         "digits, _ . : -")
    return str(value)


def order_id(value: Any) -> str:
    """An order id: 1-255 printable ASCII characters without spaces."""
    if not KEY.fullmatch(text(value)):
        raise ValueError(f"invalid order id {shown(value)}: required, 1-255 printable ASCII "
                         "characters")
    return str(value)


def currency_code(value: Any) -> str:
    """An ISO 4217 code paycli accepts, upper-cased."""
    try:
        return currency(text(value)).code
    except MoneyError as exc:
        raise ValueError(str(exc)) from None


def currency_or_usd(value: Any) -> str:
    """A currency an operator's file may leave out: absent, null or empty means USD."""
    return DEFAULT_CURRENCY if value is None or value == "" else currency_code(value)


def amount_text(value: Any) -> str:
    """An amount's exact text, from text or a JSON number (its shape is checked when its
    currency is known)."""
    return value.text if isinstance(value, JsonNumber) else text(value)


def money(value: Any, info: ValidationInfo) -> Money:
    """An amount field's exact `Money`, in the currency the model read before it (fields
    are checked in order, so `currency` is declared before `amount`)."""
    code = info.data.get("currency", DEFAULT_CURRENCY)
    try:
        return parse_amount(amount_text(value), code, (info.context or {}).get("max_major"))
    except MoneyError as exc:
        raise ValueError(str(exc)) from None


def amount_shape(value: Any) -> str | None:
    """An amount whose currency is known only later (a refund's, which is its payment's):
    its exact text, shape checked now; None when left out."""
    if value is None:
        return None
    try:
        return decimal_text(amount_text(value))
    except MoneyError as exc:
        raise ValueError(str(exc)) from None


UserId = Annotated[str, PlainValidator(user_id)]
OrderId = Annotated[str, PlainValidator(order_id)]
CurrencyCode = Annotated[str, PlainValidator(currency_code)]
CurrencyOrUsd = Annotated[str, PlainValidator(currency_or_usd)]
Amount = Annotated[Money, PlainValidator(money)]
AmountShape = Annotated[str | None, PlainValidator(amount_shape)]


def problem(error: ValidationError, *, named: bool = True) -> str:
    """The first thing wrong, as one line naming its place (`wallets[0].user must be a
    string`; `payments[1]: missing amount, order_id`). A rule's own message names the value
    it refuses; `named=False` leaves the field's name out of it, for a flat row whose
    values speak for themselves (`invalid amount 'abc': …`)."""
    first = error.errors(include_url=False)[0]
    *parents, name = first["loc"] or ("",)
    where, place = _place(parents), _place([*parents, name])
    kind = first["type"]
    if kind == "missing":
        missing = [str(e["loc"][-1]) for e in error.errors(include_url=False)
                   if e["type"] == "missing" and tuple(e["loc"][:-1]) == tuple(parents)]
        return _joined(where, f"missing {', '.join(missing)}")
    if kind == "extra_forbidden":
        return _joined(where, f"unknown key {str(name)[:40]!r}")
    if kind in _SHAPES:
        return f"{place} must be {_SHAPES[kind]}".lstrip()
    cause = first.get("ctx", {}).get("error")
    return _joined(place if named else "", str(cause) if cause is not None else first["msg"])


_SHAPES = {"string_type": "a string", "list_type": "a list", "model_type": "an object",
           "dict_type": "an object", "model_attributes_type": "an object"}


def _place(loc: list[Any]) -> str:
    """`payments[2].amount` from pydantic's location `('payments', 2, 'amount')`."""
    place = ""
    for part in loc:
        if isinstance(part, int):
            place += f"[{part}]"
        else:
            place += f".{part}" if place else str(part)
    return place


def _joined(place: str, message: str) -> str:
    return f"{place}: {message}" if place else message
