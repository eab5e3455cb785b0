"""The outbox relay on an event loop of its own, in a thread of the service process (PostgreSQL), when
`relay_own_loop` is set (off by default: see its measurements in settings.py).

On the service's loop every await of the relay (a connection, the marks, the next read, the broker's
answer) waits behind the requests ready before it; a request that writes 250 history entries runs for
tens of milliseconds between its awaits, so under a busy API the relay makes a few turns a second and
publishes seconds behind the commits (bench/bus.py --postgres: commit -> published p50 2.5-2.8 s, the
last event 2 s after the last response; 0.3 s each on its own loop). On a loop of its own it waits only
for the interpreter's lock, which a busy thread gives up every few milliseconds, at the price of the
two threads contending for that lock. It has its own small pool: asyncpg connections belong to the
loop that opened them.

Not on SQLite: a second writing connection to the file would queue in SQLite's sleeping busy handler
behind the requests' writes; there the relay reads through a connection of its own (see Runtime).
"""

from __future__ import annotations

import asyncio
import logging
import threading

from mercator.common.bus.lock import relay_lock
from mercator.common.bus.relay import Relay
from mercator.common.db import make_engine, make_sessionmaker
from mercator.common.metrics import Metrics
from mercator.common.settings import ServiceSettings

log = logging.getLogger(__name__)


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop  # what uvicorn runs the service on, where installed
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class RelayInThread:
    """A Relay's interface; each coroutine runs on the relay's loop and is awaited from the caller's."""

    def __init__(self, settings: ServiceSettings, metrics: Metrics, topics: list[str]):
        self.settings = settings
        self._metrics = metrics
        self._topics = topics
        self._relay: Relay | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Lock()

    # --- the thread ----------------------------------------------------------------------------

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._started:
            if self._loop is None:
                ready = threading.Event()
                self._thread = threading.Thread(target=self._main, args=(ready,), name="outbox relay", daemon=True)
                self._thread.start()
                ready.wait()
            assert self._loop is not None
            return self._loop

    def _main(self, ready: threading.Event) -> None:
        loop = _new_loop()
        asyncio.set_event_loop(loop)
        # Its own pool: the advisory lock holds one connection, a turn takes another.
        engine = make_engine(self.settings.database_url, pool_size=2, max_overflow=2)
        sessions = make_sessionmaker(engine)
        self._relay = Relay(self.settings, lambda: sessions(),
                            relay_lock(engine, self.settings.database_url, self.settings.service_name),
                            self._metrics, self._topics)
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(engine.dispose())
            except Exception as exc:  # noqa: BLE001 - the process is stopping
                log.warning("relay: could not close its connections", extra={"error": repr(exc)})
            loop.close()

    async def _call(self, method: str, *args):
        loop = self._start()
        assert self._relay is not None
        future = asyncio.run_coroutine_threadsafe(getattr(self._relay, method)(*args), loop)
        return await asyncio.wrap_future(future)  # cancelling this cancels the relay's task too

    async def close(self) -> None:
        """Ends the thread (after `stop`): its connections are closed."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.get_running_loop().run_in_executor(None, thread.join, 10)

    # --- what the runtime, the HTTP layer and the tests use ----------------------------------------

    def notify(self) -> None:
        loop = self._loop
        if loop is not None and self._relay is not None:
            try:
                loop.call_soon_threadsafe(self._relay.notify)
            except RuntimeError:  # closed: the process is stopping
                pass

    @property
    def is_leader(self) -> bool:
        return self._relay is not None and self._relay.is_leader

    @property
    def broker_ok(self) -> bool:
        return self._relay is not None and self._relay.broker_ok

    async def run(self) -> None:
        await self._call("run")

    async def stop(self) -> None:
        if self._loop is not None:
            await self._call("stop")

    async def drain(self, timeout: float) -> int:
        return await self._call("drain", timeout)

    async def backlog(self) -> int:
        return await self._call("backlog")

    async def update_backlog_metrics(self) -> None:
        await self._call("update_backlog_metrics")

    async def prune(self) -> int:
        return await self._call("prune")

    async def flush_acked(self, republish: bool = True) -> bool:
        return await self._call("flush_acked", republish)

    async def check_broker_reset(self) -> bool:
        return await self._call("check_broker_reset")

    async def publish_batch(self) -> int:
        return await self._call("publish_batch")

