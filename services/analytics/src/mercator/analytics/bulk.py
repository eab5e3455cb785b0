"""Set-based writes for the projection handlers that take a whole batch of one event type.

A batch locks every read-model row it touches in one statement, applies the same rules (`domain`) to them in
memory event by event, in delivery order, and writes what changed back in one statement: a few round trips per
batch instead of several per event. A batch of one is the single-event path, so there is one implementation of
each rule.

On PostgreSQL the rows travel as one array per column, unnested by the server (`rows_of`), and keys as one array
(`among`): one execution of one prepared statement whatever the batch's size, where an executemany costs the
server an execution per row and an IN list a new statement per length. SQLite (`make run`) takes the executemany.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Table, any_, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.bus.consumer import Delivery, Handler, batch_handler
from mercator.common.db import insert_unnested, unnest
from mercator.common.uow import UnitOfWork

# Keys per IN (...): well under PostgreSQL's 32,767 and SQLite's 32,766 bound parameters.
_CHUNK = 1000


class Row(SimpleNamespace):
    """A read-model row loaded for a batch; the rules set its attributes like those of a mapped object."""


class Rows(dict):
    """Locked rows of one table by primary key, with what they held when loaded."""

    def __init__(self, table: Table, loaded: dict[Any, dict]):
        super().__init__({k: Row(**v) for k, v in loaded.items()})
        self.table = table
        self.loaded = loaded

    def changed(self) -> list[dict]:
        return [vars(row) for key, row in self.items() if vars(row) != self.loaded[key]]


def set_based(fn: Callable[[AsyncSession, list[Delivery]], Awaitable[None]]) -> Handler:
    """A batch handler that writes through Core statements beside the ORM session of the same transaction:
    what the session holds is written first, and what it cached is read afresh afterwards."""

    @batch_handler
    @functools.wraps(fn)
    async def handler(uow: UnitOfWork, deliveries: list[Delivery]) -> None:
        await uow.session.flush()
        await fn(uow.session, deliveries)
        uow.session.expire_all()

    return handler


def insert(session: AsyncSession):
    """The dialect's INSERT, which knows ON CONFLICT (PostgreSQL in tests and production, SQLite in `make run`)."""
    return postgresql.insert if on_postgres(session) else sqlite.insert


def on_postgres(session: AsyncSession) -> bool:
    """PostgreSQL (tests and production) rather than SQLite (`make run`): a few statements differ."""
    return session.get_bind().dialect.name == "postgresql"


def rows_of(session: AsyncSession, table: Table, rows: list[dict]):
    """An INSERT of `rows` (dicts with the same keys), to be given ON CONFLICT, and the parameters to execute it
    with: on PostgreSQL an INSERT ... SELECT FROM unnest(one array per column) and no parameters, elsewhere a
    plain INSERT and the rows (an executemany). Columns the rows leave out take their defaults either way."""
    ins = insert(session)
    if not on_postgres(session):
        return ins(table), rows
    return insert_unnested(table, rows, ins), None


def among(session: AsyncSession, column, keys: Iterable[Any]):
    """`column IN keys`; on PostgreSQL `column = ANY(array)`, one statement whatever the number of keys."""
    if on_postgres(session):
        return column == any_(bindparam(None, list(keys), type_=ARRAY(column.type)))
    return column.in_(list(keys))


def chunks(values: list, size: int = _CHUNK) -> Iterable[list]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _key(table: Table):
    [key] = table.primary_key.columns
    return key


async def lock(session: AsyncSession, model, keys: Iterable[Any], blank: Callable[[Any], dict]) -> Rows:
    """Every row named by `keys`, locked: a missing one is written first as the placeholder `blank(key)` gives
    (something about it came before its creation), so a concurrent batch on another instance waits for this
    one instead of both inserting. Locked in key order, so two batches never wait on each other in a cycle."""
    table: Table = model.__table__
    return Rows(table, await lock_rows(session, table, [table], keys, blank))


async def lock_rows(
    session: AsyncSession,
    table: Table,
    columns: list,
    keys: Iterable[Any],
    blank: Callable[[Any], dict],
    *,
    share: bool = False,
) -> dict[Any, dict]:
    """`lock`'s work on chosen columns (`share`: a shared lock, for rows only read). Most rows exist: they are
    locked first, and only the missing ones written as placeholders and locked after."""
    key = _key(table)
    ordered = sorted(set(keys))
    loaded: dict[Any, dict] = {}

    async def load(wanted: list) -> None:
        for part in chunks(wanted):
            result = await session.execute(
                select(*columns).where(among(session, key, part)).order_by(key).with_for_update(read=share)
            )
            names = list(result.keys())
            at = names.index(key.name)
            for row in result:
                loaded[row[at]] = dict(zip(names, row, strict=True))

    await load(ordered)
    missing = [k for k in ordered if k not in loaded]
    if missing:
        stmt, params = rows_of(session, table, [blank(k) for k in missing])
        await session.execute(stmt.on_conflict_do_nothing(index_elements=[key]), params)
        await load(missing)
    return loaded


async def save(session: AsyncSession, rows: Rows) -> None:
    """Writes back the rows the batch changed, in one statement (they all exist and are locked). On PostgreSQL
    only the columns some row changed travel: an event moves a deal's stage, not its 25 columns."""
    table, key = rows.table, _key(rows.table)
    changed = rows.changed()
    if not changed:
        return
    if not on_postgres(session):
        stmt = insert(session)(table)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[key], set_={c.name: stmt.excluded[c.name] for c in table.columns if not c.primary_key}
            ),
            changed,
        )
        return
    names: set[str] = set()
    for row in changed:
        names.update(name for name, _ in row.items() - rows.loaded[row[key.name]].items())
    columns = [c for c in table.columns if c.name in names and not c.primary_key]
    if not columns:
        return
    given = unnest([key, *columns], changed)
    await session.execute(
        update(table).where(key == given.c[key.name]).values({c.name: given.c[c.name] for c in columns})
    )


async def add_new(session: AsyncSession, model, facts: dict[Any, dict], *, returning: bool = False) -> list:
    """Facts that never change once written (a history entry, a transition, an allocation): a copy of one
    already stored adds nothing. `facts` holds one dict per key, the first copy of the batch. With `returning`,
    the keys of the facts that were new (a tuple for a key of several columns)."""
    table: Table = model.__table__
    if not facts:
        return []
    stmt, params = rows_of(session, table, list(facts.values()))
    stmt = stmt.on_conflict_do_nothing(index_elements=list(table.primary_key.columns))
    if not returning:
        await session.execute(stmt, params)
        return []
    keys = list(table.primary_key.columns)
    result = await session.execute(stmt.returning(*keys), params)
    return [row[0] if len(keys) == 1 else tuple(row) for row in result]
