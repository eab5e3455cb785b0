"""Field types every service's API shares."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _no_float(value):
    # A JSON number with a fraction arrives as a float, already rounded: money and quantities come exact.
    if isinstance(value, bool | float):
        raise ValueError("send a decimal string such as \"120000.00\", not a number")
    return value


Exact = Annotated[Decimal, BeforeValidator(_no_float), Field(allow_inf_nan=False)]
Currency = Annotated[str, Field(min_length=3, max_length=3, pattern=r"^[A-Za-z]{3}$",
                                description="ISO 4217 code, e.g. RUB")]


class Input(BaseModel):
    """A request body: unknown fields are refused (named), text is trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
