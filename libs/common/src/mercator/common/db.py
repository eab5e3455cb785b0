"""Async SQLAlchemy engine and sessions, PostgreSQL (asyncpg) or SQLite (aiosqlite) by URL."""

from __future__ import annotations

import functools
import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
    bindparam,
    cast,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from mercator.common import sqlite_driver

# Constraint names must be deterministic so Alembic migrations are the same on every database.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Exact(TypeDecorator):
    """A Decimal stored exactly: NUMERIC on PostgreSQL, text on SQLite (whose NUMERIC is a float)."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 20, scale: int = 4):
        super().__init__(precision=precision, scale=scale)
        self.precision, self.scale = precision, scale

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(self.precision + 2))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money and quantities are Decimal, never float")
        return str(Decimal(value)) if dialect.name == "sqlite" else Decimal(value)

    def process_result_value(self, value, dialect):
        return None if value is None else Decimal(value)


class UtcDateTime(TypeDecorator):
    """A moment in time, handed back aware and in UTC on every database.

    SQLite keeps the text of the time without its zone and gives a naive datetime back, PostgreSQL an aware
    one: comparing the two raised TypeError, and answers showed times without an offset. Every time is stored
    in UTC, so the zone is put back here, once, instead of by each reader.

    A naive time is refused when written: it names no instant (the server's zone? UTC?), and SQLite would
    keep its wall-clock digits as they are while asyncpg takes them for the machine's local time, so the two
    could store different moments. Such a time is a bug of the code that made it, caught where it is
    written rather than hours off in a report."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type:
        return datetime  # TypeDecorator's own answer is `object` (keyset cursors parse by it)

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError(f"a time without its zone cannot be stored: {value!r}")
        # SQLite's text has no offset: an aware time of another zone would be kept as its local digits.
        return value if value.tzinfo is UTC else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite: the UTC time it was given, without the zone
            return value.replace(tzinfo=UTC)
        return value if value.tzinfo is UTC else value.astimezone(UTC)


def dialect_of(session: AsyncSession) -> str:
    """ "postgresql" or "sqlite": the database a session talks to."""
    bind = session.bind
    assert bind is not None, "every session is made by make_sessionmaker, bound to its engine"
    return bind.dialect.name


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING)


class Base(DeclarativeBase):
    """Subclass per service: `class Base(common.db.Base): metadata = new_metadata()`."""

    __abstract__ = True


def _json_dumps(value) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # what orjson refuses and json takes (integers past 64 bits)
        return json.dumps(value)


def _json_loads(text):
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN and Infinity, which json writes and orjson does not read
        return json.loads(text)


# JSON columns through orjson: decoding the outbox rows' headers with json was a tenth of a busy
# relay's CPU (bench/bus.py under py-spy), encoding them a part of every write that emits events.
JSON_CODEC = {"json_serializer": _json_dumps, "json_deserializer": _json_loads}


def unnest(columns: list, rows: list[dict]):
    """`rows` (dicts keyed by the columns' names) as a table PostgreSQL unnests from one array per column, to
    INSERT ... SELECT from or UPDATE ... FROM: a batch in one execution of one statement, where an executemany
    costs the server an execution per row and an IN list a new statement for every length."""
    return (
        func.unnest(*(bindparam(f"given_{c.name}", [r[c.name] for r in rows], type_=ARRAY(c.type)) for c in columns))
        .table_valued(*(c.name for c in columns))
        .render_derived(name="given")
    )


def insert_unnested(table: Table, rows: list[dict], insert_=insert):
    """PostgreSQL: INSERT INTO `table` ... SELECT FROM unnest(one array per column) of `rows` (dicts with
    the same keys), one execution of one statement for the whole batch. `insert_`: the dialect's
    insert, to add ON CONFLICT to. Keys of the rows that are not columns of the table are left out."""
    names = [c.name for c in table.columns if c.name in rows[0]]
    # A JSON value goes as text and is cast back: in an array of JSON, SQLAlchemy takes a value that is a
    # list for one more dimension of the array.
    as_text = {n for n in names if isinstance(table.c[n].type, JSON)}
    columns = [Column(n, Text) if n in as_text else table.c[n] for n in names]
    given = unnest(columns, [{**row, **{n: _json_dumps(row[n]) for n in as_text}} for row in rows] if as_text else rows)
    return insert_(table).from_select(
        names, select(*(cast(given.c[n], table.c[n].type) if n in as_text else given.c[n] for n in names))
    )


