"""Event consumer: at-least-once delivery made exactly-once in effect by an inbox.

For each batch of a partition: the handlers' writes and the `(consumer, event id)` inbox
rows are committed in one transaction, then the offset is committed by hand. A message
that keeps failing is retried in place a bounded number of times, then sent with its error
to `<topic>.DLQ` (and kept in the `dead_letters` table), and the partition moves on: a later
offset commit can never silently acknowledge a message that was not handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import KafkaError
from pydantic import ValidationError
from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

from mercator.common import clock
from mercator.common.bus import tables
from mercator.common.bus.kafka import ensure_topics, make_producer
from mercator.common.context import Cause, current_cause
from mercator.common.db import dialect_of, insert_unnested
from mercator.common.events.catalogue import CATALOGUE, EventPayload, payload_model
from mercator.common.events.envelope import Envelope
from mercator.common.metrics import Metrics
from mercator.common.settings import ServiceSettings
from mercator.common.uow import UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """What a handler gets: the envelope and the payload parsed with the catalogue's model."""

    envelope: Envelope
    payload: EventPayload


Handler = Callable[[UnitOfWork, Delivery], Awaitable[None]]


def batch_handler(fn: Callable[[UnitOfWork, list[Delivery]], Awaitable[None]]) -> Handler:
    """Marks a handler that takes a whole batch of one event type at once (set-based projection
    writes); a failing batch is retried one delivery at a time, so it must accept a list of one."""
    fn.takes_batch = True  # type: ignore[attr-defined]
    return fn  # type: ignore[return-value]


class Poison(Exception):
    """A message that can never be handled (not a CloudEvent, payload fails its schema)."""


# PostgreSQL's SQLSTATEs of a moment's trouble: serialization failure, deadlock, lock not available, too many
# connections, shutting down or starting, and the whole class of connection exceptions.
_TRANSIENT_STATES = ("40001", "40P01", "55P03", "53300", "57P01", "57P02", "57P03")


def transient(error: BaseException) -> bool:
    """Whether the database was busy or away for a moment (worth waiting out), not the handler or the data wrong."""
    if isinstance(error, (SQLAlchemyTimeoutError, ConnectionError, asyncio.TimeoutError)):
        return True  # the pool was exhausted, the server did not answer
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        state = str(getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None) or "")
        if state in _TRANSIENT_STATES or state.startswith("08"):
            return True
        text = str(error.orig).lower()
        return isinstance(error, OperationalError) and ("locked" in text or "busy" in text)  # SQLite's
    return False


