"""Async SQLAlchemy engine and sessions, PostgreSQL (asyncpg) or SQLite (aiosqlite) by URL."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import orjson
from sqlalchemy import BigInteger, Integer, MetaData, Numeric, String, TypeDecorator, bindparam, event, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

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
    return func.unnest(*(bindparam(f"given_{c.name}", [r[c.name] for r in rows], type_=ARRAY(c.type))
                         for c in columns)).table_valued(*(c.name for c in columns)).render_derived(name="given")


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, *, reader: bool = False, **kwargs) -> AsyncEngine:
    """`reader`: on SQLite, a connection that only reads and takes no lock (each statement sees
    the last commit, in WAL mode without waiting for a writer)."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # One connection: SQLite has one writer at a time anyway, and connections queueing in
        # its sleeping busy handler made p99 five times worse than waiting for the pool (bench/).
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", 60)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **{**JSON_CODEC, **kwargs})

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
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    return create_async_engine(url, **{**JSON_CODEC, **kwargs})


def make_sessionmaker(engine_or_conn) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine_or_conn, expire_on_commit=False)


async def insert_if_absent(session: AsyncSession, model, **values):
    """Adds a row unless one with its key exists (a replica row another transaction may be writing at
    the same moment: the event and a look-up of the same record), and returns the row as stored."""
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    await session.execute(insert(model).values(**values).on_conflict_do_nothing())
    key = tuple(values[c.key] for c in model.__mapper__.primary_key)
    return await session.get(model, key if len(key) > 1 else key[0], populate_existing=True)
