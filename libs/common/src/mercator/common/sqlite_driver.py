"""SQLAlchemy's aiosqlite adapter, with the statements of a writing transaction run on the event loop.

SQLite has one writer at a time, so how long a writing transaction holds the lock sets the pace of every
write in the service. aiosqlite runs each call on a thread of its own: SQLAlchemy's adapter made four such
calls per statement (open a cursor, execute, fetch, close), each answer waited in the loop's queue behind
the other requests' work, and on the thread each row of an executemany waited for the interpreter's lock
that the loop held. A history batch of 250 entries held the write lock about 25 ms for some 6 ms of
SQLite's work (bench/bus.py, 32 clients; its insert alone 7 ms on the thread under that load, 2 ms idle).

So: once a connection is in a transaction that holds the lock (`BEGIN IMMEDIATE`, see db.py), its
statements run right here on the loop, in one go, since there is nothing left for them to wait for. What
can wait (`BEGIN IMMEDIATE` behind another process's writer, its COMMIT, and every statement outside a
transaction, such as the readers' connections' queries) still goes to the driver's thread, in one trip
per statement, and the loop stays free meanwhile. bench/bus.py, four runs each back to back: history
batches 6,282-6,685 events a second end to end against 5,561-6,551 before.

Server-side cursors (streamed results) keep SQLAlchemy's own adapter.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)


def _execute(conn: sqlite3.Connection, operation: str, parameters) -> tuple:
    cursor = conn.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        return description, cursor.fetchall() if description else None, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _executemany(conn: sqlite3.Connection, operation: str, seq_of_parameters) -> tuple:
    cursor = conn.cursor()
    try:
        cursor.executemany(operation, seq_of_parameters)
        return None, None, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ("_description", "_lastrowid", "_rowcount", "arraysize")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection):
        # No cursor on the thread until a statement runs, and none left open after it.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._rows = collections.deque()
        self._soft_closed_memoized = {}  # type: ignore[assignment]
        self._description = None
        self._rowcount = -1
        self._lastrowid = None
        self.arraysize = 1

    @property
    def description(self):
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self):
        return self._lastrowid

    async def _async_soft_close(self) -> None:
        return  # closed on the thread already; the rows are here

    def close(self) -> None:
        self._rows.clear()

    async def _run(self, fn, operation: str, parameters) -> Any:
        async with self._adapt_connection._execute_mutex:
            conn = self._connection._conn
            if conn.in_transaction:
                # Inside a writing transaction (BEGIN IMMEDIATE) the write lock is ours: nothing to wait for.
                result = fn(conn, operation, parameters)
            else:
                # aiosqlite's own way onto its thread: one queued call, one answer.
                result = await self._connection._execute(fn, conn, operation, parameters)
        self._description, rows, self._rowcount, self._lastrowid = result
        self._rows = collections.deque(rows) if rows is not None else collections.deque()

    async def _execute_async(self, operation: str, parameters) -> Any:
        await self._run(_execute, operation, parameters)

    async def _executemany_async(self, operation: str, seq_of_parameters) -> Any:
        await self._run(_executemany, operation, seq_of_parameters)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor  # type: ignore[assignment]


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        connection = super().connect(*arg, **kw)
        connection.__class__ = OneTripConnection  # same slots: only the cursors it makes differ
        return connection


def dbapi() -> OneTripDBAPI:
    """For `create_async_engine(..., module=dbapi())` with a `sqlite+aiosqlite` URL."""
    import aiosqlite

    return OneTripDBAPI(aiosqlite, sqlite3)
