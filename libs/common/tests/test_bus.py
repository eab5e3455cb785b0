"""The bus against a real Tansu broker and PostgreSQL: outbox relay, consumer, inbox, DLQ."""

import asyncio
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import generate_latest
from sqlalchemy import func, select

from mercator.common.bus import tables
from mercator.common.bus.relay_process import RelayInProcess
from mercator.common.runtime import Runtime
from mercator.common.testing.broker import TansuBroker
from mercator.common.testing.bus import (
    activity,
    bus_settings,
    count_it,
    projection,
    projector,
    read_topic,
    until,
    write_events,
)
from mercator.common.testing.dead_letters import (
    assert_nothing_dead_lettered,
    dead_letter_topics,
    dead_letters,
)

pytestmark = [pytest.mark.postgres, pytest.mark.broker]


async def backlog_is(runtime, n):
    return await runtime.relay.backlog() == n


async def projected(runtime, n):
    return len(await projection(runtime)) >= n


async def test_relay_publishes_every_committed_event_in_commit_order(bus_db, tansu):
    runtime = Runtime(bus_settings(bus_db, tansu.bootstrap))
    company = uuid.uuid4()
    ids = await write_events(runtime, 30, company)  # one key: one partition, so one order
    await runtime.start()
    try:
        assert await until(lambda: backlog_is(runtime, 0))
        records = await read_topic(tansu.bootstrap, f"{runtime.settings.topic_prefix}ActivityLogged", 30)
        assert [uuid.UUID(dict(r.headers)["ce_id"].decode()) for r in records] == ids
        headers = dict(records[0].headers)
        assert headers["ce_type"] == b"ActivityLogged" and headers["ce_specversion"] == b"1.0"
        assert headers["ce_subject"] == str(company).encode() and records[0].key == str(company).encode()
        assert headers["content-type"] == b"application/json"
    finally:
        await runtime.stop()


async def test_writes_go_on_while_the_broker_is_down_and_each_event_arrives_once(bus_db, projection_db):
    broker = TansuBroker()  # not started: the broker is down
    publisher = Runtime(bus_settings(bus_db, broker.bootstrap))
    reader = projector(projection_db, broker.bootstrap, publisher.settings.topic_prefix)
    await publisher.start()
    await reader.start()
    try:
        ids = await write_events(publisher, 200)  # every write is accepted
        assert await publisher.relay.backlog() == 200
        broker.start()
        assert await until(lambda: projected(reader, 200), timeout=90)
        seen = await projection(reader)
        assert set(seen) == set(ids) and set(seen.values()) == {1}
        assert await publisher.relay.backlog() == 0
    finally:
        await reader.stop()
        await publisher.stop()
        broker.kill()


