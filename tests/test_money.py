"""Exact money: parsing the operator's decimal strings, formatting minor units, arithmetic."""

from __future__ import annotations

from importlib.resources import files

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paycli import money
from paycli.money import (
    CurrencyMismatch,
    InvalidAmount,
    Money,
    UnknownCurrency,
    currency,
    format_minor,
    parse_amount,
    to_decimal_text,
)


def table_exponents() -> dict[str, int]:
    """Code -> exponent, read straight from the shipped ISO 4217 table (the oracle)."""
    text = files("paycli").joinpath("data/iso4217.tsv").read_text(encoding="utf-8")
    rows = (line.split("\t") for line in text.splitlines() if line and not line.startswith("#"))
    return {row[0]: int(row[2]) for row in rows}


TABLE = table_exponents()


class TestCurrency:
    @pytest.mark.parametrize(
        ("code", "exponent"),
        [("USD", 2), ("JPY", 0), ("KWD", 3), ("BHD", 3), ("CLF", 4)],
    )
    def test_exponent_follows_iso_4217(self, code: str, exponent: int) -> None:
        """Each currency carries its ISO 4217 minor-unit exponent."""
        assert currency(code).exponent == exponent
        assert currency(code).code == code

    @pytest.mark.parametrize("code", ["usd", "Usd", "uSD"])
    def test_code_is_case_insensitive(self, code: str) -> None:
        """A code in any case names the upper-case currency."""
        assert currency(code).code == "USD"

    @pytest.mark.parametrize("code", ["XXX", "XTS", "XAU", "xxx", "ABC", "ZZZ"])
    def test_codes_without_a_usable_minor_unit_are_unknown(self, code: str) -> None:
        """Testing, no-currency, precious-metal and made-up codes are refused."""
        with pytest.raises(UnknownCurrency, match=r"unknown currency|not a currency of money"):
            currency(code)

    @pytest.mark.parametrize(("code", "why"), [("XTS", "testing"), ("XAU", "gold")])
    def test_codes_iso_keeps_for_other_uses_say_so(self, code: str, why: str) -> None:
        """XTS is ISO 4217's code for testing: refused, and the message says why."""
        with pytest.raises(UnknownCurrency, match=f"keeps it for {why}; it is not a currency"):
            currency(code.lower())

    @pytest.mark.parametrize("code", ["US", "USDD", "", " USD", "US1", "ÜSD", "U$D"])
    def test_malformed_codes_are_refused(self, code: str) -> None:
        """Anything but three ASCII letters is not a currency code."""
        with pytest.raises(UnknownCurrency, match="3-letter"):
            currency(code)

    def test_table_has_no_test_or_metal_codes(self) -> None:
        """The shipped table holds only real currencies with a minor unit."""
        assert not {"XXX", "XTS", "XAU", "XAG", "XPT", "XPD"} & TABLE.keys()
        assert set(TABLE.values()) <= {0, 2, 3, 4}


