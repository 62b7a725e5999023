"""Checks of the operator's input, turned into values or one-line `UsageError`s.

Everything here runs before the ledger is opened, so bad input writes nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from paycli.errors import UsageError
from paycli.money import Money, MoneyError, currency, parse_amount
from paycli.records import KEY, USER_ID, PaymentStatus, RefundStatus

_ID = re.compile(r"(pay|ref)_[0-9a-f]{24}")
_AMOUNT_SHAPE = re.compile(r"[0-9]{1,30}(?:\.[0-9]{1,30})?")


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def user_id(text: str) -> str:
    """A user id: 1-64 characters of `[A-Za-z0-9_.:-]`."""
    if not USER_ID.fullmatch(text):
        raise UsageError(
            f"invalid user id {_shown(text)}: use 1-64 characters of letters, digits, _ . : -"
        )
    return text


def currency_code(text: str) -> str:
    """An ISO 4217 code paycli accepts, upper-cased."""
    try:
        return currency(text).code
    except MoneyError as exc:
        raise UsageError(str(exc)) from None


def amount(text: str, code: str, max_major: int) -> Money:
    """An exact positive amount of currency `code`, at most `max_major` whole units."""
    try:
        return parse_amount(text, code, max_major)
    except MoneyError as exc:
        raise UsageError(str(exc)) from None


def entity_id(text: str, prefix: str) -> str:
    """A payment (`pay_…`) or refund (`ref_…`) id in the shape paycli issues."""
    match = _ID.fullmatch(text)
    if not match or match.group(1) != prefix:
        raise UsageError(f"invalid id {_shown(text)}: expected {prefix}_ and 24 hex digits")
    return text


def idempotency_key(text: str | None) -> str | None:
    """An idempotency key: 1-255 printable ASCII characters without spaces."""
    if text is not None and not KEY.fullmatch(text):
        raise UsageError(
            f"invalid idempotency key {_shown(text)}: use 1-255 printable ASCII characters"
        )
    return text


def order_id(text: str | None) -> str | None:
    """An order id: same rules as an idempotency key."""
    if text is not None and not KEY.fullmatch(text):
        raise UsageError(f"invalid order id {_shown(text)}: use 1-255 printable ASCII characters")
    return text


def positive_int(value: int, option: str, maximum: int = 1_000_000) -> int:
    """A count option such as `--limit`, between 1 and `maximum`."""
    if not 1 <= value <= maximum:
        raise UsageError(f"{option} must be between 1 and {maximum}, got {value}")
    return value


def amount_text(text: str | None) -> str | None:
    """An amount whose currency is known only later (a refund's): its shape checked now."""
    if text is not None and not _AMOUNT_SHAPE.fullmatch(text):
        raise UsageError(
            f"invalid amount {_shown(text)}: expected a positive decimal like 50 or 50.25"
        )
    return text


def reason(text: str) -> str:
    """A refund reason: at most 500 printable characters."""
    if len(text) > 500 or not text.isprintable():
        raise UsageError("invalid reason: use at most 500 printable characters on one line")
    return text


def seconds(value: float, option: str, maximum: float = 3600.0) -> float:
    """A duration option such as `--wait`, between 0 and `maximum` seconds."""
    if not 0 <= value <= maximum:
        raise UsageError(f"{option} must be between 0 and {maximum:g} seconds, got {value:g}")
    return value


def payment_status(text: str) -> str:
    """A payment status of the contract (case-insensitive), upper-cased."""
    status = text.upper()
    if status not in PaymentStatus.__members__:
        raise UsageError(f"invalid status {_shown(text)}: use one of "
                         f"{', '.join(PaymentStatus)}")
    return status


def refund_status(text: str) -> str:
    """A refund status of the contract (case-insensitive), upper-cased."""
    status = text.upper()
    if status not in RefundStatus.__members__:
        raise UsageError(f"invalid status {_shown(text)}: use one of {', '.join(RefundStatus)}")
    return status


def instant(text: str, option: str, *, end_of_day: bool = False) -> str:
    """An ISO 8601 date or date-time, as the ledger's UTC timestamp text (comparable as text).

    A time without an offset is UTC. A bare date is midnight UTC starting that day, or with
    `end_of_day` the midnight ending it, so `--until 2024-05-01` includes all of that day.
    """
    try:
        if not text.isascii() or len(text) > 40:
            raise ValueError(text)
        try:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time(), UTC) + timedelta(days=int(end_of_day))
        except ValueError:
            moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat(timespec="microseconds")
    except (ValueError, OverflowError):
        raise UsageError(f"invalid {option} {_shown(text)}: expected an ISO 8601 date or "
                         "date-time such as 2024-05-01 or 2024-05-01T12:00:00Z") from None


def choice(text: str, options: tuple[str, ...], option: str) -> str:
    """One of a fixed set of words (case-insensitive), lower-cased."""
    if text.lower() not in options:
        raise UsageError(f"invalid {option} {_shown(text)}: use one of {', '.join(options)}")
    return text.lower()


def count(value: int, option: str, maximum: int) -> int:
    """A count option that may be zero, such as `--prefill`, between 0 and `maximum`."""
    if not 0 <= value <= maximum:
        raise UsageError(f"{option} must be between 0 and {maximum}, got {value}")
    return value


def required_reason(text: str) -> str:
    """Why an operator decided by hand: 1-500 printable characters on one line."""
    if not text.strip():
        raise UsageError("--reason is required: say why (what the gateway's support or "
                         "dashboard told you)")
    return reason(text)


def one_of(flags: dict[str, bool]) -> str:
    """The one flag given among mutually exclusive ones (a usage error otherwise)."""
    given = [name for name, on in flags.items() if on]
    if len(given) != 1:
        raise UsageError(f"give exactly one of {' or '.join(flags)}")
    return given[0]