async def test_a_poison_message_goes_to_the_dlq_and_the_next_is_still_processed(bus_db, tansu):
    async def picky(uow, delivery):
        if delivery.payload.summary == "poison":
            raise RuntimeError("this handler cannot take it")
        await count_it(uow, delivery)

    publisher = Runtime(bus_settings(bus_db, tansu.bootstrap))
    topic = f"{publisher.settings.topic_prefix}ActivityLogged"
    reader = projector(bus_db, tansu.bootstrap, publisher.settings.topic_prefix, handler=picky)
    producer = AIOKafkaProducer(bootstrap_servers=tansu.bootstrap, enable_idempotence=False)
    await producer.start()
    await publisher.start()
    await reader.start()
    try:
        # On one partition: not a CloudEvent at all, then an event the handler always fails on, then a good one.
        await producer.send_and_wait(topic, b"\x00garbage", key=b"one-key")
        async with publisher.uow() as uow:
            uow.emit(activity(summary="poison"), subject="one-key", sequence=1)
            good = uow.emit(activity(summary="fine"), subject="one-key", sequence=2)
            await uow.commit()
        assert await until(lambda: projected(reader, 1), timeout=60)
        assert set(await projection(reader)) == {good.id}
        dlq = await read_topic(tansu.bootstrap, f"{topic}.DLQ", 2)
        assert len(dlq) == 2
        errors = [dict(r.headers)["x-error"].decode() for r in dlq]
        assert "not a CloudEvent" in errors[0]
        assert "this handler cannot take it" in errors[1] and dict(dlq[1].headers)["x-attempts"] == b"3"
        async with reader.sessionmaker() as s:
            assert await s.scalar(select(func.count()).select_from(tables.dead_letters)) == 2
        metrics = generate_latest(reader.metrics.registry).decode()
        assert (
            f'events_dead_lettered_total{{consumer="{reader.consumers[0].name}",type="ActivityLogged"}} 2.0' in metrics
        )
        # What the tests of whole runs check there are none of.
        assert await dead_letter_topics(tansu.bootstrap, publisher.settings.topic_prefix) == {f"{topic}.DLQ": 2}
        assert [(c, t) for c, t, _ in await dead_letters(bus_db)] == [(reader.consumers[0].name, topic)] * 2
        with pytest.raises(AssertionError, match="this handler cannot take it"):
            await assert_nothing_dead_lettered({"reader": bus_db}, tansu.bootstrap, publisher.settings.topic_prefix)
    finally:
        await producer.stop()
        await reader.stop()
        await publisher.stop()


async def test_a_redelivered_event_changes_nothing(bus_db, tansu):
    publisher = Runtime(bus_settings(bus_db, tansu.bootstrap))
    prefix = publisher.settings.topic_prefix
    ids = await write_events(publisher, 5)
    await publisher.start()
    reader = None
    try:
        assert await until(lambda: backlog_is(publisher, 0))
        # The relay forgets it published (as after a crash before marking): everything goes out twice.
        async with publisher.sessionmaker() as s:
            await s.execute(tables.outbox.update().values(published_at=None))
            await s.commit()
        publisher.relay.notify()
        assert await until(lambda: backlog_is(publisher, 0))
        assert len(await read_topic(tansu.bootstrap, f"{prefix}ActivityLogged", 10)) == 10
        reader = projector(bus_db, tansu.bootstrap, prefix)
        await reader.start()
        assert await until(lambda: projected(reader, 5))
        assert await until(lambda: _all_read(reader, 10))
        seen = await projection(reader)
        assert set(seen) == set(ids) and set(seen.values()) == {1}
    finally:
        if reader:
            await reader.stop()
        await publisher.stop()


async def _all_read(runtime, n):
    text = generate_latest(runtime.metrics.registry).decode()
    total = sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("events_consumed_total{")
    )
    return total >= n


async def test_a_broker_that_restarted_empty_gets_the_retained_window_again(bus_db, projection_db):
    broker = TansuBroker().start()
    publisher = Runtime(bus_settings(bus_db, broker.bootstrap))
    reader = projector(projection_db, broker.bootstrap, publisher.settings.topic_prefix)
    await publisher.start()
    await reader.start()
    try:
        first = await write_events(publisher, 20)
        assert await until(lambda: projected(reader, 20), timeout=60)
        await reader.stop()  # the reader is away, its offsets kept only by the broker...
        broker.restart()  # ...which forgets every topic and offset
        second = await write_events(publisher, 20)
        reader = projector(projection_db, broker.bootstrap, publisher.settings.topic_prefix)
        await reader.start()
        assert await until(lambda: projected(reader, 40), timeout=90)
        seen = await projection(reader)
        assert set(seen) == set(first) | set(second) and set(seen.values()) == {1}
        assert publisher.metrics.broker_resets._value.get() == 1
    finally:
        await reader.stop()
        await publisher.stop()
        broker.kill()


