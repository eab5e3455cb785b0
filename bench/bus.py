"""Bus benchmark: raw aiokafka vs. API write -> outbox -> Kafka -> projection, on one Tansu broker.

    .venv/bin/python bench/bus.py [--n 2000] [--raw-n 20000] [--concurrency 32] [--postgres]

Both measurements run in the same process, against the same freshly started Tansu broker
(in memory, a free loopback port):

1. raw: N messages shaped like a real ActivityLogged event (a real envelope's headers and
   body) produced with aiokafka (acks=all, no idempotence: Mercator's producer settings),
   then read by a consumer group from the earliest offset. The group joins before the clock
   starts (its partitions paused while producing), so the join time is not in the figure.
2. end to end: the contacts service as a real process (`python -m mercator.contacts serve`,
   SQLite in a temp dir, or PostgreSQL with --postgres), N `POST /companies/{id}/history`
   sent by C concurrent workers, and a consumer projection (`testing.bus.projector`) in this
   process. The clock starts once the projection's consumer is assigned and a warm-up is
   projected; it stops when the projection holds all N rows.

Everything it starts (broker, service, databases, temp dir) is removed at the end, also on
Ctrl-C, SIGTERM or an error. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvloop
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from sqlalchemy import func, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from mercator.common.auth import Caller, mint_token
from mercator.common.bus import tables
from mercator.common.bus.consumer import Delivery
from mercator.common.bus.kafka import ensure_topics, make_producer
from mercator.common.db import make_engine
from mercator.common.events import catalogue as ev
from mercator.common.events.envelope import Envelope
from mercator.common.settings import ServiceSettings
from mercator.common.testing.broker import TansuBroker, free_port
from mercator.common.testing.bus import (
    applied,
    count_batch,
    create_bus_database,
    projector,
    until,
)

try:
    import sniffio  # noqa: F401
except ImportError:
    # httpcore tries `import sniffio` for every lock and event it makes; without the package
    # each try searches sys.path again (an eighth of the load generator's CPU in a profile).
    # None in sys.modules makes the same ImportError immediate.
    sys.modules["sniffio"] = None

HOST = "127.0.0.1"
PG_ADMIN = f"postgresql://postgres@{HOST}:5432/postgres"
TARGET_RATIO = 0.3
SUMMARY = "Called the buyer about the Q3 order; they want a quote for 40 units by Friday."
TOKEN_SECRET = secrets.token_hex(32)  # the run's own: no service starts with a published key
CALLER = Caller(uuid.UUID("00000000-0000-4000-8000-0000000000be"), "Bench Manager", frozenset({"manager"}))


def say(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


# --- what the bench starts, and removes whatever happens -----------------------------------------


@dataclass
class Started:
    tmp: Path | None = None
    broker: TansuBroker | None = None
    service: subprocess.Popen | None = None
    pg_databases: list[str] = field(default_factory=list)

    def diagnose(self) -> None:
        """After a failure: what became of the processes, and the ends of their logs."""
        for name, proc in (("broker", self.broker and self.broker.proc), ("contacts", self.service)):
            if proc is not None and proc.poll() is not None:
                say(f"{name} (pid {proc.pid}) exited with {proc.returncode}")
        for log in ("broker.log", "contacts.log"):
            path = self.tmp / log if self.tmp else None
            if path is not None and path.exists():
                tail = path.read_text(errors="replace")[-2000:].strip()
                if tail:
                    say(f"end of {log}:\n{tail}")

    def stop_service(self) -> None:
        """Each run's service goes when the run ends: the next run is not measured beside it, and
        none is left behind (the first run's process used to outlive the bench)."""
        if self.service is not None and self.service.poll() is None:
            try:
                os.killpg(self.service.pid, signal.SIGTERM)
                self.service.wait(20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.service.pid, signal.SIGKILL)
                    self.service.wait(5)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
        self.service = None

    def cleanup(self) -> None:
        self.stop_service()
        if self.broker is not None:
            self.broker.kill()
            self.broker = None
        if self.pg_databases:
            try:
                asyncio.run(drop_databases(self.pg_databases))
            except Exception as exc:
                say(f"could not drop {self.pg_databases}: {exc!r}")
            self.pg_databases = []
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


async def pg_available() -> bool:
    import asyncpg

    try:
        conn = await asyncio.wait_for(asyncpg.connect(PG_ADMIN), timeout=5)
    except Exception:
        return False
    await conn.close()
    return True


async def create_database(started: Started, role: str) -> str:
    import asyncpg

    name = f"mercator_bench_{role}_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    started.pg_databases.append(name)
    return f"postgresql+asyncpg://postgres@{HOST}:5432/{name}"


async def drop_databases(names: list[str]) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# --- CPU accounting from /proc (no psutil here) ----------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | None) -> float:
    try:
        fields = Path(f"/proc/{pid or 'self'}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime, all threads
    except (OSError, IndexError, ValueError):
        return float("nan")


def child_pid(pid: int) -> int | None:
    """The first child of `pid` (the service's relay process), if it has one."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                return int(stat.parent.name)
        except (OSError, IndexError, ValueError):
            continue
    return None


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine (all cores), from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return (sum(fields[:8]) - fields[3] - fields[4]) / TICK  # all but idle and iowait
    except (OSError, ValueError, IndexError):
        return float("nan")


def cpu_snapshot(pids: dict[str, int | None]) -> dict[str, float]:
    snap = {name: cpu_seconds(pid) for name, pid in pids.items()}
    snap["machine"] = machine_cpu_seconds()
    return snap


# --- 1. raw aiokafka ---------------------------------------------------------------------------------


def sample_message() -> tuple[list[tuple[str, bytes]], bytes]:
    """Headers and body of an ActivityLogged exactly as the contacts service's outbox writes them."""
    activity_id = uuid.uuid4()
    payload = ev.ActivityLogged(
        activity_id=activity_id,
        company_id=uuid.uuid4(),
        kind="call",
        direction="outbound",
        subject=None,
        summary=SUMMARY,
        happened_at=datetime.now(UTC),
        author_id=CALLER.user_id,
    )
    envelope = Envelope(
        type=payload.type_name(),
        source="/mercator/contacts",
        subject=str(activity_id),
        sequence=1,
        data=payload.model_dump(mode="json"),
        correlation_id=str(uuid.uuid4()),
        actor=str(CALLER.user_id),
    )
    return envelope.headers(), envelope.body()


class _Assigned(ConsumerRebalanceListener):
    def __init__(self):
        self.event = asyncio.Event()

    async def on_partitions_revoked(self, revoked):
        self.event.clear()

    async def on_partitions_assigned(self, assigned):
        if assigned:
            self.event.set()


async def bench_raw(bootstrap: str, prefix: str, n: int, partitions: int) -> dict:
    topic = f"{prefix}raw.ActivityLogged"
    await ensure_topics(bootstrap, [topic], partitions)
    headers, body = sample_message()
    keys = [str(uuid.uuid4()).encode() for _ in range(n)]  # the key is the aggregate (activity) id

    listener = _Assigned()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"{prefix}bench-raw",
        client_id="bench-raw",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=ServiceSettings().consumer_fetch_max_wait_ms,
    )
    consumer.subscribe([topic], listener=listener)
    producer = make_producer(bootstrap, "bench-raw")  # acks=all, enable_idempotence=False, linger 2 ms
    await consumer.start()
    await producer.start()
    try:
        joined = time.perf_counter()
        while not listener.event.is_set():
            await consumer.getmany(timeout_ms=100)
        join_s = time.perf_counter() - joined
        assignment = list(consumer.assignment())
        consumer.pause(*assignment)  # joined, but nothing fetched until production is done

        t0 = time.perf_counter()
        futures = [await producer.send(topic, value=body, key=k, headers=headers) for k in keys]
        await asyncio.gather(*futures)
        t_produced = time.perf_counter()

        consumer.resume(*assignment)
        got = 0
        while got < n:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                got += len(records)
            if batches:
                await consumer.commit()
            if time.perf_counter() - t_produced > 120:
                raise RuntimeError(f"raw: only {got} of {n} messages read within 120 s")
        t_read = time.perf_counter()
    finally:
        await producer.stop()
        await consumer.stop()
    size = len(body) + sum(len(k) + len(v) for k, v in headers) + 36
    return {
        "n": n,
        "bytes": size,
        "join_s": join_s,
        "produce_s": t_produced - t0,
        "consume_s": t_read - t_produced,
        "total_s": t_read - t0,
        "rate": n / (t_read - t0),
        "produce_rate": n / (t_produced - t0),
        "consume_rate": n / (t_read - t_produced),
    }


# --- 2. end to end -------------------------------------------------------------------------------------


async def count_it_sqlite(uow, delivery: Delivery) -> None:
    """count_it for a SQLite projection database (count_it's upsert is PostgreSQL's)."""
    stmt = sqlite_insert(applied).values(event_id=delivery.envelope.id, subject=delivery.envelope.subject, n=1)
    await uow.session.execute(stmt.on_conflict_do_update(index_elements=["event_id"], set_={"n": applied.c.n + 1}))


def start_service(
    started: Started, database_url: str, port: int, bootstrap: str, prefix: str, extra_env: dict[str, str]
) -> subprocess.Popen:
    p = "MERCATOR_CONTACTS_"
    settings = {
        "DATABASE_URL": database_url,
        "HTTP_HOST": HOST,
        "HTTP_PORT": str(port),
        "KAFKA_BOOTSTRAP": bootstrap,
        "TOPIC_PREFIX": prefix,
        "TOKEN_SECRET": TOKEN_SECRET,
        "JSON_LOGS": "false",
        "LOG_LEVEL": "WARNING",
    }
    settings.update({k.upper(): v for k, v in extra_env.items()})  # --service-env wins
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **{p + k: v for k, v in settings.items()}}
    log = open(started.tmp / "contacts.log", "ab")
    try:
        started.service = subprocess.Popen(
            [sys.executable, "-m", "mercator.contacts", "serve"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()
    return started.service


async def wait_healthy(proc: subprocess.Popen, base: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=1) as http:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"contacts exited with {proc.returncode} while starting:\n{log.read_text()[-3000:]}")
            try:
                if (await http.get(f"{base}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"contacts did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")
            await asyncio.sleep(0.1)


async def post_many(
    clients: list[httpx.AsyncClient], path: str, n: int, tag: str, batch: int = 0, company_id: str = ""
) -> tuple[list[float], float]:
    """n history entries by one worker per client, one per POST or `batch` per POST to
    /history/batch; returns the request latencies and the last response time."""
    latencies: list[float] = []
    starts = range(0, n, batch) if batch else range(n)
    left = iter(starts)
    last = 0.0

    def body(i: int) -> dict:
        if not batch:
            return {"kind": "call", "summary": f"{SUMMARY} [{tag} {i}]"}
        return {
            "entries": [
                {"company_id": company_id, "kind": "call", "summary": f"{SUMMARY} [{tag} {j}]"}
                for j in range(i, min(i + batch, n))
            ]
        }

    async def worker(http: httpx.AsyncClient):
        nonlocal last
        for i in left:
            started = time.perf_counter()
            r = await http.post(path, json=body(i))
            done = time.perf_counter()
            if r.status_code != 201:
                raise RuntimeError(f"POST {path} answered {r.status_code}: {r.text[:500]}")
            latencies.append(done - started)
            last = max(last, done)

    await asyncio.gather(*(worker(http) for http in clients[: len(starts)]))
    return latencies, last


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def epoch(dt: datetime | None) -> float | None:
    return None if dt is None else dt.timestamp()


async def stage_times(service_url: str, proj_runtime, since: float) -> dict:
    """Per event: committed (outbox created_at) -> published (published_at) -> projected (inbox processed_at)."""
    engine = make_engine(service_url)
    try:
        async with engine.connect() as c:
            rows = (
                await c.execute(
                    select(tables.outbox.c.event_id, tables.outbox.c.created_at, tables.outbox.c.published_at).where(
                        tables.outbox.c.type == "ActivityLogged"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    async with proj_runtime.sessionmaker() as s:
        projected = dict((await s.execute(select(tables.inbox.c.event_id, tables.inbox.c.processed_at))).all())
    relay, consume, published_last, committed_last = [], [], 0.0, 0.0
    for event_id, created, published in rows:
        c, p, q = epoch(created), epoch(published), epoch(projected.get(event_id))
        if c is None or c < since:
            continue
        committed_last = max(committed_last, c)
        if p is not None:
            relay.append(p - c)
            published_last = max(published_last, p)
            if q is not None:
                consume.append(q - p)
    return {"relay": relay, "consume": consume, "published_last": published_last, "committed_last": committed_last}


async def bench_e2e(
    started: Started,
    bootstrap: str,
    prefix: str,
    n: int,
    workers: int,
    warmup: int,
    service_pg: bool,
    projection_pg: bool,
    extra_env: dict[str, str],
    batch: int = 0,
) -> dict:
    service_url = (
        await create_database(started, "contacts")
        if service_pg
        else f"sqlite+aiosqlite:///{started.tmp / 'contacts.db'}"
    )
    port = free_port()
    base = f"http://{HOST}:{port}"
    proc = start_service(started, service_url, port, bootstrap, prefix, extra_env)
    await wait_healthy(proc, base, started.tmp / "contacts.log")

    proj_url = (
        await create_database(started, "projection")
        if projection_pg
        else f"sqlite+aiosqlite:///{started.tmp / 'projection.db'}"
    )
    await create_bus_database(proj_url)
    # A set-based projection on PostgreSQL (one upsert per batch of messages), as real read models are written.
    runtime = projector(proj_url, bootstrap, prefix, handler=count_batch if projection_pg else count_it_sqlite)
    runtime.settings.relay_enabled = False  # it owns no topics: its relay would only poll an empty outbox
    await runtime.start()
    try:
        t_join = time.perf_counter()
        consumer = runtime.consumers[0]
        await asyncio.wait_for(consumer.assigned.wait(), timeout=90)
        join_s = time.perf_counter() - t_join

        async def projected() -> int:
            async with runtime.sessionmaker() as s:
                return (await s.execute(select(func.count()).select_from(applied))).scalar_one()

        token = mint_token(ServiceSettings(token_secret=TOKEN_SECRET), CALLER)
        # One client (one keep-alive connection) per worker: httpcore's pool matches every queued
        # request against every connection, which costs the load generator more CPU than it saves.
        async with contextlib.AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(
                    httpx.AsyncClient(
                        base_url=base,
                        headers={"Authorization": f"Bearer {token}"},
                        timeout=60,
                        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                    )
                )
                for _ in range(workers)
            ]
            http = clients[0]
            r = await http.post("/api/v1/companies", json={"name": f"Bench client {prefix}"})
            if r.status_code != 201:
                raise RuntimeError(f"POST /companies answered {r.status_code}: {r.text[:500]}")
            company_id = r.json()["id"]
            path = "/api/v1/history/batch" if batch else f"/api/v1/companies/{company_id}/history"

            # Warm up the service (imports, pools, prepared paths) and the pipeline, outside the clock.
            await post_many(clients, path, warmup, "warm-up", batch, company_id)
            if not await until(lambda: _at_least(projected, warmup), timeout=60, every=0.05):
                raise RuntimeError(f"warm-up: the projection holds {await projected()} of {warmup} rows after 60 s")

            pids = {"contacts service": proc.pid}
            if (relay := child_pid(proc.pid)) is not None:  # relay_process (the default)
                pids["its relay process"] = relay
            pids |= {"tansu broker": started.broker.proc.pid, "bench (client+projection)": None}
            cpu0, wall0 = cpu_snapshot(pids), time.time()
            t0 = time.perf_counter()
            latencies, t_api = await post_many(clients, path, n, "timed", batch, company_id)
            cpu_api = cpu_snapshot(pids)
            if not await until(lambda: _at_least(projected, warmup + n), timeout=300, every=0.01):
                raise RuntimeError(f"the projection holds {await projected()} of {warmup + n} rows after 300 s")
            t_end = time.perf_counter()
            cpu1 = cpu_snapshot(pids)
        stages = await stage_times(service_url, runtime, wall0)
        duplicates = await _duplicates(runtime)
    finally:
        await runtime.stop()
        started.stop_service()
    return {
        "n": n,
        "workers": workers,
        "warmup": warmup,
        "join_s": join_s,
        "batch": batch,
        "service_db": "PostgreSQL" if service_pg else "SQLite",
        "projection_db": "PostgreSQL" if projection_pg else "SQLite",
        "total_s": t_end - t0,
        "api_s": t_api - t0,
        "lag_s": t_end - t_api,
        "rate": n / (t_end - t0),
        "api_rate": len(latencies) / (t_api - t0),
        "lat_p50": pct(latencies, 50),
        "lat_p99": pct(latencies, 99),
        "published_last_s": stages["published_last"] - wall0 if stages["published_last"] else float("nan"),
        "committed_last_s": stages["committed_last"] - wall0 if stages["committed_last"] else float("nan"),
        "relay_p50": pct(stages["relay"], 50),
        "relay_p99": pct(stages["relay"], 99),
        "consume_p50": pct(stages["consume"], 50),
        "consume_p99": pct(stages["consume"], 99),
        "cpu_api": _cpu_used(cpu0, cpu_api),
        "cpu_all": _cpu_used(cpu0, cpu1),
        "duplicates": duplicates,
    }


def _cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    used = {k: after[k] - before[k] for k in before if k != "machine"}
    used["all else (PostgreSQL, others)"] = max(0.0, after["machine"] - before["machine"] - sum(used.values()))
    return used


async def _at_least(count, n: int) -> bool:
    return await count() >= n


async def _duplicates(runtime) -> int:
    async with runtime.sessionmaker() as s:
        return (await s.execute(select(func.count()).select_from(applied).where(applied.c.n > 1))).scalar_one()


# --- report ----------------------------------------------------------------------------------------


def report(raw: dict, runs: list[dict]) -> None:
    cores = os.cpu_count()
    w = 44
    lines = [
        "",
        f"Mercator bus benchmark — Tansu on {HOST}, {cores} cores, Python {sys.version.split()[0]}, "
        f"bench loop {type(asyncio.get_running_loop()).__module__.split('.')[0]}, "
        f"load average before the run {raw['load_before']:.2f}",
        "-" * 78,
        f"{'raw aiokafka, produce then consume':<{w}} {raw['rate']:>10,.0f} msg/s   "
        f"(N={raw['n']:,}, {raw['bytes']} B/msg)",
        f"{'  produce only (acks=all)':<{w}} {raw['produce_rate']:>10,.0f} msg/s   ({raw['produce_s']:.2f} s)",
        f"{'  consume only (group, from earliest)':<{w}} {raw['consume_rate']:>10,.0f} msg/s   "
        f"({raw['consume_s']:.2f} s)",
    ]
    for e2e in runs:
        how = f"{e2e['batch']} entries per POST" if e2e["batch"] else "one entry per POST"
        lines += [
            "",
            f"{'end to end, API -> outbox -> Kafka -> proj.':<{w}} {e2e['rate']:>10,.0f} ev/s    "
            f"(N={e2e['n']:,}, {how}, C={e2e['workers']}, {e2e['total_s']:.2f} s)",
            f"{'  API only (until last HTTP response)':<{w}} {e2e['api_rate']:>10,.0f} req/s   "
            f"({e2e['api_s']:.2f} s; latency p50 {e2e['lat_p50'] * 1000:.0f} ms, p99 {e2e['lat_p99'] * 1000:.0f} ms)",
            f"{'  lag, last response -> last projected':<{w}} {e2e['lag_s'] * 1000:>10,.0f} ms",
            f"{'  commit -> published (relay) p50 / p99':<{w}} {e2e['relay_p50'] * 1000:>10,.0f} ms / "
            f"{e2e['relay_p99'] * 1000:.0f} ms",
            f"{'  published -> projected (consumer) p50 / p99':<{w}} {e2e['consume_p50'] * 1000:>10,.0f} ms / "
            f"{e2e['consume_p99'] * 1000:.0f} ms",
            f"{'  databases (service / projection)':<{w}} {e2e['service_db']:>10} / {e2e['projection_db']}",
            "  CPU during the timed run (s, and % of one core over the whole e2e window):",
        ]
        for name, used in e2e["cpu_all"].items():
            lines.append(
                f"    {name:<28} {used:6.2f} s  {100 * used / e2e['total_s']:5.0f} %"
                f"   (API phase: {e2e['cpu_api'][name]:.2f} s, "
                f"{100 * e2e['cpu_api'][name] / e2e['api_s']:.0f} %)"
            )
        ratio = e2e["rate"] / raw["rate"]
        lines.append(
            f"{'  ratio end to end / raw':<{w}} {ratio:>10.3f}      target >= {TARGET_RATIO}: "
            f"{'MET' if ratio >= TARGET_RATIO else 'NOT MET'}   (events applied twice: {e2e['duplicates']})"
        )
    lines += ["-" * 78, f"(group joins are outside the clocks; warm-up {runs[0]['warmup']} requests per run)"]
    print("\n".join(lines), flush=True)


# --- main -----------------------------------------------------------------------------------------


async def run(args, started: Started) -> None:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # also when started with SIGINT ignored (`cmd &`)
        loop.add_signal_handler(sig, task.cancel)
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    have_pg = await pg_available()
    if args.postgres and not have_pg:
        raise SystemExit(f"--postgres: no PostgreSQL at {PG_ADMIN}")
    if not have_pg:
        say(f"no PostgreSQL at {PG_ADMIN}: the projection uses SQLite")

    load_before = os.getloadavg()[0]
    started.broker = TansuBroker(log_path=started.tmp / "broker.log").start()
    say(f"Tansu broker on {started.broker.bootstrap}")
    partitions = ServiceSettings().topic_partitions

    say(f"raw: {args.raw_n:,} messages ...")
    raw = await bench_raw(started.broker.bootstrap, prefix, args.raw_n, partitions)
    raw["load_before"] = load_before
    say(f"raw: {raw['rate']:,.0f} msg/s")

    extra_env = dict(kv.split("=", 1) for kv in args.service_env)
    say(f"end to end: {args.n:,} history POSTs with {args.concurrency} workers ...")
    runs = [
        await bench_e2e(
            started,
            started.broker.bootstrap,
            prefix + "one.",
            args.n,
            args.concurrency,
            args.warmup,
            service_pg=args.postgres,
            projection_pg=have_pg,
            extra_env=extra_env,
        )
    ]
    if args.batch:
        say(f"end to end: {args.batch_n:,} history entries, {args.batch} per POST ...")
        runs.append(
            await bench_e2e(
                started,
                started.broker.bootstrap,
                prefix + "batch.",
                args.batch_n,
                args.concurrency,
                args.warmup,
                service_pg=args.postgres,
                projection_pg=have_pg,
                extra_env=extra_env,
                batch=args.batch,
            )
        )
    report(raw, runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Raw aiokafka vs. Mercator end-to-end throughput on one Tansu broker.")
    parser.add_argument("--n", type=int, default=2000, help="history POSTs timed end to end (default 2000)")
    parser.add_argument("--raw-n", type=int, default=20000, help="messages for the raw measurement (default 20000)")
    parser.add_argument("--concurrency", "-c", type=int, default=32, help="concurrent HTTP workers (default 32)")
    parser.add_argument("--warmup", type=int, default=100, help="untimed POSTs before the clock (default 100)")
    parser.add_argument(
        "--batch",
        type=int,
        default=250,
        help="entries per POST /history/batch for the second end-to-end run; 0 skips it (default 250)",
    )
    parser.add_argument(
        "--batch-n", type=int, default=20000, help="history entries timed in the batch run (default 20000)"
    )
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="the bench's event loop, for the raw clients and the projection alike (default uvloop: "
        "the loop uvicorn gives every service's consumers)",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="the service on a fresh PostgreSQL database at 127.0.0.1:5432 instead of SQLite",
    )
    parser.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an extra setting for the service, without the MERCATOR_CONTACTS_ prefix "
        "(e.g. RELAY_BATCH_SIZE=100); repeatable",
    )
    args = parser.parse_args(argv)
    if any("=" not in kv for kv in args.service_env):
        parser.error("--service-env takes KEY=VALUE")
    if args.n < 1 or args.raw_n < 1 or args.concurrency < 1 or args.warmup < 1:
        parser.error("--n, --raw-n, --concurrency and --warmup must be at least 1")
    started = Started(tmp=Path(tempfile.mkdtemp(prefix="mercator-bench-")))
    try:
        loop_factory = uvloop.new_event_loop if args.loop == "uvloop" else asyncio.new_event_loop
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(run(args, started))
        return 0
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("interrupted")
        return 130
    except BaseException:
        started.diagnose()
        raise
    finally:
        say("cleaning up")
        started.cleanup()


if __name__ == "__main__":
    sys.exit(main())
