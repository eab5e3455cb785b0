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
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import CursorResult, bindparam, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common import clock
from mercator.common.bus import tables
from mercator.common.bus.kafka import KeyPartitioner, ensure_topics, make_producer
from mercator.common.bus.lock import RelayLock
from mercator.common.db import dialect_of
from mercator.common.metrics import Metrics
from mercator.common.settings import ServiceSettings

if TYPE_CHECKING:  # the relay process imports this module
    from mercator.common.bus.relay_process import ForwardedMetrics

log = logging.getLogger(__name__)
outbox = tables.outbox


class Landed(NamedTuple):
    """Where the broker put one event."""

    partition: int
    offset: int


class Relay:
    def __init__(
        self,
        settings: ServiceSettings,
        sessionmaker: Callable[[], AsyncSession],
        lock: RelayLock,
        metrics: Metrics | ForwardedMetrics,
        topics: list[str],
        reader: Callable[[], AsyncSession] | None = None,
    ):
        """`reader`: sessions to read the outbox through, when not the writing ones (SQLite, see Runtime)."""
        self.settings = settings
        self._sm = sessionmaker
        self._reader = reader
        self._lock = lock
        self._metrics = metrics
        self._topics = topics
        self._producer = None
        self._partitioner = KeyPartitioner()
        self._wake = asyncio.Event()
        self._stopping = False
        self._last_offsets: dict[tuple[str, int], int] | None = None
        # (when, rows) the broker acknowledged, marked published by the relay's next transaction.
        self._acked: list[tuple[datetime, list]] = []
        # With a reader (SQLite): the rows up to this id went out; the marking runs behind the
        # publishing, so the next read starts after them. SQLite has one writer at a time, so ids
        # are committed in order and no row below this one can still appear. None: read from the
        # marks. `_reads` counts the times it was forgotten, so a turn that read before does not set it.
        self._sent_through: int | None = None
        self._reads = 0
        self._marking: asyncio.Task | None = None
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
                    await self.check_broker_reset()
                    self._next_reset_check = loop.time() + self.settings.relay_reset_check_seconds
                sent = await self.publish_batch()
                self.broker_ok = True
                backoff = 0.2
                if loop.time() >= self._next_backlog_update:
                    await self.update_backlog_metrics()
                    self._next_backlog_update = loop.time() + 1.0
                if sent == 0:
                    woken = await self._sleep(self.settings.relay_poll_seconds)
                    if not woken and (self._marking is None or self._marking.done()) and not self._acked:
                        # Quiet for a poll and every mark written: read the marks again, so rows marked
                        # unpublished by hand (or by a crash's recovery) are seen, whatever their id.
                        self._forget_sent()
                if 0 < sent < self.settings.relay_batch_size or (sent == 0 and woken):
                    # Let the commits of the moment gather: a turn for every small commit cost more
                    # CPU per event (a read, a produce request and a mark each) than it saved latency.
                    await asyncio.sleep(self.settings.relay_linger_seconds)
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
            await self._marks_written()
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
        try:
            await self._marks_written()
        except Exception as exc:
            log.warning("relay: could not mark the last published rows", extra={"error": repr(exc)})
        return await self.backlog()

    async def _sleep(self, seconds: float) -> bool:
        """True when woken by a commit, False after `seconds`."""
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
            woken = True
        except TimeoutError:
            woken = False
        self._wake.clear()
        return woken

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
        self._forget_sent()
        if self._producer is not None:
            producer, self._producer = self._producer, None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), timeout=5)

    async def _load_last_offsets(self) -> None:
        async with self._sm() as s:
            rows = (
                await s.execute(
                    select(outbox.c.topic, outbox.c.kafka_partition, func.max(outbox.c.kafka_offset))
                    .where(outbox.c.kafka_offset.is_not(None))
                    .group_by(outbox.c.topic, outbox.c.kafka_partition)
                )
            ).all()
        self._last_offsets = {(t, p): o for t, p, o in rows}

    async def publish_batch(self) -> int:
        """Reads the next unpublished rows, publishes them and waits for the broker to take them.

        The marks of what the broker took do not hold the next turn up: without a reader they are
        written in the transaction that reads the next rows; with one (SQLite) they are written
        behind, while the relay reads through its own connection. On SQLite every request and the
        relay share one writing connection, and each read and each mark of the relay waited behind
        the requests queued for it (commit -> published p50 about a second under a busy API,
        bench/bus.py). Acknowledged rows not yet marked are sent again after a crash, as before:
        consumers' inboxes drop the copies."""
        unpublished = (
            select(outbox.c.id, outbox.c.type, outbox.c.topic, outbox.c.key, outbox.c.headers, outbox.c.payload)
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.id)
            .limit(self.settings.relay_batch_size)
        )
        reads, after = self._reads, self._sent_through  # always None without a reader
        if self._reader is None:
            acked, self._acked = self._acked, []
            try:
                async with self._sm() as s:
                    offsets, reset = await self._mark_published(s, acked)
                    rows = (await s.execute(unpublished)).all()
                    await s.commit()
            except BaseException:
                self._acked[:0] = acked  # not marked: the next turn marks them
                raise
            self._marked(acked, offsets)
        else:
            reset = await self._marking_done()
            self._mark_behind()
            if not reset:
                if after is not None:
                    unpublished = unpublished.where(outbox.c.id > after)
                async with self._reader() as r:
                    rows = (await r.execute(unpublished)).all()
        if reset:
            await self._republish_window("offsets went back after publishing")
            return await self.publish_batch()
        if not rows:
            return 0
        results, failure = await self._send(rows)
        done = []
        for row, res in zip(rows, results, strict=False):
            if isinstance(res, BaseException):
                failure = failure or res
                break  # keep order: nothing after a failed row is marked
            done.append((row, res))
        if failure is None and len(done) < len(rows):
            failure = RuntimeError(f"the broker answered for {len(done)} of {len(rows)} events")
        if done:
            self._acked.append((clock.now(), done))
            if self._reader is not None:
                if reads == self._reads:
                    self._sent_through = max(self._sent_through or 0, done[-1][0].id)
                self._mark_behind()
        per_type: dict[str, int] = {}
        for row, _ in done:
            per_type[row.type] = per_type.get(row.type, 0) + 1
        for event_type, count in per_type.items():
            self._metrics.events_published.labels(event_type).inc(count)
        if failure is not None:
            self._forget_sent()
            await self._marks_written()
            raise failure
        return len(done)

    async def _send(self, rows) -> tuple[list, BaseException | None]:
        """Publishes `rows` in order; returns, row by row as far as the broker answered, where each
        landed (or the error of its batch), and the error that stopped the sending early, if any.

        The rows go in record batches the relay fills itself, one at a time per partition and in
        the rows' order, instead of one `send()` per event: that made a future, a partition lookup
        and a pass through the accumulator for every event, about half of the relay's CPU."""
        producer = self._producer
        assert producer is not None
        partitions: dict[str, list[int]] = {}
        filling: dict[tuple[str, int], tuple[int, object]] = {}
        batches: list[tuple[str, int, object]] = []
        placed: list[tuple[int, int]] = []  # each row's batch and its place in it
        failure: BaseException | None = None
        try:
            for r in rows:
                topic = r.topic
                choices = partitions.get(topic)
                if choices is None:
                    choices = partitions[topic] = sorted(await producer.partitions_for(topic))
                key = r.key.encode()
                partition = self._partitioner(key, choices, choices)
                value = r.payload.encode()
                headers = [(k, v.encode()) for k, v in r.headers]
                current = filling.get((topic, partition))
                if current is None or current[1].append(timestamp=None, key=key, value=value, headers=headers) is None:
                    builder = producer.create_batch()
                    builder.append(timestamp=None, key=key, value=value, headers=headers)  # a first one always fits
                    current = filling[(topic, partition)] = (len(batches), builder)
                    batches.append((topic, partition, builder))
                placed.append((current[0], current[1].record_count() - 1))
        except Exception as exc:  # publish the rows placed before it, in order
            failure = exc
        answers: list = [None] * len(batches)
        by_partition: dict[tuple[str, int], list[int]] = {}
        for i, (topic, partition, builder) in enumerate(batches):
            builder.close()  # full or not, it goes now: no linger
            by_partition.setdefault((topic, partition), []).append(i)

        async def partition_in_order(tp: tuple[str, int], indexes: list[int]) -> None:
            # The accumulator takes one batch of a partition at a time, so its batches queue in order;
            # after a refused one, the rest of the partition is not sent.
            futures = []
            try:
                for i in indexes:
                    futures.append((i, await producer.send_batch(batches[i][2], tp[0], partition=tp[1])))
            except Exception as exc:
                for i in indexes[len(futures) :]:
                    answers[i] = exc
            for i, future in futures:
                try:
                    answers[i] = await future
                except Exception as exc:
                    answers[i] = exc

        if batches:
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(partition_in_order(tp, ix) for tp, ix in by_partition.items())), timeout=15
                )
            except TimeoutError as exc:
                failure = failure or exc
        results: list = []
        for b, offset in placed:
            answer = answers[b]
            if answer is None:
                break  # not answered in time
            results.append(
                answer if isinstance(answer, BaseException) else Landed(answer.partition, answer.offset + offset)
            )
        return results, failure

    def _forget_sent(self) -> None:
        self._sent_through = None
        self._reads += 1

    def _mark_behind(self) -> None:
        if self._acked and self._marking is None:
            self._marking = asyncio.create_task(self.flush_acked(republish=False), name="relay marks")

    async def _marking_done(self) -> bool:
        """Collects a finished background marking (its error, or whether offsets went back)."""
        if self._marking is None or not self._marking.done():
            return False
        task, self._marking = self._marking, None
        return task.result()

    async def _marks_written(self) -> None:
        """Waits for the marking under way, then marks whatever is still acknowledged and unmarked."""
        if self._marking is not None:
            task, self._marking = self._marking, None
            reset = await task
        else:
            reset = False
        reset = await self.flush_acked(republish=False) or reset
        if reset:
            await self._republish_window("offsets went back after publishing")

    async def flush_acked(self, republish: bool = True) -> bool:
        """Marks the rows the broker acknowledged that no turn has marked yet; True if their offsets
        went back (the broker lost its log), which republishes the window unless told not to."""
        if not self._acked:
            return False
        acked, self._acked = self._acked, []
        try:
            async with self._sm() as s:
                offsets, reset = await self._mark_published(s, acked)
                await s.commit()
        except BaseException:
            self._acked[:0] = acked
            raise
        self._marked(acked, offsets)
        if reset and republish:
            await self._republish_window("offsets went back after publishing")
        return reset

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
        if dialect_of(s) == "postgresql":
            # One statement for the whole batch: an UPDATE per row was a third of the relay's time.
            await s.execute(
                text(
                    "UPDATE outbox SET published_at = :at, kafka_partition = v.p, kafka_offset = v.o "
                    "FROM unnest(CAST(:ids AS bigint[]), CAST(:ps AS int[]), CAST(:os AS bigint[])) AS v(id, p, o) "
                    "WHERE outbox.id = v.id"
                ),
                {
                    "at": now,
                    "ids": [r.id for r, _ in done],
                    "ps": [m.partition for _, m in done],
                    "os": [m.offset for _, m in done],
                },
            )
        else:
            # One statement too (SQLite 3.33+): an executemany of thousands of rows held the service's one
            # connection, and every request queued behind it, for about 100 ms.
            await s.execute(
                text(
                    "UPDATE outbox SET published_at = :at, kafka_partition = json_extract(m.value, '$[1]'), "
                    "kafka_offset = json_extract(m.value, '$[2]') FROM json_each(:marks) AS m "
                    "WHERE outbox.id = json_extract(m.value, '$[0]')"
                ).bindparams(bindparam("at", type_=outbox.c.published_at.type)),
                {"at": now, "marks": json.dumps([[r.id, m.partition, m.offset] for r, m in done])},
            )

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
        await self._marks_written()  # a republished window must not be marked again after
        async with self._sm() as s:
            published_before = (
                await s.execute(select(outbox.c.id).where(outbox.c.published_at.is_not(None)).limit(1))
            ).first() is not None
        if published_before:
            await self._republish_window("its epoch topic is gone")
        else:
            await ensure_topics(self.settings.kafka_bootstrap, [epoch], 1)
        return published_before

    async def _republish_window(self, why: str) -> None:
        self._forget_sent()
        self._metrics.broker_resets.inc()
        async with self._sm() as s:
            result = cast(
                CursorResult[Any],
                await s.execute(
                    update(outbox)
                    .where(outbox.c.published_at.is_not(None))
                    .values(published_at=None, kafka_partition=None, kafka_offset=None)
                ),
            )
            await s.commit()
        self._last_offsets = {}
        log.warning("relay: the broker lost its log (%s); publishing the %d retained rows again", why, result.rowcount)
        await ensure_topics(self.settings.kafka_bootstrap, self._topics, self.settings.topic_partitions)
        await ensure_topics(self.settings.kafka_bootstrap, [self._epoch_topic], 1)

    async def backlog(self) -> int:
        async with (self._reader or self._sm)() as s:  # not queued behind the requests for the writer
            return (
                await s.execute(select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None)))
            ).scalar_one()

    async def update_backlog_metrics(self) -> None:
        async with (self._reader or self._sm)() as s:
            count, oldest = (
                await s.execute(
                    select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.published_at.is_(None))
                )
            ).one()
        self._metrics.outbox_backlog.set(count)
        self._metrics.outbox_oldest_age.set((clock.now() - oldest).total_seconds() if oldest else 0)

    async def prune(self) -> int:
        cutoff = clock.now() - timedelta(hours=self.settings.outbox_retention_hours)
        async with self._sm() as s:
            result = cast(CursorResult[Any], await s.execute(delete(outbox).where(outbox.c.published_at < cutoff)))
            await s.commit()
        return result.rowcount