async def test_a_consumer_that_stays_up_through_a_broker_restart_misses_nothing(bus_db, projection_db):
    broker = TansuBroker().start()
    publisher = Runtime(bus_settings(bus_db, broker.bootstrap))
    reader = projector(projection_db, broker.bootstrap, publisher.settings.topic_prefix)
    await publisher.start()
    await reader.start()
    try:
        first = await write_events(publisher, 10)
        assert await until(lambda: projected(reader, 10), timeout=60)
        broker.restart()
        second = await write_events(publisher, 10)
        assert await until(lambda: projected(reader, 20), timeout=120)
        seen = await projection(reader)
        assert set(seen) == set(first) | set(second) and set(seen.values()) == {1}
    finally:
        await reader.stop()
        await publisher.stop()
        broker.kill()


async def test_two_instances_of_a_consumer_share_the_partitions_through_rebalances(bus_db, projection_db, tansu):
    publisher = Runtime(bus_settings(bus_db, tansu.bootstrap))
    prefix = publisher.settings.topic_prefix
    first = projector(projection_db, tansu.bootstrap, prefix)
    second = projector(projection_db, tansu.bootstrap, prefix)  # same group: a second instance
    await publisher.start()
    await first.start()
    try:
        ids = await write_events(publisher, 30)
        assert await until(lambda: projected(first, 30))
        await second.start()  # rebalance: the partitions are split between the two
        assert await until(lambda: _both_assigned(first, second), timeout=60)
        ids += await write_events(publisher, 30)
        assert await until(lambda: projected(first, 60))
        await first.stop()  # rebalance again: the second takes everything
        ids += await write_events(publisher, 30)
        assert await until(lambda: projected(second, 90), timeout=60)
        seen = await projection(second)
        assert set(seen) == set(ids) and set(seen.values()) == {1}
    finally:
        await second.stop()
        await first.stop()
        await publisher.stop()


async def _both_assigned(a, b):
    return a.consumers[0].assigned.is_set() and b.consumers[0].assigned.is_set()


async def test_pruning_forgets_only_what_is_published_and_past_the_retention_window(bus_db):
    from datetime import UTC, datetime, timedelta

    runtime = Runtime(bus_settings(bus_db, "127.0.0.1:9", outbox_retention_hours=24))
    await write_events(runtime, 3)
    old, recent = datetime.now(UTC) - timedelta(hours=25), datetime.now(UTC) - timedelta(hours=1)
    async with runtime.sessionmaker() as s:
        ids = (await s.execute(select(tables.outbox.c.id).order_by(tables.outbox.c.id))).scalars().all()
        await s.execute(tables.outbox.update().where(tables.outbox.c.id == ids[0]).values(published_at=old))
        await s.execute(tables.outbox.update().where(tables.outbox.c.id == ids[1]).values(published_at=recent))
        await s.commit()  # ids[2] is not published at all
    await runtime.prune()
    async with runtime.sessionmaker() as s:
        left = (await s.execute(select(tables.outbox.c.id).order_by(tables.outbox.c.id))).scalars().all()
    assert left == ids[1:]
    await runtime.engine.dispose()


async def test_only_one_relay_of_a_service_publishes_and_another_takes_over_when_it_stops(bus_db, tansu):
    settings = bus_settings(bus_db, tansu.bootstrap)
    one, two = Runtime(settings), Runtime(settings)  # two instances of one service, one database
    await one.start()
    await two.start()
    try:
        assert await until(lambda: _one_leader(one, two))
        leader, follower = (one, two) if one.relay.is_leader else (two, one)
        ids = await write_events(follower, 5)  # written through either instance...
        assert await until(lambda: backlog_is(leader, 0))  # ...published by the leader
        await leader.stop()
        ids += await write_events(follower, 5)
        assert await until(lambda: backlog_is(follower, 0), timeout=30)
        assert follower.relay.is_leader
        records = await read_topic(tansu.bootstrap, f"{settings.topic_prefix}ActivityLogged", 10)
        assert sorted(uuid.UUID(dict(r.headers)["ce_id"].decode()) for r in records) == sorted(ids)
    finally:
        await one.stop()
        await two.stop()


