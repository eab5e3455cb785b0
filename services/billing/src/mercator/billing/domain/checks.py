"""Checks every billing document shares: text, calendar days, amounts, VAT rates, references, and
invoice numbers."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from mercator.common.errors import InvalidValue
from mercator.common.money import parse_amount, parse_decimal

# Russian VAT rates an invoice line may carry: 22% is the standard rate from 1 January 2026,
# 20% stays for corrections of earlier supplies; "none" is 'без НДС' (the seller is exempt),
# which prints differently from a 0% export sale although both add nothing.
VAT_NONE = "none"
VAT_STANDARD = "22"
VAT_RATES: frozenset[str] = frozenset({VAT_NONE, "0", "10", "20", VAT_STANDARD})


def clean_text(value: str | None) -> str | None:
    return " ".join(value.split()) if isinstance(value, str) and value.strip() else None


def calendar_day(value: date, name: str) -> date:
    # A datetime is a date to Python, but which day it is depends on a zone we do not know.
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidValue("bad_date", "a calendar date (YYYY-MM-DD) is expected", name)
    return value


def positive_amount(value: str | Decimal | int, currency: str, name: str) -> Decimal:
    amount = parse_amount(value, currency, name)
    if not amount:
        raise InvalidValue("amount_not_positive", "the amount must be above zero", name)
    return amount


def normalise_reference(text: str | None) -> str | None:
    # Bank statements and clerks differ in case and spacing: 'пп 123' is 'ПП  123'.
    return " ".join(text.split()).upper() if isinstance(text, str) and text.strip() else None


def check_vat_rate(value: str | Decimal | int, name: str = "vat_rate") -> str:
    if isinstance(value, str) and value.strip().lower() == VAT_NONE:
        return VAT_NONE
    try:
        code = f"{parse_decimal(value, name).normalize():f}"  # '20.00' and 20 are the same rate
    except InvalidValue:
        code = None
    if code not in VAT_RATES:
        raise InvalidValue("bad_vat_rate", f"VAT is one of {sorted(VAT_RATES)}, not {value!r}", name)
    return code


# The counter lives in a row per year, bumped in the transaction that issues the invoice:
# a rollback gives the number back, so the tax office's no-gaps rule holds.
_INVOICE_NUMBER = re.compile(r"([0-9]{4})-([0-9]{6})")
MAX_INVOICE_SEQ = 999_999


def format_invoice_number(year: int, seq: int) -> str:
    if isinstance(year, bool) or not isinstance(year, int) or not 1000 <= year <= 9999:
        raise InvalidValue("bad_year", "the year has four digits", "number")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise InvalidValue("bad_sequence", "invoice numbers start at 1", "number")
    if seq > MAX_INVOICE_SEQ:
        # A seventh digit would break sorting of numbers as text; it needs a decision.
        raise InvalidValue("invoice_sequence_exhausted", f"no numbers left in {year}", "number")
    return f"{year:04d}-{seq:06d}"


def parse_invoice_number(number: str) -> tuple[int, int]:
    found = _INVOICE_NUMBER.fullmatch(number.strip()) if isinstance(number, str) else None
    if not found or not int(found[2]):
        raise InvalidValue("bad_invoice_number", f"not an invoice number: {number!r}", "number")
    return int(found[1]), int(found[2])


def missing_invoice_numbers(numbers: Iterable[str], year: int) -> list[str]:
    """Gaps in a year's issued numbers, for the audit; cancelled invoices keep theirs."""
    taken = {seq for y, seq in map(parse_invoice_number, numbers) if y == year}
    return [format_invoice_number(year, s) for s in range(1, max(taken, default=0)) if s not in taken]
