"""aiokafka clients configured the way Mercator needs them on Tansu and on Apache Kafka."""

from __future__ import annotations

import asyncio
import functools
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import DefaultPartitioner

log = logging.getLogger(__name__)


class KeyPartitioner:
    """aiokafka's default (murmur2) partitioner, remembered per key: one aggregate's events keep
    one partition, and the pure-Python hash is not paid again for every event of it."""

    def __init__(self):
        self._cached = functools.lru_cache(maxsize=65_536)(self._pick)

    @staticmethod
    def _pick(key: bytes, partitions: tuple[int, ...]) -> int:
        return DefaultPartitioner()(key, list(partitions), list(partitions))

    def __call__(self, key, all_partitions, available):
        if key is None:
            return DefaultPartitioner()(key, all_partitions, available)
        return self._cached(key, tuple(all_partitions))


def make_producer(bootstrap: str, client_id: str, **overrides) -> AIOKafkaProducer:
    # No idempotent producer and no transactions: Tansu refuses InitProducerId. The outbox
    # and the consumers' inbox give exactly-once effects without them.
    config = dict(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=False,
        linger_ms=2,
        request_timeout_ms=10_000,
        retry_backoff_ms=200,
        metadata_max_age_ms=10_000,
        partitioner=KeyPartitioner(),
    )
    config.update(overrides)
    return AIOKafkaProducer(**config)


async def ensure_topics(bootstrap: str, topics: list[str], partitions: int, client_id: str = "mercator-admin") -> None:
    """Create the topics that do not exist yet (a restarted in-memory broker has none)."""
    if not topics:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in dict.fromkeys(topics) if t not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(name=t, num_partitions=partitions, replication_factor=1) for t in missing])
            except TopicAlreadyExistsError:
                pass
            log.info("created topics", extra={"topics": missing})
    finally:
        await admin.close()


async def wait_for_broker(bootstrap: str, timeout: float = 30.0) -> bool:
    """True once a metadata request succeeds; False after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2_000)
        try:
            await admin.start()
            await admin.list_topics()
            return True
        except (KafkaError, OSError):
            await asyncio.sleep(0.2)
        finally:
            try:
                await admin.close()
            except Exception:
                pass
    return False
