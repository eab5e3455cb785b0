"""Bus test helpers: a projection that counts applications, event writers, polling."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer
from sqlalchemy import Column, Integer, MetaData, String, Table, Uuid, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from mercator.common.bus import tables
from mercator.common.bus.consumer import Delivery, batch_handler
from mercator.common.db import insert_unnested, make_engine
from mercator.common.events import catalogue as ev
from mercator.common.runtime import Runtime
from mercator.common.settings import ServiceSettings

test_metadata = MetaData()
# A projection that counts how often each event was applied: exactly once means n == 1.
applied = Table(
    "applied",
    test_metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("subject", String(100), nullable=False),
    Column("n", Integer, nullable=False),
)


async def count_it(uow, delivery: Delivery) -> None:
    stmt = pg_insert(applied).values(event_id=delivery.envelope.id, subject=delivery.envelope.subject, n=1)
    await uow.session.execute(stmt.on_conflict_do_update(index_elements=["event_id"], set_={"n": applied.c.n + 1}))


@batch_handler
async def count_batch(uow, deliveries: list[Delivery]) -> None:
    """count_it for a whole batch in one statement: what a set-based projection does (the analytics
    projection's way: INSERT ... SELECT FROM unnest, one array per column, whatever the batch size)."""
    rows = [{"event_id": d.envelope.id, "subject": d.envelope.subject, "n": 1} for d in deliveries]
    if uow.session.bind.dialect.name != "postgresql":  # SQLite: an executemany of the same upsert
        stmt = pg_insert(applied).on_conflict_do_update(index_elements=["event_id"], set_={"n": applied.c.n + 1})
        await uow.session.execute(stmt, rows)
        return
    stmt = insert_unnested(applied, rows, pg_insert)
    await uow.session.execute(stmt.on_conflict_do_update(index_elements=["event_id"], set_={"n": applied.c.n + 1}))


async def create_bus_database(url: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(tables.metadata.create_all)
        await conn.run_sync(test_metadata.create_all)
    await engine.dispose()


def bus_settings(url: str, bootstrap: str, **overrides) -> ServiceSettings:
    # A topic prefix per test keeps tests apart on one broker.
    values: dict[str, Any] = dict(
        service_name="contacts",
        database_url=url,
        kafka_bootstrap=bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
        relay_poll_seconds=0.1,
        relay_reset_check_seconds=0.5,
        consumer_retry_base_seconds=0.01,
        consumer_max_attempts=3,
        consumer_session_timeout_ms=2_000,
        consumer_heartbeat_interval_ms=500,
    )
    values.update(overrides)
    return ServiceSettings(**values)


def projector(url: str, bootstrap: str, prefix: str, handler=count_it) -> Runtime:
    """A runtime that owns no topics and projects ActivityLogged with `handler`."""
    settings = bus_settings(url, bootstrap, topic_prefix=prefix, service_name="projector")
    return Runtime(settings, consumers={"projection": {"ActivityLogged": handler}})


def activity(company_id: uuid.UUID | None = None, summary: str = "звонок") -> ev.ActivityLogged:
    return ev.ActivityLogged(
        activity_id=uuid.uuid4(),
        company_id=company_id or uuid.uuid4(),
        kind="call",
        direction="outbound",
        summary=summary,
        happened_at=datetime.now(UTC),
        author_id=uuid.uuid4(),
    )


async def write_events(runtime: Runtime, n: int, company_id: uuid.UUID | None = None) -> list[uuid.UUID]:
    """n use cases, each committing one event through the outbox; returns the event ids in commit order."""
    ids = []
    for i in range(n):
        async with runtime.uow() as uow:
            payload = activity(company_id, f"#{i}")
            envelope = uow.emit(payload, subject=payload.company_id, sequence=i + 1)
            await uow.commit()
            ids.append(envelope.id)
    return ids


async def projection(runtime: Runtime) -> dict[uuid.UUID, int]:
    async with runtime.sessionmaker() as s:
        return dict((await s.execute(select(applied.c.event_id, applied.c.n))).all())


async def until(predicate, timeout: float = 60.0, every: float = 0.1) -> bool:
    """Poll an async predicate: tests wait for a state, never a fixed sleep."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(every)
    return False


async def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 30) -> list:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    got: list = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(got) < expected and loop.time() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                got += records
    finally:
        await consumer.stop()
    return got
