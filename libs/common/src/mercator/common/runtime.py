"""Everything one service process runs besides its routes: database, relay, consumers, housekeeping."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, text

from mercator.common.bus import tables
from mercator.common.bus.consumer import Consumer, Handler
from mercator.common.bus.kafka import wait_for_broker
from mercator.common.bus.lock import relay_lock
from mercator.common.bus.relay import Relay
from mercator.common.bus.relay_process import RelayInProcess
from mercator.common.db import in_memory, is_sqlite, make_engine, make_sessionmaker
from mercator.common.events.catalogue import types_owned_by
from mercator.common.metrics import Metrics
from mercator.common.settings import ServiceSettings
from mercator.common.uow import UnitOfWork

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: ServiceSettings, consumers: dict[str, dict[str, Handler]] | None = None):
        self.settings = settings
        self.metrics = Metrics(settings.service_name)
        self.engine = make_engine(settings.database_url)
        self.sessionmaker = make_sessionmaker(self.engine)
        self._own_sessionmaker = self.sessionmaker
        # On a SQLite file the relay reads the outbox through a connection of its own that takes no
        # lock: reading thousands of rows through the one writing connection held every request up
        # behind it. No second connection on PostgreSQL: replicas x pools must fit max_connections.
        shared = not in_memory(settings.database_url)  # other processes can open it: a file or a server
        self._reader_engine = (
            make_engine(settings.database_url, reader=True) if is_sqlite(settings.database_url) and shared else None
        )
        self._reader = make_sessionmaker(self._reader_engine) if self._reader_engine is not None else None
        published = types_owned_by(settings.service_name)
        self.metrics.publisher(published)
        topics = [f"{settings.topic_prefix}{t}" for t in published]
        local = Relay(
            settings,
            lambda: self.sessionmaker(),
            relay_lock(self.engine, settings.database_url, settings.service_name),
            self.metrics,
            topics,
            reader=self._outbox_reader if self._reader is not None else None,
        )
        self.relay: Relay | RelayInProcess = local
        if settings.relay_process and settings.relay_enabled and shared:
            # In a child process (bus/relay_process.py); this one answers the backlog and prunes.
            self.relay = child = RelayInProcess(settings, self.metrics, topics, local)
            self.metrics.processes.watch("relay", lambda: child.pid)  # its memory and CPU on this /metrics
        self.consumers = [
            Consumer(
                f"{settings.topic_prefix}{settings.service_name}.{name}", handlers, settings, self.uow, self.metrics
            )
            for name, handlers in (consumers or {}).items()
        ]
        self.quiesced = False
        # Periodic jobs of the service (coroutine factories), run beside the relay and consumers.
        self.background: list = []
        self._tasks: list[asyncio.Task] = []
        self._jobs: list[asyncio.Task] = []
        self._broker_checked_at = 0.0
        self._broker_up = False

    def _outbox_reader(self):
        # A test that swapped the sessionmaker (one outer transaction) reads through it, as before.
        if self._reader is not None and self.sessionmaker is self._own_sessionmaker:
            return self._reader()
        return self.sessionmaker()

    async def _dispose(self) -> None:
        if isinstance(self.relay, RelayInProcess):
            await self.relay.close()
        await self.engine.dispose()
        if self._reader_engine is not None:
            await self._reader_engine.dispose()

    def uow(self) -> UnitOfWork:
        return UnitOfWork(
            self.sessionmaker,
            source=f"/mercator/{self.settings.service_name}",
            topic_prefix=self.settings.topic_prefix,
            on_commit=self.relay.notify,
        )

    async def start(self) -> None:
        if self.settings.relay_enabled:
            self._tasks.append(asyncio.create_task(self.relay.run(), name="relay"))
        if self.settings.consumers_enabled:
            for c in self.consumers:
                self._tasks.append(asyncio.create_task(c.run(), name=f"consumer {c.name}"))
        # Jobs only sleep between runs: they are cancelled at stop, not waited for.
        self._jobs = [asyncio.create_task(self._housekeeping(), name="housekeeping")]
        self._jobs += [asyncio.create_task(job(), name="job") for job in self.background]

    async def stop(self, drain_timeout: float = 10.0) -> None:
        """Stop in order: no new writes, publish what is committed, then stop consuming."""
        self.quiesced = True
        for job in self._jobs:
            job.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)
        self._jobs.clear()
        if not self._tasks:
            await self._dispose()
            return
        if self.settings.relay_enabled:
            left = await self.relay.drain(drain_timeout)
            if left:
                log.warning(
                    "stopping with unpublished outbox rows; they go out at the next start", extra={"rows": left}
                )
        for c in self.consumers:
            await c.stop()
        await self.relay.stop()
        # Let the loops see the stop flag and close their clients; cancel what lingers.
        await asyncio.wait(self._tasks, timeout=5)
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self._dispose()

    async def database_ok(self) -> bool:
        try:
            async with self.sessionmaker() as s:
                await asyncio.wait_for(s.execute(text("SELECT 1")), timeout=2)
            return True
        except Exception:
            return False

    async def broker_ok(self) -> bool:
        loop = asyncio.get_running_loop()
        if loop.time() - self._broker_checked_at > 2.0:
            self._broker_up = await wait_for_broker(self.settings.kafka_bootstrap, timeout=1.0)
            self._broker_checked_at = loop.time()
        return self._broker_up

    def liveness(self) -> dict[str, float]:
        """Seconds since each running consumer's loop last came round, for those past the limit."""
        if not (self._tasks and self.settings.consumers_enabled):
            return {}
        limit = self.settings.liveness_poll_stale_seconds
        return {c.name: round(c.since_last_poll(), 1) for c in self.consumers if c.since_last_poll() > limit}

    async def status(self) -> dict:
        return {
            "service": self.settings.service_name,
            "quiesced": self.quiesced,
            "outbox_backlog": await self.relay.backlog(),
            "relay": {"leader": self.relay.is_leader, "broker_ok": self.relay.broker_ok},
            "consumers": {
                c.name: {
                    "assigned": c.assigned.is_set(),
                    "lag": c.total_lag(),
                    "since_last_poll_seconds": round(c.since_last_poll(), 1),
                }
                for c in self.consumers
            },
        }

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(600)
            try:
                await self.prune()
            except Exception as exc:
                log.warning("housekeeping failed", extra={"error": repr(exc)})

    async def prune(self) -> None:
        """Forget what is past its retention window: published outbox rows, inbox ids, idempotency keys."""
        now = datetime.now(UTC)
        await self.relay.prune()
        async with self.sessionmaker() as s:
            await s.execute(
                delete(tables.inbox).where(
                    tables.inbox.c.processed_at < now - timedelta(hours=self.settings.inbox_retention_hours)
                )
            )
            await s.execute(
                delete(tables.idempotency).where(
                    tables.idempotency.c.created_at < now - timedelta(hours=self.settings.idempotency_retention_hours)
                )
            )
            await s.commit()
