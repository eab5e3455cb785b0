"""Opaque keyset cursors: a stable order, no skipped or repeated rows while data changes."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import tuple_

from mercator.common.errors import BadReference

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class BadCursor(BadReference):
    def __init__(self, field: str = "cursor"):
        super().__init__("the cursor is not one this service issued", field=field)


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
        return [parse(v) for parse, v in zip(parsers, values, strict=False)]
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise BadCursor() from exc


def _parser(column) -> Callable[[Any], Any]:
    kind = column.type.python_type
    if issubclass(kind, datetime):
        return _time
    return kind.fromisoformat if issubclass(kind, date) else kind


def _time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.utcoffset() is None:  # not one this service issued, and the database refuses it (UtcDateTime)
        raise ValueError("a cursor's time without its offset")
    return moment


async def keyset_page(
    session,
    stmt,
    columns: tuple,
    limit: int,
    cursor: str | None,
    *,
    descending: bool = False,
    rows_of_columns: bool = False,
):
    """One page of `stmt` in the order of `columns` (the last one unique, e.g. the id), after `cursor`;
    returns the rows and the cursor of the next page (None on the last). `rows_of_columns` for a statement
    that selects columns (the `columns` among them) rather than one entity."""
    after = decode_cursor(cursor, *(_parser(c) for c in columns))
    if after:
        key = tuple_(*columns)
        stmt = stmt.where(key < tuple_(*after) if descending else key > tuple_(*after))
    order = [c.desc() for c in columns] if descending else list(columns)
    result = await session.execute(stmt.order_by(*order).limit(limit + 1))
    rows = result.all() if rows_of_columns else result.scalars().all()
    page = list(rows[:limit])
    if len(rows) <= limit:
        return page, None
    last = page[-1]
    return page, encode_cursor([_plain(getattr(last, c.key)) for c in columns])


def _plain(value):
    return value.isoformat() if isinstance(value, datetime) else str(value)