class Consumer:
    def __init__(
        self,
        name: str,
        handlers: dict[str, Handler],
        settings: ServiceSettings,
        uow_factory: Callable[[], UnitOfWork],
        metrics: Metrics,
    ):
        self.name = name  # also the consumer group id
        # A misspelt type would subscribe to a topic nobody writes and wait for ever without a word.
        unknown = sorted(set(handlers) - set(CATALOGUE))
        if unknown:
            raise ValueError(f"consumer {name} handles event types that are not in the catalogue: {unknown}")
        self.handlers = handlers
        self.settings = settings
        self._uow_factory = uow_factory
        self._metrics = metrics
        metrics.consumer(name, handlers)
        self._consumer: AIOKafkaConsumer | None = None
        self._dlq_producer: AIOKafkaProducer | None = None
        self._stopping = False
        self.assigned = asyncio.Event()
        self.lag: dict[TopicPartition, int] = {}
        # Monotonic time of the last completed poll (or of the start, before the first one):
        # liveness fails when a loop stops coming round, e.g. a handler hung on a lock.
        self.last_poll: float | None = None

    @property
    def topics(self) -> list[str]:
        return [f"{self.settings.topic_prefix}{t}" for t in self.handlers]

    def _type_of_topic(self, topic: str) -> str:
        return topic[len(self.settings.topic_prefix) :]

    def since_last_poll(self) -> float:
        """Seconds since the loop last came round (0 before it was started)."""
        return 0.0 if self.last_poll is None else time.monotonic() - self.last_poll

    def _polled(self) -> None:
        self.last_poll = time.monotonic()
        self._metrics.consumer_last_poll.labels(self.name).set(time.time())

    async def run(self) -> None:
        backoff = 0.5
        self._polled()
        try:
            while not self._stopping:
                try:
                    await self._start()
                    backoff = 0.5
                    await self._loop()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("consumer %s: restarting after error: %r", self.name, exc)
                    await self._close()
                    # Reconnecting to a broker that is away is not a hung loop: the process stays live.
                    self._polled()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            await self._close()

    async def stop(self) -> None:
        self._stopping = True

    def total_lag(self) -> int:
        return sum(self.lag.values())

    async def _start(self) -> None:
        await ensure_topics(self.settings.kafka_bootstrap, self.topics, self.settings.topic_partitions)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            group_id=self.name,
            client_id=self.name,
            enable_auto_commit=False,
            # A new group must read what was published before it joined: with "latest", Tansu let a new group
            # skip the message produced just after it joined (docs/architecture.md).
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self.settings.consumer_fetch_max_wait_ms,
            session_timeout_ms=self.settings.consumer_session_timeout_ms,
            heartbeat_interval_ms=self.settings.consumer_heartbeat_interval_ms,
            metadata_max_age_ms=10_000,
        )
        self._consumer = consumer
        consumer.subscribe(self.topics, listener=_Assignment(self))
        await consumer.start()
        self._dlq_producer = dlq = make_producer(self.settings.kafka_bootstrap, f"{self.name}-dlq")
        await dlq.start()

    async def _close(self) -> None:
        self.assigned.clear()
        for client in (self._consumer, self._dlq_producer):
            if client is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.stop(), timeout=5)
        self._consumer = self._dlq_producer = None

    async def _loop(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        while not self._stopping:
            batches = await consumer.getmany(timeout_ms=500, max_records=self.settings.consumer_batch_size)
            handled: dict[TopicPartition, int] = {}
            # Every partition of the fetch in one transaction when it all parses: a transaction per
            # partition cost each a few round trips to the database for a few events each.
            parsed = {tp: [(r, self._parse(r)) for r in records] for tp, records in batches.items()}
            together = [item for items in parsed.values() for item in items]
            if not self._stopping and await self._apply_together(together):
                handled = {tp: records[-1].offset + 1 for tp, records in batches.items()}
            else:
                for tp, items in parsed.items():
                    if self._stopping:
                        break
                    await self._one_by_one(items)
                    handled[tp] = items[-1][0].offset + 1
            # Every partition of the fetch in one commit, after all their transactions: one round
            # trip to the broker instead of one per partition between the batches.
            if handled:
                await self._commit(handled)
            if self._stopping:
                return
            await self._update_lag()
            self._polled()

    async def replay(self) -> int:
        """Reads this consumer's topics from the start up to their end as they are now, without the group (its
        offsets stay), through the same inbox, retries and dead letters; for rebuilding read models. Returns
        how many messages were read."""
        reader = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            group_id=None,
            client_id=f"{self.name}-replay",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await ensure_topics(self.settings.kafka_bootstrap, self.topics, self.settings.topic_partitions)
        await reader.start()
        self._dlq_producer = dlq = make_producer(self.settings.kafka_bootstrap, f"{self.name}-replay-dlq")
        await dlq.start()
        read = 0
        try:
            await reader.topics()  # metadata of every topic, so their partitions are known
            partitions = [
                TopicPartition(t, p) for t in self.topics for p in sorted(reader.partitions_for_topic(t) or ())
            ]
            reader.assign(partitions)
            await reader.seek_to_beginning(*partitions)
            end = await reader.end_offsets(partitions)
            left = {tp for tp in partitions if end[tp] > 0}
            while left:
                batches = await reader.getmany(*left, timeout_ms=500, max_records=self.settings.consumer_batch_size)
                for tp, records in batches.items():
                    records = [r for r in records if r.offset < end[tp]]
                    if records:
                        await self._process(tp, records)
                        read += len(records)
                for tp in list(left):
                    if await reader.position(tp) >= end[tp]:
                        left.discard(tp)
        finally:
            await reader.stop()
            await dlq.stop()
            self._dlq_producer = None
        return read

    async def _update_lag(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                continue
            try:
                pos = await asyncio.wait_for(consumer.position(tp), timeout=1)
            except Exception:
                continue
            lag = max(0, high - pos)
            self.lag[tp] = lag
            self._metrics.consumer_lag.labels(self.name, tp.topic, str(tp.partition)).set(lag)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        assert self._consumer is not None, "offsets are committed only while the consumer runs"
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:
            # A rebalance or a restarted broker: the messages come again and the inbox drops them.
            log.info("consumer: offset commit failed", extra={"consumer": self.name, "error": repr(exc)})

    async def _process(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        parsed: list[tuple[ConsumerRecord, Delivery | Exception]] = [(r, self._parse(r)) for r in records]
        if not await self._apply_together(parsed):
            await self._one_by_one(parsed)

    async def _apply_together(self, parsed: list[tuple[ConsumerRecord, Delivery | Exception]]) -> bool:
        """The fast path: the whole batch in one transaction, if every message parsed. False when that
        was not tried or failed: then the batch goes one by one, with retries and dead letters."""
        deliveries = [(r, d) for r, d in parsed if isinstance(d, Delivery)]
        if len(parsed) < 2 or len(deliveries) < len(parsed):
            return False
        try:
            await self._apply(deliveries)
            return True
        except Exception:
            return False

    async def _one_by_one(self, parsed: list[tuple[ConsumerRecord, Delivery | Exception]]) -> None:
        for record, delivery in parsed:
            if isinstance(delivery, Exception):
                await self._dead_letter(record, delivery, attempts=1)
                continue
            await self._apply_with_retries(record, delivery)

    def _parse(self, record: ConsumerRecord) -> Delivery | Exception:
        try:
            envelope = Envelope.from_kafka(record.headers, record.value)
            model = payload_model(envelope.type)
            if model is None:
                raise Poison(f"unknown event type {envelope.type!r}")
            return Delivery(envelope, model.model_validate_json(envelope.body()))
        except (ValueError, ValidationError, Poison) as exc:
            return exc if isinstance(exc, Poison) else Poison(f"{type(exc).__name__}: {exc}")

    async def _apply(self, deliveries: list[tuple[ConsumerRecord, Delivery]]) -> None:
        async with self._uow_factory() as uow:
            counted: Counter[tuple[str, str]] = Counter()
            firsts: dict[uuid.UUID, Delivery] = {}
            for _, d in deliveries:
                if d.envelope.id in firsts:
                    counted[d.envelope.type, "duplicate"] += 1
                else:
                    firsts[d.envelope.id] = d
            fresh, unwritten = await self._claim(uow, firsts)
            applied = {d.envelope.id for d in fresh}
            for d in firsts.values():
                if d.envelope.id not in applied:
                    counted[d.envelope.type, "duplicate"] += 1
            await self._hand_over(uow, fresh)
            if fresh:
                if unwritten:
                    await uow.session.execute(insert(tables.inbox), unwritten)
                await uow.commit()
            for d in fresh:
                counted[d.envelope.type, "applied"] += 1
            self._report(counted, fresh)

    async def _claim(self, uow: UnitOfWork, firsts: dict[uuid.UUID, Delivery]) -> tuple[list[Delivery], list[dict]]:
        """The deliveries this consumer has not applied before, and their inbox rows still to write (on SQLite they
        are written after the handlers, so the write lock is taken as late as the handlers take it)."""
        now = clock.now()
        rows = [
            {"consumer": self.name, "event_id": d.envelope.id, "type": d.envelope.type, "processed_at": now}
            for d in firsts.values()
        ]
        if dialect_of(uow.session) == "postgresql":
            # The inbox rows first, those already there left alone: what comes back is what is new, in one
            # round trip. A copy being applied by another instance waits here for its commit, then is skipped.
            new = set(
                (
                    await uow.session.execute(
                        _inbox_rows(rows).on_conflict_do_nothing().returning(tables.inbox.c.event_id)
                    )
                ).scalars()
            )
        else:
            seen = set(
                (
                    await uow.session.execute(
                        select(tables.inbox.c.event_id).where(
                            tables.inbox.c.consumer == self.name, tables.inbox.c.event_id.in_(list(firsts))
                        )
                    )
                ).scalars()
            )
            new = set(firsts) - seen
            return [d for event_id, d in firsts.items() if event_id in new], [r for r in rows if r["event_id"] in new]
        return [d for event_id, d in firsts.items() if event_id in new], []

    async def _hand_over(self, uow: UnitOfWork, fresh: list[Delivery]) -> None:
        """Each run of one event type to its handler: whole to a batch handler, else one by one, each under the
        cause of its own event (so what a handler emits points at the event it reacts to)."""
        for group in _runs_of_one_type(fresh):
            handler = self.handlers.get(group[0].envelope.type)
            if handler is None:
                continue
            if getattr(handler, "takes_batch", False):
                await handler(uow, group)  # type: ignore[arg-type]  # a batch handler (batch_handler)
                continue
            for d in group:
                token = current_cause.set(
                    Cause(
                        correlation_id=d.envelope.correlation_id or str(d.envelope.id),
                        causation_id=str(d.envelope.id),
                        actor=d.envelope.actor,
                    )
                )
                try:
                    await handler(uow, d)
                finally:
                    current_cause.reset(token)

    def _report(self, counted: Counter[tuple[str, str]], fresh: list[Delivery]) -> None:
        for (event_type, outcome), n in counted.items():
            self._metrics.events_consumed.labels(self.name, event_type, outcome).inc(n)
        if not log.isEnabledFor(logging.INFO):
            return
        for d in fresh:
            # One line per applied event, so a request can be followed through every service.
            log.info(
                "event applied",
                extra={
                    "consumer": self.name,
                    "event_type": d.envelope.type,
                    "event_id": str(d.envelope.id),
                    "subject": d.envelope.subject,
                    "correlation_id": d.envelope.correlation_id or str(d.envelope.id),
                    "causation_id": d.envelope.causation_id,
                },
            )

    async def _apply_with_retries(self, record: ConsumerRecord, delivery: Delivery) -> None:
        """A failing handler is tried `consumer_max_attempts` times; a database that is busy or away for a moment
        is waited out for up to `consumer_transient_retry_seconds` first. Then the message is dead-lettered."""
        attempts = self.settings.consumer_max_attempts
        waited_out = time.monotonic() + self.settings.consumer_transient_retry_seconds
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._apply([(record, delivery)])
                return
            except IntegrityError as exc:
                # Two copies of one event raced past the inbox check: the other one won.
                if "inbox" in str(exc).lower():
                    return
                error: Exception = exc
            except Exception as exc:
                error = exc
            pause = min(5.0, self.settings.consumer_retry_base_seconds * 2 ** (attempt - 1))
            if transient(error) and time.monotonic() + pause < waited_out:
                log.warning(
                    "consumer: the database is busy or away; trying again",
                    extra={"consumer": self.name, "attempt": attempt, "error": repr(error)[:300]},
                )
            elif attempt >= attempts:
                break
            await asyncio.sleep(pause)
        await self._dead_letter(record, error, attempt)

    async def _dead_letter(self, record: ConsumerRecord, error: Exception, attempts: int) -> None:
        text = "".join(traceback.format_exception_only(type(error), error)).strip()[:4000]
        event_type = self._type_of_topic(record.topic)
        event_id = None
        headers = list(record.headers or ())
        for k, v in headers:
            if k == "ce_id":
                with contextlib.suppress(ValueError):
                    event_id = uuid.UUID(v.decode())
        dlq_headers = [
            *headers,
            ("x-error", text.encode()),
            ("x-attempts", str(attempts).encode()),
            ("x-consumer", self.name.encode()),
            ("x-original-topic", record.topic.encode()),
            ("x-original-partition", str(record.partition).encode()),
            ("x-original-offset", str(record.offset).encode()),
        ]
        dlq_topic = f"{record.topic}.DLQ"
        while not self._stopping:
            try:
                await ensure_topics(self.settings.kafka_bootstrap, [dlq_topic], 1)
                assert self._dlq_producer is not None, "dead letters are written only while the consumer runs"
                await self._dlq_producer.send_and_wait(
                    dlq_topic, value=record.value, key=record.key, headers=dlq_headers
                )
                break
            except Exception as exc:  # the partition must not move on before the DLQ has it
                log.warning("consumer: DLQ publish failed, retrying", extra={"error": repr(exc)})
                await asyncio.sleep(1)
        async with self._uow_factory() as uow:
            await uow.session.execute(
                insert(tables.dead_letters).values(
                    consumer=self.name,
                    event_id=event_id,
                    topic=record.topic,
                    kafka_partition=record.partition,
                    kafka_offset=record.offset,
                    key=record.key.decode(errors="replace").replace("\x00", "") if record.key else None,
                    headers=[[k, v.decode(errors="replace").replace("\x00", "\ufffd")] for k, v in headers],
                    payload=record.value or b"",
                    error=text.replace("\x00", "\ufffd"),
                    attempts=attempts,
                    failed_at=clock.now(),
                )
            )
            if event_id is not None:
                # So a redelivery of the same event does not go through the retries again.
                existing = (
                    await uow.session.execute(
                        select(tables.inbox.c.event_id).where(
                            tables.inbox.c.consumer == self.name, tables.inbox.c.event_id == event_id
                        )
                    )
                ).first()
                if existing is None:
                    await uow.session.execute(
                        insert(tables.inbox).values(
                            consumer=self.name, event_id=event_id, type=event_type, processed_at=clock.now()
                        )
                    )
            await uow.commit()
        self._metrics.dead_lettered.labels(self.name, event_type).inc()
        self._metrics.events_consumed.labels(self.name, event_type, "dead_lettered").inc()
        log.error(
            "consumer: message dead-lettered",
            extra={"consumer": self.name, "topic": record.topic, "offset": record.offset, "error": text},
        )


def _inbox_rows(rows: list[dict]):
    """The INSERT of a batch's inbox rows on PostgreSQL, in one execution (`db.insert_unnested`)."""
    return insert_unnested(tables.inbox, rows, pg_insert)


def _runs_of_one_type(deliveries: list[Delivery]) -> list[list[Delivery]]:
    runs: list[list[Delivery]] = []
    for d in deliveries:
        if runs and runs[-1][0].envelope.type == d.envelope.type:
            runs[-1].append(d)
        else:
            runs.append([d])
    return runs


class _Assignment(ConsumerRebalanceListener):
    """Rebalance listener: marks the consumer ready once partitions are assigned."""

    def __init__(self, owner: Consumer):
        self.owner = owner

    async def on_partitions_revoked(self, revoked):
        self.owner.assigned.clear()
        for tp in revoked:
            self.owner.lag.pop(tp, None)

    async def on_partitions_assigned(self, assigned):
        if assigned:
            self.owner.assigned.set()
