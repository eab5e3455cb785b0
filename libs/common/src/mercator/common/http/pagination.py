"""Opaque keyset cursors: a stable order, no skipped or repeated rows while data changes."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from mercator.common.http.errors import AppError

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class BadCursor(AppError):
    status, title = 422, "Invalid request"

    def __init__(self):
        super().__init__("the cursor is not one this service issued", field="cursor")


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, *parsers: Callable[[Any], Any]) -> list[Any] | None:
    """The values of a cursor, each through its parser (e.g. `uuid.UUID`); anything off is a 422."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != len(parsers):
            raise ValueError("wrong shape")
        return [parse(v) for parse, v in zip(parsers, values)]
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise BadCursor() from exc
