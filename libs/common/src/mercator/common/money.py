"""Money rules shared by every service: ISO 4217 codes, minor units, exact decimals.

Pure Python. Money is Decimal end to end: a float has already lost
its cents before it gets here, so it is refused, never converted.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from mercator.common.errors import InvalidValue

# ISO 4217 List One as published 2026-01-01, grouped by minor units. Codes without
# minor units (metals, SDR, bond-market and test units, XXX) are left out: nothing is
# sold for them. Withdrawn codes (RUR, BGN, HRK, ANG, CUC, SLL, ZWL) are left out too:
# a new amount in one of them is a typo or a stale price list.
_CODES_BY_MINOR_UNITS = {
    0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF",
    2: "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BMD BND BOB BOV BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB "
    "EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES "
    "KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR "
    "MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD "
    "RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP "
    "TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XAD XCD XCG YER ZAR ZMW ZWG",
    3: "BHD IQD JOD KWD LYD OMR TND",
    4: "CLF UYW",
}
CURRENCY_MINOR_UNITS: dict[str, int] = {
    code: units for units, codes in _CODES_BY_MINOR_UNITS.items() for code in codes.split()
}
# Far above any real deal, far below where Decimal's 28-digit context starts rounding.
MAX_AMOUNT = Decimal(10) ** 15
# Plain decimals only, as §7 puts them on the wire: no exponents, no '1_000', no
# non-ASCII digits (Decimal() itself accepts all three). The API documents this very
# pattern (http/fields.py), so what a partner's validator passes is what is taken.
PLAIN_DECIMAL = r"^-?[0-9]+(\.[0-9]+)?$"
_PLAIN_DECIMAL = re.compile(PLAIN_DECIMAL)


def check_currency(code: str, field: str = "currency") -> str:
    upper = code.strip().upper() if isinstance(code, str) else None
    if upper not in CURRENCY_MINOR_UNITS:
        raise InvalidValue("unknown_currency", f"not an ISO 4217 currency: {code!r}", field)
    return upper


def minor_units(currency: str) -> int:
    return CURRENCY_MINOR_UNITS[check_currency(currency)]


def parse_decimal(value: str | Decimal | int, field: str) -> Decimal:
    """A finite Decimal from a plain decimal string, a Decimal or an int; never a float."""
    if isinstance(value, float):
        raise InvalidValue("float_money", "send a decimal string, not a float", field)
    if isinstance(value, str) and _PLAIN_DECIMAL.fullmatch(value.strip()):
        number = Decimal(value.strip())
    elif isinstance(value, Decimal) or (isinstance(value, int) and not isinstance(value, bool)):
        number = Decimal(value)
    else:
        raise InvalidValue("invalid_number", f"not a decimal number: {value!r}", field)
    if not number.is_finite():
        raise InvalidValue("invalid_number", f"not a finite number: {value!r}", field)
    return number if number else number.copy_abs()  # '-0' would print as '-0.00'


def quantize(amount: Decimal | int, currency: str) -> Decimal:
    exponent = Decimal(1).scaleb(-minor_units(currency))
    return parse_decimal(amount, "amount").quantize(exponent, ROUND_HALF_UP)


def parse_amount(
    value: str | Decimal | int, currency: str, field: str = "amount", allow_negative: bool = False
) -> Decimal:
    code = check_currency(currency)
    amount = parse_decimal(value, field)
    if amount < 0 and not allow_negative:
        raise InvalidValue("negative_amount", "the amount cannot be negative", field)
    if abs(amount) > MAX_AMOUNT:
        raise InvalidValue("amount_too_large", f"the amount exceeds {MAX_AMOUNT:,}", field)
    exact = quantize(amount, code)
    # Value, not spelling: '10.000' RUB is exactly 10 roubles; '10.005' would need rounding.
    if exact != amount:
        raise InvalidValue("too_many_decimals", f"{code} has {CURRENCY_MINOR_UNITS[code]} decimal places", field)
    return exact


def format_amount(amount: Decimal | int, currency: str) -> str:
    return f"{quantize(amount, currency):f}"


def check_percent(value: str | Decimal | int, field: str = "discount_percent") -> Decimal:
    percent = parse_decimal(value, field)
    if not 0 <= percent <= 100:
        raise InvalidValue("bad_discount", "a discount is 0 to 100 percent", field)
    return percent


def apply_discount(amount: Decimal | int, percent: str | Decimal | int, currency: str) -> Decimal:
    # One rounding, at the end: rounding the discount separately can be a cent off.
    return quantize(parse_decimal(amount, "amount") * (100 - check_percent(percent)) / 100, currency)
