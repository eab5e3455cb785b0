"""What consumers gave up on, for tests of a run that should have none: each service's `dead_letters` table
and the broker's `<topic>.DLQ` topics."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from sqlalchemy import select

from mercator.common.bus import tables
from mercator.common.db import make_engine


async def dead_letters(database_url: str) -> list[tuple[str, str, str]]:
    """(consumer, topic, error) of every message a service's consumers dead-lettered, from its database: kept
    there across restarts, where the metrics of a process start again from zero."""
    # On a SQLite file a running service writes to, a reader takes no lock and never holds the service up.
    engine = make_engine(database_url, reader=True)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(
                    tables.dead_letters.c.consumer, tables.dead_letters.c.topic, tables.dead_letters.c.error
                ).order_by(tables.dead_letters.c.id)
            )
            return [tuple(r) for r in rows]
    finally:
        await engine.dispose()


async def dead_letter_topics(bootstrap: str, prefix: str = "") -> dict[str, int]:
    """Each `<prefix>…DLQ` topic on the broker that holds messages, with how many it holds (at least)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        topics = sorted(t for t in await consumer.topics() if t.startswith(prefix) and t.endswith(".DLQ"))
        partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        if not partitions:
            return {}
        start, end = await consumer.beginning_offsets(partitions), await consumer.end_offsets(partitions)
        held: dict[str, int] = {}
        for tp in partitions:
            if end[tp] > start[tp]:
                held[tp.topic] = held.get(tp.topic, 0) + end[tp] - start[tp]
        return held
    finally:
        await consumer.stop()


async def assert_nothing_dead_lettered(database_urls: dict[str, str], bootstrap: str, prefix: str = "") -> None:
    """No service (name: database URL) dead-lettered anything, and every DLQ topic of `prefix` is empty."""
    dead = {name: rows for name, url in database_urls.items() if (rows := await dead_letters(url))}
    topics = await dead_letter_topics(bootstrap, prefix)
    if dead or topics:
        lines = [
            f"{name}: {consumer} gave up on {topic}: {error.strip().splitlines()[-1] if error else ''}"
            for name, rows in dead.items()
            for consumer, topic, error in rows
        ]
        lines += [f"{topic}: {n} message(s)" for topic, n in topics.items()]
        raise AssertionError("dead letters in a run that should have none:\n" + "\n".join(lines))
