"""The outbox relay in a child process of the service (`relay_process`, on by default for a database file
or server).

On the service's event loop the relay took a third of the process's CPU under a busy API, and the loop is
the one core a Python process can use: the requests and the relay took turns on it. In a thread of its own
the two contended for the interpreter's lock (single POSTs 22 % slower). In a process of its own it runs on
the machine's other core: bench/bus.py, history batches of 250, 4,400 -> 5,800 events a second end to
end, single POSTs 123 -> 176 a second (SQLite, 2 cores).

The service talks to its child over the child's stdin and stdout, a JSON object per line: calls of the
Relay's methods and their answers, a wake-up after each commit that wrote outbox rows (`n`), and from the
child its state (leader, broker reachable) and its metrics, which the service's /metrics shows. What only
reads or prunes the outbox (the backlog, retention) the service does itself, on its own connections.

The child lives no longer than its service: at the end of its stdin (the service stopped, or was killed)
it writes its last marks and exits. It ignores SIGINT and SIGTERM, which reach it with its service's process
group (Ctrl-C in `make run`): its service stops it in order, after the drain.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import gc
import json
import logging
import os
import pickle
import signal
import sys
from collections.abc import Callable

from mercator.common.bus.lock import relay_lock
from mercator.common.bus.relay import Relay
from mercator.common.db import is_sqlite, make_engine, make_sessionmaker
from mercator.common.logs import configure_logging
from mercator.common.metrics import Metrics
from mercator.common.settings import ServiceSettings

log = logging.getLogger(__name__)

# What the service may call in its child; the answers are JSON (ints and booleans).
CALLS = frozenset({"run", "stop", "drain", "flush_acked", "check_broker_reset", "publish_batch"})


class RelayProcessEnded(RuntimeError):
    pass


class RelayInProcess:
    """A Relay's interface for the service; the publishing runs in a child process.

    `local`: a Relay on the service's own connections that never runs, for what only reads or prunes
    the outbox (`backlog`, `update_backlog_metrics`, `prune`)."""

    def __init__(self, settings: ServiceSettings, metrics: Metrics, topics: list[str], local: Relay):
        self.settings = settings
        self._metrics = metrics
        self._topics = topics
        self._local = local
        self._proc: asyncio.subprocess.Process | None = None
        self._reading: asyncio.Task | None = None
        self._pending: dict[int, asyncio.Future] = {}
        self._next_id = 0
        self._starting = asyncio.Lock()
        self._stopping = False
        self._closed = False
        self.is_leader = False
        self.broker_ok = False

    # --- the child -------------------------------------------------------------------------------

    async def _ensure_started(self) -> asyncio.subprocess.Process:
        async with self._starting:
            if self._closed:
                raise RelayProcessEnded("the relay process was closed")
            if self._proc is not None and self._proc.returncode is None:
                return self._proc
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "mercator.common.bus.relay_process",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=1 << 20,
            )  # stderr: the service's, so the child's logs go where the service's go
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(base64.b64encode(pickle.dumps((self.settings, self._topics))) + b"\n")
            self._proc = proc
            self._reading = asyncio.create_task(self._read(proc), name="relay process answers")
            return proc

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        try:
            while line := await proc.stdout.readline():
                try:
                    self._received(json.loads(line))
                except Exception as exc:
                    log.warning("relay process: unreadable line", extra={"error": repr(exc)})
        finally:
            await proc.wait()
            self.is_leader = self.broker_ok = False
            ended = RelayProcessEnded(f"the relay process ended with {proc.returncode}")
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ended)
            self._pending.clear()

    def _received(self, message: dict) -> None:
        if "id" in message:
            future = self._pending.pop(message["id"], None)
            if future is not None and not future.done():
                if "error" in message:
                    future.set_exception(RuntimeError(f"relay process: {message['error']}"))
                else:
                    future.set_result(message.get("result"))
        elif "state" in message:
            self.is_leader, self.broker_ok = message["state"]
        elif "published" in message:
            for event_type, count in message["published"].items():
                self._metrics.events_published.labels(event_type).inc(count)
        elif "backlog" in message:
            self._metrics.outbox_backlog.set(message["backlog"])
            self._metrics.outbox_oldest_age.set(message["oldest_age"])
        elif "reset" in message:
            self._metrics.broker_resets.inc()

    def _send(self, message: bytes) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None or proc.stdin is None or proc.stdin.is_closing():
            raise RelayProcessEnded("the relay process is not running")
        proc.stdin.write(message)

    async def _call(self, method: str, *args):
        await self._ensure_started()
        self._next_id += 1
        call_id = self._next_id
        future = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        self._send(json.dumps({"id": call_id, "call": method, "args": list(args)}).encode() + b"\n")
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            self._pending.pop(call_id, None)
            with contextlib.suppress(RelayProcessEnded):
                self._send(json.dumps({"cancel": call_id}).encode() + b"\n")
            raise

    async def close(self) -> None:
        """Ends the child (after `stop`): the end of its stdin, then a kill if it lingers."""
        self._stopping = self._closed = True
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), timeout=15)
        except TimeoutError:
            log.warning("relay process: did not end after its stdin closed; killed")
            proc.kill()
            await proc.wait()
        if self._reading is not None:
            await asyncio.gather(self._reading, return_exceptions=True)

    # --- what the runtime, the HTTP layer and the tests use ----------------------------------------

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    def notify(self) -> None:
        # Starting, restarting or stopping: it reads the outbox when it runs.
        with contextlib.suppress(RelayProcessEnded):
            self._send(b"n\n")

    async def run(self) -> None:
        """Runs the relay in its child until `stop`; starts the child again if it dies."""
        backoff = 0.5
        while not self._stopping:
            try:
                await self._call("run")
                return  # the child's relay ran until stopped
            except RelayProcessEnded as exc:
                if self._stopping:
                    return
                log.warning("relay process: %s; starting it again in %.1fs", exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def stop(self) -> None:
        self._stopping = True
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(RelayProcessEnded):
                await self._call("stop")

    async def drain(self, timeout: float) -> int:
        try:
            await self._call("drain", timeout)
        except RelayProcessEnded as exc:
            log.warning("relay process: could not drain", extra={"error": repr(exc)})
        return await self.backlog()

    async def flush_acked(self, republish: bool = True) -> bool:
        return await self._call("flush_acked", republish)

    async def check_broker_reset(self) -> bool:
        return await self._call("check_broker_reset")

    async def publish_batch(self) -> int:
        return await self._call("publish_batch")

    async def backlog(self) -> int:
        return await self._local.backlog()

    async def update_backlog_metrics(self) -> None:
        await self._local.update_backlog_metrics()

    async def prune(self) -> int:
        return await self._local.prune()


# --- in the child ------------------------------------------------------------------------------------


class _Counter:
    def __init__(self, send: Callable[[dict], None], message: Callable[[float], dict] | None = None):
        self._send, self._message = send, message

    def labels(self, event_type: str) -> _Counter:  # events_published
        return _Counter(self._send, lambda amount: {"published": {event_type: amount}})

    def inc(self, amount: float = 1) -> None:
        assert self._message is not None
        self._send(self._message(amount))


class _Gauge:
    def __init__(self, set_: Callable[[float], None]):
        self.set = set_


class ForwardedMetrics:
    """The four metrics the relay records, sent to the service to count in its registry."""

    def __init__(self, send: Callable[[dict], None]):
        self._send = send
        self._backlog = 0.0
        self.events_published = _Counter(send)
        self.broker_resets = _Counter(send, lambda amount: {"reset": amount})
        # update_backlog_metrics sets the count, then the age: one message for both
        self.outbox_backlog = _Gauge(self._count)
        self.outbox_oldest_age = _Gauge(self._age)

    def _count(self, value: float) -> None:
        self._backlog = value

    def _age(self, value: float) -> None:
        self._send({"backlog": self._backlog, "oldest_age": value})


class _StateSent(Relay):
    """Sends the service its state (leader, broker reachable) the moment it changes."""

    send_state: Callable[[], None] | None = None

    def __setattr__(self, name: str, value) -> None:
        changed = name in ("is_leader", "broker_ok") and getattr(self, name, None) != value
        super().__setattr__(name, value)
        if changed and self.send_state is not None:
            self.send_state()


async def _child() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    settings, topics = pickle.loads(base64.b64decode(await reader.readline()))

    configure_logging(settings.service_name, settings.log_level, settings.json_logs)

    # The answers go out on a copy of stdout; fd 1 becomes stderr, so a stray print cannot garble them.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def send(message: dict) -> None:
        out.write(json.dumps(message).encode() + b"\n")
        out.flush()

    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    # On SQLite the relay reads through a connection that takes no lock, as in the service (Runtime).
    reader_engine = make_engine(settings.database_url, reader=True) if is_sqlite(settings.database_url) else None
    reads = make_sessionmaker(reader_engine) if reader_engine is not None else None
    relay = _StateSent(
        settings,
        lambda: sessions(),
        relay_lock(engine, settings.database_url, settings.service_name),
        ForwardedMetrics(send),
        topics,
        reader=(lambda: reads()) if reads is not None else None,
    )
    relay.send_state = lambda: send({"state": [relay.is_leader, relay.broker_ok]})
    relay.send_state()
    calls: dict[int, asyncio.Task] = {}

    def answered(call_id: int, task: asyncio.Task) -> None:
        calls.pop(call_id, None)
        if task.cancelled():
            send({"id": call_id, "error": "cancelled"})
        elif task.exception() is not None:
            send({"id": call_id, "error": repr(task.exception())})
        else:
            send({"id": call_id, "result": task.result()})

    gc.freeze()  # as the service does (cli.py): what the imports made lives as long as the process
    gc.set_threshold(10_000, 10, 10)
    try:
        while line := await reader.readline():
            if line == b"n\n":
                relay.notify()
                continue
            message = json.loads(line)
            if "cancel" in message:
                task = calls.get(message["cancel"])
                if task is not None:
                    task.cancel()
                continue
            if message.get("call") not in CALLS:
                send({"id": message.get("id"), "error": f"no such call: {message.get('call')!r}"})
                continue
            task = asyncio.create_task(getattr(relay, message["call"])(*message["args"]))
            calls[message["id"]] = task
            task.add_done_callback(functools.partial(answered, message["id"]))
    finally:
        # The service is gone or done with it: what the broker took is marked, the lock let go.
        for task in calls.values():
            task.cancel()
        await asyncio.gather(*calls.values(), return_exceptions=True)
        try:
            await asyncio.wait_for(relay.stop(), timeout=10)
        except Exception as exc:
            log.warning("relay process: could not stop cleanly", extra={"error": repr(exc)})
        await engine.dispose()
        if reader_engine is not None:
            await reader_engine.dispose()


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        import uvloop
    except ImportError:
        asyncio.run(_child())
    else:
        uvloop.run(_child())


if __name__ == "__main__":
    main()