async def _one_leader(a, b):
    return a.relay.is_leader != b.relay.is_leader


async def test_a_batch_handler_takes_many_events_in_one_call_and_still_applies_each_once(bus_db, tansu):
    from mercator.common.testing.bus import count_batch

    calls = []

    async def spy(uow, deliveries):
        calls.append(len(deliveries))
        await count_batch(uow, deliveries)

    spy.takes_batch = True

    publisher = Runtime(bus_settings(bus_db, tansu.bootstrap))
    company = uuid.uuid4()
    ids = await write_events(publisher, 60, company)  # one key, one partition: one batch
    reader = projector(bus_db, tansu.bootstrap, publisher.settings.topic_prefix, handler=spy)
    await publisher.start()
    await reader.start()
    try:
        assert await until(lambda: projected(reader, 60))
        seen = await projection(reader)
        assert set(seen) == set(ids) and set(seen.values()) == {1}
        assert max(calls) > 1 and sum(calls) == 60
    finally:
        await reader.stop()
        await publisher.stop()


async def test_each_event_is_marked_with_the_partition_and_offset_where_it_landed(bus_db, tansu):
    """Many keys and more events than one record batch holds: the relay fills batches per partition
    itself, so each row's mark must still name its own record, in outbox order within a partition."""
    from aiokafka.partitioner import DefaultPartitioner

    runtime = Runtime(bus_settings(bus_db, tansu.bootstrap))
    async with runtime.uow() as uow:  # one commit of 600 events with 600 keys: one relay turn
        for i in range(600):
            payload = activity(summary=f"entry {i} " + "x" * 300)
            uow.emit(payload, subject=payload.activity_id, sequence=1)
        await uow.commit()
    await runtime.start()
    try:
        assert await until(lambda: backlog_is(runtime, 0))
        await runtime.relay.flush_acked()
        topic = f"{runtime.settings.topic_prefix}ActivityLogged"
        records = await read_topic(tansu.bootstrap, topic, 600)
        async with runtime.sessionmaker() as s:
            marks = {
                uuid.UUID(str(e)): (oid, p, o)
                for e, oid, p, o in (
                    await s.execute(
                        select(
                            tables.outbox.c.event_id,
                            tables.outbox.c.id,
                            tables.outbox.c.kafka_partition,
                            tables.outbox.c.kafka_offset,
                        )
                    )
                ).all()
            }
        landed = {uuid.UUID(dict(r.headers)["ce_id"].decode()): r for r in records}
        assert len(landed) == 600 and set(landed) == set(marks)
        partitions = sorted({r.partition for r in records})
        assert len(partitions) == runtime.settings.topic_partitions  # the keys spread over every partition
        for event_id, r in landed.items():
            assert marks[event_id][1:] == (r.partition, r.offset)
            # Kafka's default partitioner: a key lands where any Kafka client would put it.
            assert r.partition == DefaultPartitioner()(r.key, partitions, partitions)
        for p in partitions:
            in_partition = sorted((r for r in records if r.partition == p), key=lambda r: r.offset)
            ids = [marks[uuid.UUID(dict(r.headers)["ce_id"].decode())][0] for r in in_partition]
            assert ids == sorted(ids)  # commit order within the partition
    finally:
        await runtime.stop()


async def test_a_fetch_across_partitions_is_applied_in_one_transaction(bus_db, tansu):
    """Events of many keys, already waiting when the consumer starts: its first fetch spans partitions and
    goes to the batch handler in one call (one transaction), each event still applied once."""
    from aiokafka.partitioner import DefaultPartitioner

    from mercator.common.testing.bus import count_batch

    calls = []

    async def spy(uow, deliveries):
        calls.append([d.envelope.subject for d in deliveries])
        await count_batch(uow, deliveries)

    spy.takes_batch = True

    publisher = Runtime(bus_settings(bus_db, tansu.bootstrap))
    ids = []
    for _ in range(90):
        ids += await write_events(publisher, 1)  # a new key each: spread over the partitions
    await publisher.start()
    assert await until(lambda: backlog_is(publisher, 0))
    reader = projector(bus_db, tansu.bootstrap, publisher.settings.topic_prefix, handler=spy)
    await reader.start()
    try:
        assert await until(lambda: projected(reader, 90))
        seen = await projection(reader)
        assert set(seen) == set(ids) and set(seen.values()) == {1}
        partitions = list(range(publisher.settings.topic_partitions))

        def spread(subjects):
            return {DefaultPartitioner()(s.encode(), partitions, partitions) for s in subjects}

        assert any(len(spread(call)) > 1 for call in calls)
    finally:
        await reader.stop()
        await publisher.stop()


