"""Outbox relay: publishes committed events in commit order until the broker has taken every one.

- One active relay per service (RelayLock), so the order of the outbox is the order on Kafka.
- A row is marked published only after the broker acknowledged it (acks=all); a failure
  leaves it, and every row after it, for the next attempt. Duplicates are possible after a
  crash between acknowledgement and marking; consumers' inboxes drop them.
- Published rows are kept for a retention window. If the broker lost its log (an in-memory
  broker restarted), the relay sees offsets go back and publishes the window again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import bindparam, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mercator.common.bus import tables
from mercator.common.bus.kafka import ensure_topics, make_producer
from mercator.common.bus.lock import RelayLock
from mercator.common.metrics import Metrics
from mercator.common.settings import ServiceSettings

log = logging.getLogger(__name__)
outbox = tables.outbox


class Relay:
    def __init__(self, settings: ServiceSettings, sessionmaker: async_sessionmaker[AsyncSession],
                 lock: RelayLock, metrics: Metrics, topics: list[str]):
        self.settings = settings
        self._sm = sessionmaker
        self._lock = lock
        self._metrics = metrics
        self._topics = topics
        self._producer = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._last_offsets: dict[tuple[str, int], int] | None = None
        # (when, rows) the broker acknowledged, marked published by the relay's next transaction.
        self._acked: list[tuple[datetime, list]] = []
        self._next_reset_check = 0.0
        self._next_backlog_update = 0.0
        self.broker_ok = False
        self.is_leader = False
        self._epoch_topic = f"{settings.topic_prefix}__mercator_relay_epoch.{settings.service_name}"

    def notify(self) -> None:
        """Called after a commit that wrote outbox rows: publish now, not at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = 0.2
        while not self._stopping:
            try:
                self.is_leader = await self._lock.acquire()
                if not self.is_leader:
                    await self._sleep(self.settings.relay_poll_seconds * 4)
                    continue
                await self._start_producer()
                if loop.time() >= self._next_reset_check:
                    await self.flush_acked()  # a republished window must not be marked again after
                    await self.check_broker_reset()
                    self._next_reset_check = loop.time() + self.settings.relay_reset_check_seconds
                sent = await self.publish_batch()
                self.broker_ok = True
                backoff = 0.2
                if loop.time() >= self._next_backlog_update:
                    await self.update_backlog_metrics()
                    self._next_backlog_update = loop.time() + 1.0
                if sent == 0:  # else the next turn marks these rows and reads what came meanwhile
                    await self._sleep(self.settings.relay_poll_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.broker_ok = False
                log.warning("relay: publish failed, retrying in %.1fs: %r", backoff, exc)
                await self._stop_producer()
                await asyncio.sleep(backoff)  # not woken by commits: the broker needs the time
                backoff = min(backoff * 2, 5.0)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        try:
            await self.flush_acked()
        except Exception as exc:  # sent again at the next start; the inboxes drop the copies
            log.warning("relay: could not mark the last published rows", extra={"error": repr(exc)})
        await self._stop_producer()
        await self._lock.release()

    async def drain(self, timeout: float) -> int:
        """Publish until nothing is left (shutdown); returns the rows still unpublished."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            try:
                if not await self._lock.acquire():
                    break
                await self._start_producer()
                if await self.publish_batch() == 0:
                    break
            except Exception as exc:
                log.warning("relay: drain attempt failed", extra={"error": repr(exc)})
                await asyncio.sleep(0.5)
        return await self.backlog()

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        except TimeoutError:
            pass
        self._wake.clear()

    async def _start_producer(self) -> None:
        if self._producer is not None:
            return
        producer = make_producer(self.settings.kafka_bootstrap, f"{self.settings.service_name}-relay")
        try:
            await producer.start()
        except Exception:
            await producer.stop()
            raise
        self._producer = producer
        await ensure_topics(self.settings.kafka_bootstrap, self._topics, self.settings.topic_partitions)
        if self._last_offsets is None:
            await self._load_last_offsets()
        # A new connection may be to a broker that restarted: look before publishing.
        self._next_reset_check = 0.0

    async def _stop_producer(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            try:
                await asyncio.wait_for(producer.stop(), timeout=5)
            except Exception:
                pass

    async def _load_last_offsets(self) -> None:
        async with self._sm() as s:
            rows = (await s.execute(
                select(outbox.c.topic, outbox.c.kafka_partition, func.max(outbox.c.kafka_offset))
                .where(outbox.c.kafka_offset.is_not(None))
                .group_by(outbox.c.topic, outbox.c.kafka_partition))).all()
        self._last_offsets = {(t, p): o for t, p, o in rows}

    async def publish_batch(self) -> int:
        """Marks what the broker acknowledged in the last turn and reads the next rows, in one
        transaction, then publishes those rows and waits for the broker to take them.

        One transaction a turn, not two: on SQLite every request and the relay share one
        connection, and each turn of the relay waited behind the requests queued for it (the
        relay's commit -> published p50 was about a second under a busy API, bench/bus.py).
        Acknowledged rows not yet marked are sent again after a crash, as before: consumers'
        inboxes drop the copies."""
        acked, self._acked = self._acked, []
        try:
            async with self._sm() as s:
                offsets, reset = await self._mark_published(s, acked)
                rows = (await s.execute(
                    select(outbox.c.id, outbox.c.type, outbox.c.topic, outbox.c.key, outbox.c.headers,
                           outbox.c.payload)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.id)
                    .limit(self.settings.relay_batch_size))).all()
                await s.commit()
        except BaseException:
            self._acked[:0] = acked  # not marked: the next turn marks them
            raise
        self._marked(acked, offsets)
        if reset:
            await self._republish_window("offsets went back after publishing")
            return await self.publish_batch()
        if not rows:
            return 0
        producer = self._producer
        assert producer is not None
        futures = []
        failure: BaseException | None = None
        try:
            for r in rows:
                futures.append(await producer.send(
                    r.topic, value=r.payload.encode(), key=r.key.encode(),
                    headers=[(k, v.encode()) for k, v in r.headers]))
        except Exception as exc:  # the buffer could not take more: publish what it took
            failure = exc
        results = []
        if futures:
            try:
                results = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), timeout=15)
            except TimeoutError as exc:
                failure = failure or exc
        done = []
        for r, res in zip(rows, results):
            if isinstance(res, BaseException):
                failure = failure or res
                break  # keep order: nothing after a failed row is marked
            done.append((r, res))
        if done:
            self._acked.append((datetime.now(UTC), done))
        per_type: dict[str, int] = {}
        for r, _ in done:
            per_type[r.type] = per_type.get(r.type, 0) + 1
        for event_type, count in per_type.items():
            self._metrics.events_published.labels(event_type).inc(count)
        if failure is not None:
            await self.flush_acked()
            raise failure
        return len(done)

    async def flush_acked(self) -> None:
        """Marks the rows the broker acknowledged that no turn has marked yet."""
        if not self._acked:
            return
        acked, self._acked = self._acked, []
        try:
            async with self._sm() as s:
                offsets, reset = await self._mark_published(s, acked)
                await s.commit()
        except BaseException:
            self._acked[:0] = acked
            raise
        self._marked(acked, offsets)
        if reset:
            await self._republish_window("offsets went back after publishing")

    async def _mark_published(self, s: AsyncSession, acked) -> tuple[dict[tuple[str, int], int], bool]:
        """Writes the marks in `s`; returns the last offsets they make, and whether an offset went back
        (the broker lost its log). The relay's own record of offsets moves only after the commit."""
        last = dict(self._last_offsets) if self._last_offsets is not None else {}
        reset = False
        for at, done in acked:
            for r, meta in done:
                tp = (r.topic, meta.partition)
                if tp in last and meta.offset <= last[tp]:
                    reset = True
                last[tp] = meta.offset
            await self._write_marks(s, at, done)
        return last, reset

    @staticmethod
    async def _write_marks(s: AsyncSession, now: datetime, done) -> None:
        if s.bind.dialect.name == "postgresql":
            # One statement for the whole batch: an UPDATE per row was a third of the relay's time.
            await s.execute(text(
                "UPDATE outbox SET published_at = :at, kafka_partition = v.p, kafka_offset = v.o "
                "FROM unnest(CAST(:ids AS bigint[]), CAST(:ps AS int[]), CAST(:os AS bigint[])) AS v(id, p, o) "
                "WHERE outbox.id = v.id"),
                {"at": now, "ids": [r.id for r, _ in done], "ps": [m.partition for _, m in done],
                 "os": [m.offset for _, m in done]})
        else:
            await s.execute(
                update(outbox).where(outbox.c.id == bindparam("rid")).values(
                    published_at=bindparam("at"), kafka_partition=bindparam("p"), kafka_offset=bindparam("o")),
                [{"rid": r.id, "at": now, "p": m.partition, "o": m.offset} for r, m in done],
                execution_options={"synchronize_session": False})

    def _marked(self, done, offsets: dict[tuple[str, int], int]) -> None:
        if done:
            self._last_offsets = offsets

    async def check_broker_reset(self) -> bool:
        """Has the broker lost its log since this relay published? Then publish the window again.

        The relay keeps an epoch topic on the broker; a broker that lost its state has lost
        that topic too. (End offsets cannot tell: Tansu reports a partition's high watermark
        as the base offset of its last batch + 1, short of the true end.)
        """
        epoch = self._epoch_topic
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap, request_timeout_ms=10_000)
        await admin.start()
        try:
            present = epoch in await admin.list_topics()
        finally:
            await admin.close()
        if present:
            return False
        async with self._sm() as s:
            published_before = (await s.execute(
                select(outbox.c.id).where(outbox.c.published_at.is_not(None)).limit(1))).first() is not None
        if published_before:
            await self._republish_window("its epoch topic is gone")
        else:
            await ensure_topics(self.settings.kafka_bootstrap, [epoch], 1)
        return published_before

    async def _republish_window(self, why: str) -> None:
        self._metrics.broker_resets.inc()
        async with self._sm() as s:
            result = await s.execute(
                update(outbox).where(outbox.c.published_at.is_not(None))
                .values(published_at=None, kafka_partition=None, kafka_offset=None))
            await s.commit()
        self._last_offsets = {}
        log.warning("relay: the broker lost its log (%s); publishing the %d retained rows again",
                    why, result.rowcount)
        await ensure_topics(self.settings.kafka_bootstrap, self._topics, self.settings.topic_partitions)
        await ensure_topics(self.settings.kafka_bootstrap, [self._epoch_topic], 1)

    async def backlog(self) -> int:
        async with self._sm() as s:
            return (await s.execute(select(func.count()).select_from(outbox)
                                    .where(outbox.c.published_at.is_(None)))).scalar_one()

    async def update_backlog_metrics(self) -> None:
        async with self._sm() as s:
            count, oldest = (await s.execute(
                select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.published_at.is_(None)))).one()
        self._metrics.outbox_backlog.set(count)
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        self._metrics.outbox_oldest_age.set((datetime.now(UTC) - oldest).total_seconds() if oldest else 0)

    async def prune(self) -> int:
        cutoff = datetime.now(UTC) - timedelta(hours=self.settings.outbox_retention_hours)
        async with self._sm() as s:
            result = await s.execute(delete(outbox).where(outbox.c.published_at < cutoff))
            await s.commit()
        return result.rowcount
