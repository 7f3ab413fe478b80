from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.money import MoneyError, format_money, from_minor_units, to_minor_units


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("0.01", "usd", 1),
        ("12.50", "usd", 1250),
        ("12.5", "eur", 1250),
        ("12.500", "usd", 1250),  # trailing zeros are not extra precision
        ("12", "gbp", 1200),
        (12, "usd", 1200),
        (Decimal("0.1") + Decimal("0.2"), "usd", 30),
        # Amounts whose float value is just below the cent: int(x * 100) would lose one.
        ("0.29", "usd", 29),
        ("1.15", "usd", 115),
        ("4.35", "usd", 435),
        ("19.99", "USD", 1999),  # the code's case does not matter
        ("1500", "jpy", 1500),  # zero-decimal: the amount is already the smallest unit
        ("1500", "JPY", 1500),
        ("-12.34", "usd", -1234),
        ("1000000.00", "usd", 100_000_000),
        ("12.34", "sek", 1234),  # unknown to the symbol table: still two decimals
        ("1e-2", "usd", 1),
    ],
)
def test_to_minor_units(amount, currency, expected):
    assert to_minor_units(amount, currency) == expected


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        ("12.345", "usd"),  # finer than a cent
        ("0.001", "eur"),
        ("15.5", "jpy"),  # yen has no decimals
        ("0.1", "krw"),
        # A float sum carries binary noise (0.30000000000000004): refused, not silently rounded.
        (0.1 + 0.2, "usd"),
        ("abc", "usd"),
        ("", "usd"),
        (None, "usd"),
        ("NaN", "usd"),
        ("Infinity", "usd"),
        ("12,50", "usd"),
    ],
)
def test_to_minor_units_refuses(amount, currency):
    with pytest.raises(MoneyError):
        to_minor_units(amount, currency)


def test_money_error_is_a_value_error_with_a_readable_message():
    with pytest.raises(ValueError, match="USD amounts have at most 2 decimal places"):
        to_minor_units("1.234", "usd")


@pytest.mark.parametrize(
    ("cents", "currency", "expected"),
    [
        (1, "usd", Decimal("0.01")),
        (1250, "usd", Decimal("12.50")),
        (0, "eur", Decimal("0.00")),
        (-250, "eur", Decimal("-2.50")),
        (1500, "jpy", Decimal("1500")),
        (1234, "sek", Decimal("12.34")),
    ],
)
def test_from_minor_units(cents, currency, expected):
    result = from_minor_units(cents, currency)
    assert result == expected
    assert str(result) == str(expected)  # same number of decimal places, not just equal


@pytest.mark.parametrize(
    ("cents", "currency", "expected"),
    [
        (1, "usd", "US$0.01"),
        (1250, "usd", "US$12.50"),
        (1250, "USD", "US$12.50"),
        (123456789, "usd", "US$1,234,567.89"),
        (0, "eur", "€0.00"),
        (999, "gbp", "£9.99"),
        (1500, "jpy", "¥1,500"),
        (-1234, "usd", "-US$12.34"),
        (-5, "eur", "-€0.05"),
        (1234, "sek", "12.34 SEK"),  # unknown currency: the code after the number
        (100, "chf", "CHF 1.00"),
        (None, "usd", ""),
    ],
)
def test_format_money(cents, currency, expected):
    assert format_money(cents, currency) == expected


@given(
    cents=st.integers(min_value=-(10**12), max_value=10**12),
    currency=st.sampled_from(["usd", "eur", "gbp", "jpy", "krw", "sek"]),
)
def test_minor_units_round_trip(cents, currency):
    assert to_minor_units(from_minor_units(cents, currency), currency) == cents