async def test_a_relay_in_its_own_process_publishes_while_the_service_loop_is_busy(bus_db, tansu):
    """Requests that compute for a long time between their awaits do not hold the relay up: it runs in a
    child process. (On the service's loop each of its awaits waited a whole slice of such work.)"""

    runtime = Runtime(bus_settings(bus_db, tansu.bootstrap))
    assert isinstance(runtime.relay, RelayInProcess)
    await runtime.start()
    try:
        await write_events(runtime, 1)  # the relay leads, its producer is up, the topic is there
        assert await until(lambda: backlog_is(runtime, 0))
        [event_id] = await write_events(runtime, 1)
        committed = time.time()
        for _ in range(12):  # 2.4 s of "requests", 200 ms of CPU between awaits
            until_then = time.perf_counter() + 0.2
            while time.perf_counter() < until_then:
                pass
            await asyncio.sleep(0)
        records = await read_topic(tansu.bootstrap, f"{runtime.settings.topic_prefix}ActivityLogged", 2)
        [record] = [r for r in records if uuid.UUID(dict(r.headers)["ce_id"].decode()) == event_id]
        assert record.timestamp / 1000 - committed < 0.6  # stamped when the relay put it in a batch
        published = generate_latest(runtime.metrics.registry).decode()
        assert 'events_published_total{type="ActivityLogged"} 2.0' in published  # counted in the service
    finally:
        await runtime.stop()


async def test_a_relay_process_that_dies_is_started_again_and_publishes_what_is_left(bus_db, tansu):
    runtime = Runtime(bus_settings(bus_db, tansu.bootstrap))
    await runtime.start()
    try:
        first = await write_events(runtime, 1)
        assert await until(lambda: backlog_is(runtime, 0))
        killed = runtime.relay.pid
        os.kill(killed, signal.SIGKILL)
        later = await write_events(runtime, 20)  # accepted while no relay runs
        assert await until(lambda: backlog_is(runtime, 0), timeout=30)
        assert runtime.relay.pid not in (None, killed)
        records = await read_topic(tansu.bootstrap, f"{runtime.settings.topic_prefix}ActivityLogged", 21)
        assert {uuid.UUID(dict(r.headers)["ce_id"].decode()) for r in records} >= set(first + later)
    finally:
        await runtime.stop()


_SERVICE = """
import asyncio, sys
from mercator.common.runtime import Runtime
from mercator.common.testing.bus import bus_settings

async def main():
    runtime = Runtime(bus_settings(sys.argv[1], sys.argv[2]))
    await runtime.start()
    await runtime.relay.backlog()
    print(runtime.relay.pid, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


async def test_a_relay_process_ends_when_its_service_is_killed(bus_db, tansu):
    service = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _SERVICE, bus_db, tansu.bootstrap, stdout=asyncio.subprocess.PIPE
    )
    try:
        line = await asyncio.wait_for(service.stdout.readline(), timeout=60)
        relay = int(line)
        assert not _gone(relay)
        service.kill()  # SIGKILL: no stop in order, the child only sees its stdin end
        await service.wait()
        deadline = time.monotonic() + 20
        while not _gone(relay) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert _gone(relay)
    finally:
        if service.returncode is None:
            service.kill()
            await service.wait()