class TestParseAmount:
    @pytest.mark.parametrize(
        ("text", "code", "minor"),
        [
            ("50", "USD", 5000),
            ("50.5", "USD", 5050),
            ("1250.50", "USD", 125050),
            ("0.01", "USD", 1),
            ("1000", "JPY", 1000),
            ("1.234", "KWD", 1234),
            ("0.001", "BHD", 1),
            ("1.2345", "CLF", 12345),
            ("007.10", "USD", 710),
        ],
    )
    def test_parses_exactly_into_minor_units(self, text: str, code: str, minor: int) -> None:
        """A decimal string becomes the exact integer count of minor units."""
        assert parse_amount(text, code) == Money(minor, code)

    def test_currency_code_is_normalised(self) -> None:
        """A lower-case code gives Money in the upper-case currency."""
        assert parse_amount("5", "jpy") == Money(5, "JPY")

    @pytest.mark.parametrize(
        ("text", "code", "why"),
        [
            ("0.001", "USD", "at most 2 decimal places"),
            ("1.5", "JPY", "no decimal places"),
            ("1.0", "JPY", "no decimal places"),
            ("1.2345", "KWD", "at most 3 decimal places"),
            ("1.23456", "CLF", "at most 4 decimal places"),
            ("0", "USD", "greater than zero"),
            ("0.00", "USD", "greater than zero"),
            ("0", "JPY", "greater than zero"),
            ("-5", "USD", "expected a positive decimal"),
            ("-0", "USD", "expected a positive decimal"),
            ("+5", "USD", "expected a positive decimal"),
            ("NaN", "USD", "expected a positive decimal"),
            ("nan", "USD", "expected a positive decimal"),
            ("Infinity", "USD", "expected a positive decimal"),
            ("inf", "USD", "expected a positive decimal"),
            ("1e3", "USD", "expected a positive decimal"),
            ("1E3", "USD", "expected a positive decimal"),
            ("abc", "USD", "expected a positive decimal"),
            ("", "USD", "expected a positive decimal"),
            (" ", "USD", "expected a positive decimal"),
            (" 5", "USD", "expected a positive decimal"),
            ("5 ", "USD", "expected a positive decimal"),
            ("5\n", "USD", "expected a positive decimal"),
            ("\uff11\uff10", "USD", "expected a positive decimal"),
            ("\u0665", "USD", "expected a positive decimal"),
            ("1,000", "USD", "expected a positive decimal"),
            ("1_000", "USD", "expected a positive decimal"),
            ("1.", "USD", "expected a positive decimal"),
            ("0x10", "USD", "expected a positive decimal"),
            ("1" + "0" * 30, "USD", "expected a positive decimal"),
        ],
    )
    def test_contract_rejections(self, text: str, code: str, why: str) -> None:
        """Every amount the contract calls a usage error raises InvalidAmount, saying why."""
        with pytest.raises(InvalidAmount, match=why):
            parse_amount(text, code)

    def test_unknown_currency_is_refused_before_the_amount(self) -> None:
        """An amount in an unknown currency raises UnknownCurrency."""
        with pytest.raises(UnknownCurrency):
            parse_amount("5", "XXX")

    @pytest.mark.parametrize(
        ("text", "code"), [("1000000", "USD"), ("999999.99", "USD"), ("1000000", "JPY")]
    )
    def test_the_maximum_itself_is_allowed(self, text: str, code: str) -> None:
        """An amount equal to the maximum in major units is accepted."""
        assert parse_amount(text, code, max_major=1_000_000).currency == code

    @pytest.mark.parametrize(
        ("text", "code"), [("1000000.01", "USD"), ("1000001", "JPY"), ("1000000.0001", "CLF")]
    )
    def test_above_the_maximum_is_refused(self, text: str, code: str) -> None:
        """An amount one minor unit above the maximum raises InvalidAmount."""
        with pytest.raises(InvalidAmount, match="above the maximum of 1000000"):
            parse_amount(text, code, max_major=1_000_000)

    def test_long_input_is_shortened_in_the_message(self) -> None:
        """A huge bad string is cut in the error message, keeping it one short line."""
        with pytest.raises(InvalidAmount) as caught:
            parse_amount("x" * 10_000, "USD")
        assert len(str(caught.value)) < 120
        assert "\n" not in str(caught.value)

    def test_a_float_is_refused_as_an_invalid_amount(self) -> None:
        """A float handed to the parser is an InvalidAmount, never money."""
        with pytest.raises(InvalidAmount):
            parse_amount(0.1, "USD")  # type: ignore[arg-type]


