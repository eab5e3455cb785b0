"""Field types every service's API shares."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from mercator.common.money import PLAIN_DECIMAL

# What a decimal is on the wire, in both directions: the pattern money.py reads, documented as such.
DECIMAL_SCHEMA = {
    "type": "string",
    "pattern": PLAIN_DECIMAL,
    "examples": ["120000.00"],
    "description": "a decimal string: digits, an optional leading '-' and '.'; never a JSON number",
}


def _decimal_string(value):
    # A JSON number with a fraction arrives as a float, already rounded; a whole one would be taken while its
    # neighbour with a fraction is not: money and quantities come as text, numbers are refused alike.
    if isinstance(value, Decimal):  # made in Python, never parsed from JSON
        return value
    if not isinstance(value, str):
        raise ValueError('send a decimal string such as "120000.00", not a number')
    # fullmatch: `$` alone would let a trailing newline through, which the documented (ECMA-262) pattern does not.
    if not re.fullmatch(PLAIN_DECIMAL, value):
        raise ValueError("a decimal such as \"120000.00\": digits, an optional leading '-' and '.', nothing else")
    return Decimal(value)


Exact = Annotated[Decimal, BeforeValidator(_decimal_string), WithJsonSchema(DECIMAL_SCHEMA, mode="validation")]

# A decimal a service has already written as text (format_amount): documented as the decimal it is.
DecimalText = Annotated[str, WithJsonSchema({"type": "string", "pattern": PLAIN_DECIMAL})]


def _document_decimals_with_their_pattern() -> None:
    """A response's Decimal (an amount, a total, a quantity) is written as a plain decimal string, and pydantic
    documents it as a bare string. FastAPI builds its documents with a JSON Schema generator of its own and
    takes none from an app, so the pattern goes on that class, the one hook pydantic offers for it."""
    from fastapi._compat import v2

    v2.GenerateJsonSchema.get_decimal_pattern = lambda self, schema: PLAIN_DECIMAL  # type: ignore[method-assign]


_document_decimals_with_their_pattern()
Currency = Annotated[
    str, Field(min_length=3, max_length=3, pattern=r"^[A-Za-z]{3}$", description="ISO 4217 code, e.g. RUB")
]


class Input(BaseModel):
    """A request body: unknown fields are refused (named), text is trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
