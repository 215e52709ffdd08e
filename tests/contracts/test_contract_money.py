"""Money: decimal strings on the wire, exact integer minor units inside."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.errors import ContractError, Reason
from contracts.money import (
    CURRENCIES,
    MAX_MINOR,
    currency,
    decimal_sign,
    format_minor,
    is_plain_decimal,
    to_minor,
    try_minor,
)


def reason_of(amount: str, code: str = "EUR") -> Reason:
    with pytest.raises(ContractError) as caught:
        to_minor(amount, code)
    return caught.value.reason


@pytest.mark.parametrize(
    ("amount", "code", "minor"),
    [
        ("1250.50", "EUR", 125050),
        ("1250.5", "EUR", 125050),
        ("1250", "EUR", 125000),
        ("0.01", "EUR", 1),
        ("0", "EUR", 0),
        ("007.10", "EUR", 710),
        ("1250", "JPY", 1250),
        ("1.250", "KWD", 1250),
        ("1.25", "KWD", 1250),
        ("0.0001", "CLF", 1),
        ("12.3456", "CLF", 123456),
        ("-0.05", "EUR", -5),
        ("-1250", "JPY", -1250),
    ],
)
def test_amounts_parse_to_exact_minor_units(amount: str, code: str, minor: int) -> None:
    assert to_minor(amount, code) == minor


@pytest.mark.parametrize(
    ("minor", "code", "text"),
    [
        (125050, "EUR", "1250.50"),
        (1250, "JPY", "1250"),
        (1250, "KWD", "1.250"),
        (1, "CLF", "0.0001"),
        (-5, "EUR", "-0.05"),
        (0, "EUR", "0.00"),
        (0, "JPY", "0"),
        (-1250, "JPY", "-1250"),
        (MAX_MINOR, "EUR", "10000000000000.00"),
    ],
)
def test_minor_units_format_with_exactly_the_currency_decimals(minor: int, code: str, text: str) -> None:
    assert format_minor(minor, code) == text
    assert to_minor(text, code) == minor


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ("10.123", "EUR"),
        ("1.230", "EUR"),
        ("1.0", "JPY"),
        ("1250.00", "JPY"),
        ("1.2345", "KWD"),
        ("0.00001", "CLF"),
    ],
)
def test_money_with_more_decimals_than_the_currency_is_rejected(amount: str, code: str) -> None:
    assert reason_of(amount, code) is Reason.MONEY_PRECISION


def test_a_precision_error_names_the_field_and_the_allowed_decimals() -> None:
    with pytest.raises(ContractError) as caught:
        to_minor("10.123", "EUR", field="data.lines[2].net_amount")
    assert caught.value.detail == ("data.lines[2].net_amount: '10.123' has 3 decimals, EUR allows 2")


@pytest.mark.parametrize(
    "amount",
    [
        "1e3",
        "1E3",
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "inf",
        " 1",
        "1 ",
        "1\n",
        "+1",
        "1.",
        ".5",
        "",
        "-",
        "--1",
        "1.2.3",
        "1,50",
        "0x10",
        "1_000",
        "\u0661",  # Arabic-Indic one
        "\uff11",  # fullwidth one
        "²",
        "½",
        "-.5",
        "- 1",
    ],
)
def test_anything_but_a_plain_decimal_string_is_invalid_money(amount: str) -> None:
    assert reason_of(amount) is Reason.INVALID_MONEY


def test_the_largest_accepted_amount_is_max_minor_exactly() -> None:
    assert to_minor("10000000000000.00", "EUR") == MAX_MINOR
    assert to_minor("-10000000000000.00", "EUR") == -MAX_MINOR
    assert to_minor(str(MAX_MINOR), "JPY") == MAX_MINOR


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ("10000000000000.01", "EUR"),
        ("-10000000000000.01", "EUR"),
        (str(MAX_MINOR + 1), "JPY"),
        ("9" * 5000, "EUR"),
        ("1" + "0" * 100, "KWD"),
    ],
)
def test_huge_amounts_are_out_of_range(amount: str, code: str) -> None:
    assert reason_of(amount, code) is Reason.AMOUNT_OUT_OF_RANGE


def test_leading_zeros_do_not_make_an_amount_out_of_range() -> None:
    assert to_minor("0" * 5000 + "12.50", "EUR") == 1250


@pytest.mark.parametrize("code", ["XYZ", "eur", "EURO", "", " EUR", "XAU", "XDR", "HRK"])
def test_unknown_or_unsupported_currencies_are_rejected(code: str) -> None:
    with pytest.raises(ContractError) as caught:
        currency(code)
    assert caught.value.reason is Reason.UNKNOWN_CURRENCY
    assert reason_of("1", code) is Reason.UNKNOWN_CURRENCY


def test_the_currency_table_has_iso_4217_exponents_and_symbols() -> None:
    exponents = {code: c.exponent for code, c in CURRENCIES.items()}
    assert {c for c, e in exponents.items() if e == 0} >= {
        "JPY",
        "KRW",
        "CLP",
        "ISK",
        "UYI",
    }
    assert {c for c, e in exponents.items() if e == 3} == {
        "BHD",
        "IQD",
        "JOD",
        "KWD",
        "LYD",
        "OMR",
        "TND",
    }
    assert {c for c, e in exponents.items() if e == 4} == {"CLF", "UYW"}
    assert exponents["EUR"] == exponents["USD"] == exponents["CHF"] == 2
    assert len(CURRENCIES) > 150
    symbols = {code: CURRENCIES[code].symbol for code in ("GBP", "EUR", "USD", "JPY", "INR", "CHF")}
    assert symbols == {
        "GBP": "£",
        "EUR": "€",
        "USD": "$",
        "JPY": "¥",
        "INR": "₹",
        "CHF": "CHF",
    }
    assert all(c.code == code and len(code) == 3 for code, c in CURRENCIES.items())


def test_the_sign_of_a_decimal_string_needs_no_currency() -> None:
    assert decimal_sign("12.345678") == 1
    assert decimal_sign("0.000") == 0
    assert decimal_sign("-0") == 0
    assert decimal_sign("-0.01") == -1
    with pytest.raises(ContractError) as caught:
        decimal_sign("1e3", field="data.amount")
    assert caught.value.reason is Reason.INVALID_MONEY
    assert caught.value.detail.startswith("data.amount: '1e3'")


def test_plain_decimals_are_unsigned_ascii_digits_with_an_optional_fraction() -> None:
    assert is_plain_decimal("0")
    assert is_plain_decimal("12.5000")
    assert not is_plain_decimal("-1")
    assert not is_plain_decimal("١٢")
    assert not is_plain_decimal("1.")


codes = st.sampled_from(sorted(CURRENCIES))
minors = st.integers(min_value=-MAX_MINOR, max_value=MAX_MINOR)


@given(minors, codes)
def test_formatting_then_parsing_gives_back_the_same_minor_units(minor: int, code: str) -> None:
    assert to_minor(format_minor(minor, code), code) == minor


@given(
    st.text(alphabet="0123456789.-+e \u0661", max_size=24),
    st.sampled_from([0, 2, 3, 4]),
)
def test_the_fast_path_agrees_with_to_minor_or_defers_to_it(text: str, exponent: int) -> None:
    code = {0: "JPY", 2: "EUR", 3: "KWD", 4: "CLF"}[exponent]
    fast = try_minor(text, exponent)
    if fast is not None:
        assert fast == to_minor(text, code)
        assert fast >= 0