class TestFormat:
    @pytest.mark.parametrize(
        ("minor", "code", "text"),
        [
            (5000, "USD", "50.00"),
            (5, "USD", "0.05"),
            (0, "USD", "0.00"),
            (-5, "USD", "-0.05"),
            (-12345, "USD", "-123.45"),
            (1000, "JPY", "1000"),
            (-7, "JPY", "-7"),
            (1234, "KWD", "1.234"),
            (1, "BHD", "0.001"),
            (12345, "CLF", "1.2345"),
            (10**25 + 1, "USD", "100000000000000000000000.01"),
        ],
    )
    def test_formats_at_the_currency_precision(self, minor: int, code: str, text: str) -> None:
        """Minor units print with exactly the currency's number of decimals."""
        assert format_minor(minor, code) == text

    @pytest.mark.parametrize(
        ("minor", "code", "text"),
        [(5050, "USD", "50.5"), (5000, "USD", "50"), (5, "USD", "0.05"), (1000, "JPY", "1000"),
         (1230, "KWD", "1.23")],
    )
    def test_decimal_text_drops_trailing_zeros(self, minor: int, code: str, text: str) -> None:
        """The gateway's number text is exact and minimal."""
        assert to_decimal_text(minor, code) == text

    def test_money_text_and_str(self) -> None:
        """Money shows its amount at precision, and with its code."""
        assert Money(10050, "USD").text == "100.50"
        assert str(Money(1234, "KWD")) == "1.234 KWD"


class TestMoneyArithmetic:
    def test_same_currency_adds_and_subtracts(self) -> None:
        """Money of one currency adds, subtracts and compares by minor units."""
        a, b = Money(150, "USD"), Money(50, "USD")
        assert a + b == Money(200, "USD")
        assert a - b == Money(100, "USD")
        assert b < a
        assert b <= a
        assert a > b
        assert a >= b

    @pytest.mark.parametrize(
        "operation",
        [
            lambda a, b: a + b,
            lambda a, b: a - b,
            lambda a, b: a < b,
            lambda a, b: a <= b,
            lambda a, b: a > b,
            lambda a, b: a >= b,
        ],
        ids=["add", "sub", "lt", "le", "gt", "ge"],
    )
    def test_mixing_currencies_raises(self, operation: object) -> None:
        """Arithmetic or ordering across currencies raises CurrencyMismatch."""
        with pytest.raises(CurrencyMismatch, match=r"cannot combine (USD and JPY|JPY and USD)"):
            operation(Money(100, "USD"), Money(100, "JPY"))  # type: ignore[operator]

    def test_equal_minor_in_other_currency_is_not_equal(self) -> None:
        """100 cents and 100 yen are different money."""
        assert Money(100, "USD") != Money(100, "JPY")

    def test_money_is_immutable(self) -> None:
        """Money cannot be changed once made."""
        amount = Money(1, "USD")
        with pytest.raises(AttributeError):
            amount.minor = 2  # type: ignore[misc]


class TestRoundTripProperty:
    @settings(max_examples=300, deadline=None)
    @given(code=st.sampled_from(sorted(TABLE)), minor=st.integers(1, 10**24))
    def test_format_then_parse_gives_the_same_minor_units(self, code: str, minor: int) -> None:
        """For every currency and positive amount, parse(format(m)) is exactly m."""
        assert parse_amount(format_minor(minor, code), code).minor == minor
        assert parse_amount(format_minor(minor, code).lower(), code.lower()).minor == minor

    @settings(max_examples=100, deadline=None)
    @given(code=st.sampled_from(sorted(TABLE)), minor=st.integers(-(10**24), 10**24))
    def test_formatting_and_parsing_never_call_float(self, code: str, minor: int) -> None:
        """With `float` unusable inside paycli.money, formatting and parsing still work."""

        def no_float(*_args: object) -> float:
            raise AssertionError("paycli.money used float")

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(money, "float", no_float, raising=False)
            text = format_minor(minor, code)
            if minor > 0:
                assert parse_amount(text, code).minor == minor
        assert text.lstrip("-").replace(".", "").isdigit()
        assert len(text.partition(".")[2]) == TABLE[code]
