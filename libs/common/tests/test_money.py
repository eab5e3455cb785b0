from decimal import Decimal

import pytest

from mercator.common.errors import InvalidValue
from mercator.common.money import (
    CURRENCY_MINOR_UNITS,
    MAX_AMOUNT,
    apply_discount,
    check_currency,
    check_percent,
    format_amount,
    minor_units,
    parse_amount,
    parse_decimal,
    quantize,
)


def refused(rule, call, *args, **kwargs):
    with pytest.raises(InvalidValue) as caught:
        call(*args, **kwargs)
    assert caught.value.rule == rule
    return caught.value


# --- currencies --------------------------------------------------------------


@pytest.mark.parametrize(
    "code, units",
    [
        ("RUB", 2),
        ("USD", 2),
        ("EUR", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("XOF", 0),
        ("KWD", 3),
        ("BHD", 3),
        ("TND", 3),
        ("CLF", 4),
        ("UYW", 4),
        ("XCG", 2),
        ("ZWG", 2),
    ],
)
def test_minor_units_follow_iso_4217(code, units):
    assert minor_units(code) == units


def test_the_table_is_the_whole_list_not_a_handful():
    # List One of 2026-01-01 less the 13 codes without minor units (XAU, XDR, XXX, ...).
    assert len(CURRENCY_MINOR_UNITS) == 165
    assert all(len(code) == 3 and code.isupper() for code in CURRENCY_MINOR_UNITS)


def test_currency_is_normalised_to_upper_case():
    assert check_currency(" rub ") == "RUB"


@pytest.mark.parametrize(
    "code",
    [
        "RUR",
        "XYZ",
        "BGN",
        "HRK",
        "XAU",
        "XXX",
        "",
        "RU",
        "RUBL",
        None,
        643,
    ],
)
def test_unknown_withdrawn_and_non_money_codes_are_refused(code):
    error = refused("unknown_currency", check_currency, code, field="offer.currency")
    assert error.field == "offer.currency"


# --- amounts -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, currency, expected",
    [
        ("120000", "RUB", "120000.00"),
        ("120000.5", "RUB", "120000.50"),
        (" 0.01 ", "USD", "0.01"),
        ("10.000", "RUB", "10.00"),  # trailing zeros change no value
        ("1500", "JPY", "1500"),
        ("1500.00", "JPY", "1500"),
        ("1.234", "KWD", "1.234"),
        (Decimal("99.9"), "EUR", "99.90"),
        (42, "EUR", "42.00"),
        ("-0", "RUB", "0.00"),
    ],
)
def test_parse_amount_quantizes_to_the_currency(value, currency, expected):
    amount = parse_amount(value, currency)
    assert isinstance(amount, Decimal)
    assert format_amount(amount, currency) == expected
    assert amount.as_tuple().exponent == -minor_units(currency)


def test_a_float_is_refused_even_when_it_looks_exact():
    error = refused("float_money", parse_amount, 10.5, "RUB", field="lines[0].unit_price")
    assert error.field == "lines[0].unit_price"
    refused("float_money", parse_decimal, 0.1, "x")


@pytest.mark.parametrize(
    "value, currency",
    [
        ("10.005", "RUB"),
        ("1.5", "JPY"),
        ("0.001", "USD"),
        ("1.2345", "KWD"),
        (Decimal("0.5"), "JPY"),
    ],
)
def test_more_decimals_than_the_currency_has_are_refused(value, currency):
    refused("too_many_decimals", parse_amount, value, currency)


def test_negative_amounts_only_when_allowed():
    refused("negative_amount", parse_amount, "-1.00", "RUB")
    refused("negative_amount", parse_amount, -5, "RUB")
    assert parse_amount("-1.5", "RUB", allow_negative=True) == Decimal("-1.50")


@pytest.mark.parametrize(
    "value",
    [
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "sNaN",
        Decimal("NaN"),
        Decimal("Infinity"),
        "",
        "abc",
        "1e3",
        "1_000",
        "1,5",
        ".5",
        "5.",
        "+5",
        "١٢",
        True,
        None,
        [1],
    ],
)
def test_non_numbers_are_refused(value):
    refused("invalid_number", parse_amount, value, "RUB")


def test_absurd_magnitudes_are_refused():
    assert parse_amount(str(MAX_AMOUNT), "RUB") == MAX_AMOUNT
    refused("amount_too_large", parse_amount, "1000000000000000.01", "RUB")
    refused("amount_too_large", parse_amount, "9" * 40, "RUB")
    refused("amount_too_large", parse_amount, "-" + "9" * 40, "RUB", allow_negative=True)


def test_an_unknown_currency_is_named_as_such_not_as_a_bad_amount():
    error = refused("unknown_currency", parse_amount, "10", "RUR")
    assert error.field == "currency"


# --- rounding, formatting, discounts -------------------------------------------


def test_quantize_rounds_half_up_not_to_even():
    assert quantize(Decimal("0.125"), "RUB") == Decimal("0.13")
    assert quantize(Decimal("0.135"), "RUB") == Decimal("0.14")
    assert quantize(Decimal("2.5"), "JPY") == Decimal("3")
    assert quantize(Decimal("-0.125"), "RUB") == Decimal("-0.13")


def test_format_amount_is_a_plain_decimal_string():
    assert format_amount(Decimal("120000"), "RUB") == "120000.00"
    assert format_amount(Decimal("1E+6"), "USD") == "1000000.00"
    assert format_amount(Decimal("7"), "KWD") == "7.000"
    assert format_amount(Decimal("7"), "JPY") == "7"


@pytest.mark.parametrize(
    "amount, percent, currency, expected",
    [
        ("1000.00", "10", "RUB", "900.00"),
        ("1000.00", "0", "RUB", "1000.00"),
        ("1000.00", "100", "RUB", "0.00"),
        ("99.99", "12.5", "RUB", "87.49"),  # 87.49125 -> one rounding at the end
        ("0.05", "50", "USD", "0.03"),  # 0.025 rounds half up
        ("1001", "15", "JPY", "851"),  # 850.85
    ],
)
def test_apply_discount(amount, percent, currency, expected):
    assert apply_discount(Decimal(amount), Decimal(percent), currency) == Decimal(expected)


@pytest.mark.parametrize("percent", ["-1", "100.01", "101", 12.5, "NaN"])
def test_discounts_outside_0_to_100_are_refused(percent):
    with pytest.raises(InvalidValue) as caught:
        apply_discount(Decimal("10"), percent, "RUB")
    assert caught.value.rule in {"bad_discount", "float_money", "invalid_number"}
    assert caught.value.field == "discount_percent"


def test_check_percent_names_the_rule_and_field():
    assert check_percent("7.5") == Decimal("7.5")
    error = refused("bad_discount", check_percent, "150", "offers[2].discount_percent")
    assert error.field == "offers[2].discount_percent"
