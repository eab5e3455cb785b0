"""SQLite engines (sqlite_driver.py): what statements answer, and a wait for the write lock held by another
process keeps the event loop free."""

import asyncio
import sqlite3
import time

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from mercator.common.db import make_engine, make_sessionmaker

metadata = MetaData()
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("text", String(100), nullable=False, unique=True),
)


@pytest.fixture
async def sqlite_file(tmp_path):
    path = tmp_path / "notes.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await engine.dispose()
    return path


async def test_statements_answer_rows_counts_and_ids_as_the_driver_gives_them(sqlite_file):
    engine = make_engine(f"sqlite+aiosqlite:///{sqlite_file}")
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as s:
            first = await s.execute(insert(notes).values(text="first"))
            assert first.inserted_primary_key == (1,)
            await s.execute(insert(notes), [{"text": "second"}, {"text": "third"}, {"text": "fourth"}])
            changed = await s.execute(update(notes).where(notes.c.id > 2).values(text=notes.c.text + "!"))
            assert changed.rowcount == 2
            returned = (await s.execute(insert(notes).values(text="fifth").returning(notes.c.id))).scalar_one()
            assert returned == 5
            await s.commit()
        async with sessions() as s:
            assert (await s.execute(select(notes.c.text).order_by(notes.c.id))).scalars().all() == [
                "first",
                "second",
                "third!",
                "fourth!",
                "fifth",
            ]
            streamed = await s.stream(select(notes.c.id).execution_options(yield_per=2))
            assert [i async for i in streamed.scalars()] == [1, 2, 3, 4, 5]
    finally:
        await engine.dispose()


async def test_a_failed_statement_in_a_transaction_rolls_it_back_and_the_connection_goes_on(sqlite_file):
    engine = make_engine(f"sqlite+aiosqlite:///{sqlite_file}")
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as s:
            await s.execute(insert(notes).values(text="kept"))
            await s.commit()
        async with sessions() as s:
            await s.execute(insert(notes).values(text="lost with its transaction"))
            with pytest.raises(IntegrityError):
                await s.execute(insert(notes).values(text="kept"))
            await s.rollback()
        async with sessions() as s:
            assert (await s.execute(select(notes.c.text))).scalars().all() == ["kept"]
    finally:
        await engine.dispose()


async def test_waiting_for_a_write_lock_another_process_holds_leaves_the_event_loop_free(sqlite_file):
    """The wait at BEGIN IMMEDIATE runs on the driver's thread; only statements of a transaction that holds
    the lock run on the loop. (A busy handler sleeping on the loop would stop every request.)"""
    engine = make_engine(f"sqlite+aiosqlite:///{sqlite_file}")
    sessions = make_sessionmaker(engine)
    other = sqlite3.connect(sqlite_file, isolation_level=None)  # another process's connection, in effect
    other.execute("BEGIN IMMEDIATE")
    try:

        async def write():
            async with sessions() as s:
                await s.execute(insert(notes).values(text="after the other writer"))
                await s.commit()

        writing = asyncio.create_task(write())
        gaps, last = [], time.perf_counter()
        for _ in range(30):  # 0.6 s of a loop that must keep turning
            await asyncio.sleep(0.02)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
        assert not writing.done()  # still waiting for the lock
        assert max(gaps) < 0.15
        other.execute("COMMIT")
        await asyncio.wait_for(writing, timeout=10)
        async with sessions() as s:
            assert (await s.execute(select(func.count()).select_from(notes))).scalar_one() == 1
    finally:
        other.close()
        await engine.dispose()
