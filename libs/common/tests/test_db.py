"""Engines against the real PostgreSQL: pooled connections are tried only after sitting idle, and a
connection the server cut is replaced before a request uses it."""

import asyncio
import datetime
import uuid

import pytest
from sqlalchemy import select, text

from mercator.common.bus import tables
from mercator.common.db import insert_rows, make_engine, make_sessionmaker
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
    rows = [{"event_id": uuid.uuid4(), "type": "ActivityLogged", "topic": "t.ActivityLogged", "key": f"k{i}",
             "headers": [["ce_id", f"{i}"], ["ce_actor", "пользователь"]], "payload": '{"summary": "звонок"}',
             "created_at": at} for i in range(300)]
    try:
        async with make_sessionmaker(engine)() as s:
            await insert_rows(s, tables.outbox, rows)
            await s.commit()
        async with make_sessionmaker(engine)() as s:
            got = (await s.execute(select(tables.outbox).order_by(tables.outbox.c.id))).mappings().all()
        assert [r["event_id"] for r in got] == [r["event_id"] for r in rows]  # in order, ids as given
        for r, g in zip(rows, got):
            assert g["headers"] == r["headers"] and g["payload"] == r["payload"] and g["key"] == r["key"]
            created = g["created_at"] if g["created_at"].tzinfo else g["created_at"].replace(tzinfo=datetime.UTC)
            assert created == at and g["published_at"] is None
    finally:
        await engine.dispose()
