"""Engines against the real PostgreSQL: pooled connections are tried only after sitting idle, and a
connection the server cut is replaced before a request uses it."""

import asyncio
import datetime
import uuid

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text
from sqlalchemy.exc import StatementError

from mercator.common.bus import tables
from mercator.common.db import UtcDateTime, insert_rows, make_engine, make_sessionmaker
from mercator.common.testing.bus import create_bus_database

pytestmark = [pytest.mark.postgres]


def _count_pings(engine) -> list:
    pings = []
    dialect = engine.sync_engine.dialect
    ping = dialect.do_ping

    def counted(dbapi_connection):
        pings.append(1)
        return ping(dbapi_connection)

    dialect.do_ping = counted
    return pings


async def _pid(sessions) -> int:
    async with sessions() as s:
        return (await s.execute(text("SELECT pg_backend_pid()"))).scalar_one()


async def test_a_connection_used_a_moment_ago_is_not_tried_again_before_each_use(postgres):
    engine = make_engine(await postgres.create("ping"), ping_after_idle=5.0)
    pings = _count_pings(engine)
    sessions = make_sessionmaker(engine)
    try:
        pids = {await _pid(sessions) for _ in range(20)}
        assert len(pids) == 1 and pings == []  # one pooled connection, no round trips before each use
    finally:
        await engine.dispose()


async def test_a_connection_the_server_cut_while_idle_is_replaced_before_use(postgres):
    url = await postgres.create("ping")
    engine = make_engine(url, ping_after_idle=0.2)
    pings = _count_pings(engine)
    sessions = make_sessionmaker(engine)
    killer = make_engine(url)
    try:
        first = await _pid(sessions)
        async with killer.connect() as k:
            assert (await k.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})).scalar_one()
        await asyncio.sleep(0.3)
        second = await _pid(sessions)  # no error: tried, found dead, replaced
        assert second != first and pings
    finally:
        await engine.dispose()
        await killer.dispose()


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
async def test_insert_rows_writes_every_value_as_the_orm_reads_it_back(postgres, tmp_path, backend):
    url = await postgres.create("rows") if backend == "postgresql" else f"sqlite+aiosqlite:///{tmp_path}/rows.db"
    await create_bus_database(url)
    engine = make_engine(url)
    at = datetime.datetime(2026, 11, 27, 23, 59, 58, 123456, tzinfo=datetime.UTC)
    rows = [
        {
            "event_id": uuid.uuid4(),
            "type": "ActivityLogged",
            "topic": "t.ActivityLogged",
            "key": f"k{i}",
            "headers": [["ce_id", f"{i}"], ["ce_actor", "пользователь"]],
            "payload": '{"summary": "звонок"}',
            "created_at": at,
        }
        for i in range(300)
    ]
    try:
        async with make_sessionmaker(engine)() as s:
            await insert_rows(s, tables.outbox, rows)
            await s.commit()
        async with make_sessionmaker(engine)() as s:
            got = (await s.execute(select(tables.outbox).order_by(tables.outbox.c.id))).mappings().all()
        assert [r["event_id"] for r in got] == [r["event_id"] for r in rows]  # in order, ids as given
        for r, g in zip(rows, got, strict=False):
            assert g["headers"] == r["headers"] and g["payload"] == r["payload"] and g["key"] == r["key"]
            assert g["created_at"] == at and g["created_at"].tzinfo is datetime.UTC and g["published_at"] is None
    finally:
        await engine.dispose()


MOSCOW = datetime.timezone(datetime.timedelta(hours=3))
moments = Table("moments", MetaData(), Column("id", Integer, primary_key=True), Column("at", UtcDateTime()))


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
async def test_a_time_comes_back_as_the_same_instant_in_utc_and_one_without_a_zone_is_refused(
    postgres, tmp_path, backend
):
    url = await postgres.create("times") if backend == "postgresql" else f"sqlite+aiosqlite:///{tmp_path}/times.db"
    engine = make_engine(url)
    evening_in_moscow = datetime.datetime(2026, 12, 6, 23, 30, 15, 250000, tzinfo=MOSCOW)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(moments.metadata.create_all)
        async with make_sessionmaker(engine)() as s:
            await s.execute(insert(moments).values(id=1, at=evening_in_moscow))
            await insert_rows(s, moments, [{"id": 2, "at": evening_in_moscow}])
            await s.commit()
            with pytest.raises(StatementError, match="without its zone"):
                await s.execute(insert(moments).values(id=3, at=evening_in_moscow.replace(tzinfo=None)))
            await s.rollback()
            with pytest.raises((ValueError, StatementError), match="without its zone"):  # SQLite, PostgreSQL
                await insert_rows(s, moments, [{"id": 4, "at": evening_in_moscow.replace(tzinfo=None)}])
            await s.rollback()
        async with make_sessionmaker(engine)() as s:
            got = (await s.execute(select(moments.c.at).order_by(moments.c.id))).scalars().all()
            # Compared in the database as the instant it is, whichever way the row was written.
            later = (
                (
                    await s.execute(
                        select(moments.c.id).where(
                            moments.c.at > datetime.datetime(2026, 12, 6, 20, 30, 15, tzinfo=datetime.UTC)
                        )
                    )
                )
                .scalars()
                .all()
            )
            stored = (await s.execute(text("SELECT CAST(at AS TEXT) FROM moments ORDER BY id"))).scalars().all()
        assert got == [evening_in_moscow, evening_in_moscow]
        assert all(at.tzinfo is datetime.UTC and at.hour == 20 for at in got)
        assert later == [1, 2]
        assert stored[0] == stored[1]  # the batch insert writes what the ORM writes
        if backend == "sqlite":
            assert stored[0] == "2026-12-06 20:30:15.250000"  # the text SQLite kept before, in UTC
    finally:
        await engine.dispose()