async def insert_rows(session: AsyncSession, table: Table, rows: list[dict]) -> None:
    """INSERT `rows` (dicts with the same keys, the columns they name; Python-side column defaults are not
    applied) in one round trip.

    On PostgreSQL an INSERT ... SELECT FROM unnest (one array per column); on SQLite the driver's
    executemany with the values converted here, column by column. SQLAlchemy's executemany made a
    parameter dictionary and ran every converter through its generic path for each row: a fifth of
    the contacts service's CPU under a busy history batch (bench/bus.py under py-spy)."""
    if not rows:
        return
    if dialect_of(session) == "postgresql":
        await session.execute(insert_unnested(table, rows))
        return
    names = tuple(c.name for c in table.columns if c.name in rows[0])  # as insert_unnested takes them
    connection = await session.connection()
    sql, converters = _driver_insert(table, names, connection.dialect)
    # A batch's times mostly repeat (every row's created_at, often its happened_at): each is formatted once.
    converters = [
        _once_per_value(convert) if isinstance(table.c[n].type, UtcDateTime) and convert is not None else convert
        for n, convert in zip(names, converters, strict=False)
    ]
    params = [
        tuple(row[n] if convert is None else convert(row[n]) for n, convert in zip(names, converters, strict=False))
        for row in rows
    ]
    await connection.exec_driver_sql(sql, params)


def _once_per_value(convert):
    done: dict = {}

    def converted(value):
        try:
            return done[value]
        except KeyError:
            done[value] = result = convert(value)
            return result

    return converted


@functools.lru_cache(maxsize=256)
def _driver_insert(table: Table, names: tuple[str, ...], dialect) -> tuple[str, list]:
    """The INSERT in the driver's own terms (SQLite's `?` placeholders), and each column's converter."""
    columns = [table.c[n] for n in names]
    preparer = dialect.identifier_preparer
    sql = (
        f"INSERT INTO {preparer.format_table(table)} ({', '.join(preparer.format_column(c) for c in columns)}) "
        f"VALUES ({', '.join('?' for _ in columns)})"
    )
    return sql, [c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns]


PING_AFTER_IDLE_SECONDS = 2.0


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def in_memory(url: str) -> bool:
    """A SQLite database without a file: only this process's connections see it."""
    return is_sqlite(url) and make_url(url).database in (None, "", ":memory:")


def make_engine(
    url: str, *, reader: bool = False, ping_after_idle: float = PING_AFTER_IDLE_SECONDS, **kwargs
) -> AsyncEngine:
    """`reader`: on SQLite, a connection that only reads and takes no lock (each statement sees
    the last commit, in WAL mode without waiting for a writer). `ping_after_idle`: PostgreSQL, see
    `_ping_after_idle`."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # One connection: SQLite has one writer at a time anyway, and connections queueing in
        # its sleeping busy handler made p99 five times worse than waiting for the pool (bench/).
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", 60)
        if make_url(url).get_driver_name() == "aiosqlite":
            # A writing transaction's statements on the loop (sqlite_driver.py), the rest on the driver's thread:
            # the connection is used from both, one at a time.
            kwargs.setdefault("module", sqlite_driver.dbapi())
        engine = create_async_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **{**JSON_CODEC, **kwargs}
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # WAL lets the relay read while a request writes; NORMAL is durable across
            # process crashes (only an OS crash can lose the last commits).
            dbapi_conn.isolation_level = None  # SQLAlchemy's BEGIN below, not pysqlite's
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            if reader:
                cur.execute("PRAGMA query_only=ON")
            cur.close()

        if not reader:

            @event.listens_for(engine.sync_engine, "begin")
            def _sqlite_begin(conn):
                # Take the write lock at BEGIN so two writers queue instead of failing
                # with "database is locked" on upgrade from a read lock.
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_size", 10)
    engine = create_async_engine(url, **{**JSON_CODEC, **kwargs})
    if not kwargs.get("pool_pre_ping"):
        _ping_after_idle(engine.sync_engine, ping_after_idle)
    return engine


def _ping_after_idle(engine, seconds: float) -> None:
    """A pooled connection is tried before use only when it sat in the pool for `seconds` or more, where
    a restarted server or a dropped link may have closed it; one that dies is replaced at once.

    SQLAlchemy's pre-ping tried it at every checkout, which on asyncpg is three round trips (BEGIN, the
    ping, ROLLBACK) before each request's and each consumer batch's first statement: a busy service
    paid them hundreds of times a second on connections used a moment before. A connection that broke
    within the last `seconds` fails its statement instead; SQLAlchemy then replaces every connection of
    the pool that is older than the failure, and the request or consumer batch is retried by its caller."""

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection, record):
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_connection, record, proxy):
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < seconds:
            return  # just connected, or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(f"a pooled connection did not answer: {exc!r}") from exc


def make_sessionmaker(engine_or_conn) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine_or_conn, expire_on_commit=False)


async def insert_if_absent(session: AsyncSession, model, **values):
    """Adds a row unless one with its key exists (a replica row another transaction may be writing at
    the same moment: the event and a look-up of the same record), and returns the row as stored."""
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if dialect_of(session) == "postgresql" else sqlite.insert
    await session.execute(insert(model).values(**values).on_conflict_do_nothing())
    key = tuple(values[c.key] for c in model.__mapper__.primary_key)
    return await session.get(model, key if len(key) > 1 else key[0], populate_existing=True)
