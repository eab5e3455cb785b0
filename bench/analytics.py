"""Analytics benchmark: projection throughput through Kafka, and each report's latency beside DuckDB.

    .venv/bin/python bench/analytics.py [--events 500000] [--deals 1000000] [--clients 100000]
                                        [--activities 3000000] [--invoices 300000] [--runs 20]
    (make bench-analytics BENCH_ARGS="...")

Needs PostgreSQL at 127.0.0.1:5432 (trust, user postgres) and DuckDB (`services/analytics[bench]`). Only
127.0.0.1 is used; the databases and the broker it starts are removed at the end.

(a) Projection: `--events` business events (client cards, history entries, deals opened, stage moves, wins and
    losses, invoices, payments) published to a fresh Tansu broker, then read by the analytics service's own
    consumers (`Runtime` with `app.CONSUMERS`: inbox, handlers, one transaction per batch) into a fresh
    PostgreSQL database. Printed beside the same messages read by a bare aiokafka consumer (no database): the
    broker's and the client's ceiling on this machine.
(b) Reports: the read models filled with the sizes given, written as the projections store them (the same
    table shapes, COPY'd from generated facts: going through the handlers one event at a time would take hours
    at (a)'s rate), the aggregates the reports read computed from those rows by the projections' own rules
    (`refill`: the same per-row functions the handlers apply), then every report through the
    service's own code (`mercator.analytics.reports`, a CEO's view, no HTTP) `--runs` times; beside it, DuckDB
    computing the same figures over the same facts loaded in memory, in the same run. p50/p95 in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import uvloop
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import func, select

from mercator.analytics import reports
from mercator.analytics.app import CONSUMERS, MIGRATIONS
from mercator.analytics.domain import DEFAULT_STAGES, Period
from mercator.analytics.refill import refill
from mercator.analytics.settings import AnalyticsSettings
from mercator.analytics.tables import AGGREGATES
from mercator.common.auth import Caller
from mercator.common.bus import tables as bus
from mercator.common.bus.kafka import ensure_topics, make_producer
from mercator.common.db import make_engine, make_sessionmaker
from mercator.common.events import catalogue as ev
from mercator.common.events.envelope import Envelope
from mercator.common.migrate import upgrade
from mercator.common.runtime import Runtime
from mercator.common.testing.broker import TansuBroker

PG = "postgresql://postgres@127.0.0.1:5432"
NOW = datetime.now(UTC).replace(microsecond=0)
STAGES = [c for c, _ in DEFAULT_STAGES]
CEO = Caller(uuid.uuid4(), "CEO", frozenset({"executive"}), None, frozenset())


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def fresh_database(name: str) -> str:
    conn = await asyncpg.connect(f"{PG}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    await asyncio.to_thread(upgrade, url, MIGRATIONS)
    return url


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(f"{PG}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# --- (a) projection throughput ----------------------------------------------------------------------


def event_stream(n: int, rnd: random.Random):
    """A sales department's traffic: per client card a snapshot, history entries, deals that move and close,
    invoices and payments, until n events."""
    owners = [uuid.uuid4() for _ in range(12)]
    made = 0
    while made < n:
        company, owner = uuid.uuid4(), rnd.choice(owners)
        yield (
            ev.CompanyCreated(company_id=company, name="ООО", status="prospect", owner_id=owner, created_at=NOW),
            company,
            1,
        )
        made += 1
        for _ in range(rnd.randint(2, 6)):
            a = uuid.uuid4()
            yield (
                ev.ActivityLogged(
                    activity_id=a,
                    company_id=company,
                    kind="call",
                    direction="outbound",
                    summary="звонок",
                    happened_at=NOW - timedelta(days=rnd.randint(0, 700)),
                    author_id=owner,
                ),
                a,
                1,
            )
            made += 1
        deal = uuid.uuid4()
        yield (
            ev.DealOpened(
                deal_id=deal,
                title="Поставка",
                company_id=company,
                owner_id=owner,
                pipeline_id=uuid.UUID(int=1),
                stage="interest",
                status="open",
                amount=100000,
                currency="RUB",
                opened_at=NOW,
            ),
            deal,
            1,
        )
        made += 1
        seq, stage = 1, "interest"
        for nxt in STAGES[1 : rnd.randint(1, len(STAGES))]:
            seq += 1
            yield (
                ev.DealStageChanged(
                    deal_id=deal,
                    company_id=company,
                    owner_id=owner,
                    pipeline_id=uuid.UUID(int=1),
                    from_stage=stage,
                    to_stage=nxt,
                    at=NOW,
                    seconds_in_previous=3600,
                ),
                deal,
                seq,
            )
            made += 1
            stage = nxt
        seq += 1
        if rnd.random() < 0.1:
            yield (
                ev.DealWon(
                    deal_id=deal,
                    company_id=company,
                    owner_id=owner,
                    amount=100000,
                    currency="RUB",
                    won_at=NOW,
                    from_stage=stage,
                ),
                deal,
                seq,
            )
            inv = uuid.uuid4()
            yield (
                ev.InvoiceIssued(
                    invoice_id=inv,
                    number="1",
                    deal_id=deal,
                    company_id=company,
                    issue_date=NOW.date(),
                    due_date=NOW.date(),
                    net=100000,
                    vat=0,
                    total=100000,
                    currency="RUB",
                ),
                inv,
                1,
            )
            pay = uuid.uuid4()
            yield (
                ev.PaymentReceived(
                    payment_id=pay,
                    company_id=company,
                    amount=50000,
                    currency="RUB",
                    paid_on=NOW.date(),
                    bank_reference="x",
                    method="bank_transfer",
                    allocations=[ev.AllocationPayload(invoice_id=inv, amount=50000)],
                ),
                pay,
                1,
            )
            made += 3
        else:
            yield (
                ev.DealLost(
                    deal_id=deal,
                    company_id=company,
                    owner_id=owner,
                    reason="Дорого",
                    lost_at_stage=stage,
                    lost_at=NOW,
                    currency="RUB",
                ),
                deal,
                seq,
            )
            made += 1


async def publish(bootstrap: str, prefix: str, n: int) -> tuple[int, list[str]]:
    topics = sorted({f"{prefix}{t}" for group in CONSUMERS.values() for t in group})
    await ensure_topics(bootstrap, topics, 3)
    producer = make_producer(bootstrap, "bench-analytics", linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    sent = 0
    try:
        pending = []
        for payload, subject, sequence in event_stream(n, random.Random(7)):
            envelope = Envelope(
                type=payload.type_name(),
                source=f"/mercator/{payload.owner}",
                subject=str(subject),
                sequence=sequence,
                data=payload.model_dump(mode="json"),
            )
            pending.append(
                await producer.send(
                    f"{prefix}{envelope.type}",
                    value=envelope.body(),
                    key=str(subject).encode(),
                    headers=envelope.headers(),
                )
            )
            sent += 1
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent, topics


async def bare_read(bootstrap: str, topics: list[str], n: int) -> float:
    reader = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await reader.start()
    try:
        await reader.topics()
        parts = [TopicPartition(t, p) for t in topics for p in sorted(reader.partitions_for_topic(t) or ())]
        reader.assign(parts)
        await reader.seek_to_beginning(*parts)
        start, got = time.perf_counter(), 0
        while got < n:
            batches = await reader.getmany(timeout_ms=500, max_records=5000)
            got += sum(len(r) for r in batches.values())
        return got / (time.perf_counter() - start)
    finally:
        await reader.stop()


async def backend_cpu(name: str) -> float | None:
    """CPU seconds the PostgreSQL backends connected to database `name` have used (a local server's /proc)."""
    conn = await asyncpg.connect(f"{PG}/postgres")
    try:
        pids = [r["pid"] for r in await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", name)]
    finally:
        await conn.close()
    try:
        ticks = 0
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None


def committed(runtime: Runtime) -> int:
    """Events the consumers have committed, from their own counters (incremented after the commit): counting the
    inbox every second would scan it, work the database does for the benchmark and not for the projection."""
    return int(
        sum(
            sample.value
            for metric in runtime.metrics.events_consumed.collect()
            for sample in metric.samples
            if sample.name == "events_consumed_total"
        )
    )


async def projection(bootstrap: str, n: int) -> None:
    prefix = f"b{uuid.uuid4().hex[:6]}."
    t = time.perf_counter()
    sent, topics = await publish(bootstrap, prefix, n)
    print(f"(a) published {sent} events to {len(topics)} topics in {time.perf_counter() - t:.1f} s")
    bare = await bare_read(bootstrap, topics, sent)
    name = f"bench_analytics_proj_{uuid.uuid4().hex[:6]}"
    url = await fresh_database(name)
    settings = AnalyticsSettings(database_url=url, kafka_bootstrap=bootstrap, topic_prefix=prefix, relay_enabled=False)
    runtime = Runtime(settings, consumers=CONSUMERS)
    try:
        start, cpu = time.perf_counter(), time.process_time()
        await runtime.start()
        done = 0
        while done < sent:
            await asyncio.sleep(1)
            done = committed(runtime)
            rate = done / (time.perf_counter() - start)
            print(f"    projected {done}/{sent} ({rate:,.0f} events/s)", end="\r", flush=True)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        backends = await backend_cpu(name)
        async with runtime.sessionmaker() as s:
            assert await s.scalar(select(func.count()).select_from(bus.inbox)) == sent
        print()
        print(
            f"(a) projection through Kafka into PostgreSQL: {sent / elapsed:,.0f} events/s "
            f"({sent} events in {elapsed:.1f} s, group join included, batches of up to "
            f"{settings.consumer_batch_size})   baseline, bare aiokafka read, no "
            f"database: {bare:,.0f} events/s   target: 5,000 events/s"
        )
        pg = "n/a" if backends is None else f"{backends:.1f} s ({backends / sent * 1e6:.0f} us/event)"
        print(
            f"    CPU: this process {cpu:.1f} s ({cpu / sent * 1e6:.0f} us/event), PostgreSQL backends {pg}; "
            f"load average {os.getloadavg()[0]:.2f}"
        )
    finally:
        await runtime.stop(drain_timeout=1)
        await runtime.engine.dispose()
        await drop_database(name)


# --- (b) report latency ----------------------------------------------------------------------------


def generate(folder: Path, sizes: dict[str, int], rnd: random.Random) -> None:
    """The facts, as CSV files both PostgreSQL (COPY) and DuckDB (read_csv) load."""
    departments = [uuid.uuid4() for _ in range(3)]
    owners = [(uuid.uuid4(), departments[i % 3]) for i in range(12)]
    regions = [(uuid.uuid4(), f"Регион {i}") for i in range(40)]
    industries = [(uuid.uuid4(), f"Отрасль {i}") for i in range(20)]
    sources = [(uuid.uuid4(), f"Источник {i}") for i in range(10)]
    groups = [(uuid.uuid4(), f"Группа {i}") for i in range(5)]
    products = [(uuid.uuid4(), f"Товар {i}", *groups[i % 5]) for i in range(50)]
    stamp = lambda d: d.isoformat()  # noqa: E731

    def writer(name, header):
        f = open(folder / f"{name}.csv", "w", newline="")
        w = csv.writer(f)
        w.writerow(header)
        return f, w

    f, w = writer("users", ["user_id", "name", "department_id", "active", "version"])
    for i, (o, d) in enumerate(owners):
        w.writerow([o, f"Менеджер {i}", d, True, 1])
    f.close()
    f, w = writer("products", ["product_id", "code", "name", "group_id", "group_name", "version"])
    for p, name, g, gname in products:
        w.writerow([p, name, name, g, gname, 1])
    f.close()
    clients = []
    f, w = writer(
        "clients",
        [
            "company_id",
            "name",
            "owner_id",
            "department_id",
            "region_id",
            "region_name",
            "industry_id",
            "industry_name",
            "source_id",
            "source_name",
            "status",
            "created_at",
            "last_activity_at",
            "activity_count",
            "version",
            "owner_version",
        ],
    )
    for i in range(sizes["clients"]):
        c, (o, d) = uuid.uuid4(), rnd.choice(owners)
        r, ind, src = rnd.choice(regions), rnd.choice(industries), rnd.choice(sources)
        last = NOW - timedelta(days=rnd.randint(0, 60))
        clients.append((c, o, d))
        w.writerow(
            [
                c,
                f"Клиент {i}",
                o,
                d,
                *r,
                *ind,
                *src,
                rnd.choice(("prospect", "client")),
                stamp(NOW - timedelta(days=rnd.randint(0, 730))),
                stamp(last),
                0,
                1,
                1,
            ]
        )
    f.close()
    f, w = writer("activities", ["activity_id", "company_id", "kind", "direction", "author_id", "happened_at"])
    for _ in range(sizes["activities"]):
        c, o, _d = rnd.choice(clients)
        w.writerow(
            [
                uuid.uuid4(),
                c,
                rnd.choice(("call", "email", "meeting")),
                "outbound",
                o,
                stamp(NOW - timedelta(days=rnd.randint(0, 730), seconds=rnd.randint(0, 86400))),
            ]
        )
    f.close()
    fd, wd = writer(
        "deals",
        [
            "deal_id",
            "company_id",
            "owner_id",
            "department_id",
            "title",
            "amount",
            "currency",
            "expected_close_date",
            "source_id",
            "opened_at",
            "card_version",
            "stage",
            "status",
            "closed_at",
            "stage_version",
            "lost_reason",
            "lost_at_stage",
            "lost_version",
            "closed_version",
            "lines_version",
        ],
    )
    ft, wt = writer(
        "deal_transitions", ["deal_id", "sequence", "from_stage", "to_stage", "at", "seconds_in_previous", "kind"]
    )
    fl, wl = writer("deal_lines", ["deal_id", "product_id", "quantity", "total"])
    won_deals = []
    for _ in range(sizes["deals"]):
        deal, (c, o, d) = uuid.uuid4(), rnd.choice(clients)
        opened = NOW - timedelta(days=rnd.randint(30, 730), seconds=rnd.randint(0, 86400))
        depth = min(len(STAGES) - 1, int(rnd.expovariate(0.6)))
        fate = rnd.random()
        status = "won" if fate < 0.1 else "lost" if fate < 0.8 else "open"
        amount = rnd.randint(10, 3000) * 1000
        at, seq = opened, 1
        wt.writerow([deal, 1, "", STAGES[0], stamp(opened), "", "open"])
        stage = STAGES[0]
        for nxt in STAGES[1 : depth + 1]:
            step = at + timedelta(days=rnd.randint(1, 20))
            seq += 1
            wt.writerow([deal, seq, stage, nxt, stamp(step), int((step - at).total_seconds()), "move"])
            at, stage = step, nxt
        closed = ""
        if status != "open":
            step = at + timedelta(days=rnd.randint(1, 20))
            seq += 1
            wt.writerow([deal, seq, stage, status, stamp(step), int((step - at).total_seconds()), status])
            closed = stamp(step)
        product = rnd.choice(products)[0]
        wl.writerow([deal, product, 1, amount])
        expected = (NOW + timedelta(days=rnd.randint(-30, 180))).date().isoformat()
        wd.writerow(
            [
                deal,
                c,
                o,
                d,
                "Поставка",
                amount,
                "RUB",
                expected,
                "",
                stamp(opened),
                1,
                status if status != "open" else stage,
                status,
                closed,
                seq,
                "Дорого" if status == "lost" else "",
                stage if status == "lost" else "",
                seq,
                seq,
                1,
            ]
        )
        if status == "won":
            won_deals.append((deal, c, amount))
    for f in (fd, ft, fl):
        f.close()
    f, w = writer(
        "invoices",
        [
            "invoice_id",
            "number",
            "deal_id",
            "company_id",
            "issue_date",
            "due_date",
            "total",
            "currency",
            "paid",
            "credited",
            "cancelled",
        ],
    )
    for i in range(sizes["invoices"]):
        deal, c, amount = won_deals[i % len(won_deals)]
        due = (NOW - timedelta(days=rnd.randint(-30, 150))).date()
        w.writerow(
            [
                uuid.uuid4(),
                str(i),
                deal,
                c,
                (due - timedelta(days=10)).isoformat(),
                due.isoformat(),
                amount,
                "RUB",
                rnd.choice((0, amount // 2, amount, amount)),
                0,
                False,
            ]
        )
    f.close()


TABLES = ("users", "products", "clients", "activities", "deals", "deal_transitions", "deal_lines", "invoices")


async def load_postgres(folder: Path, dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for name in TABLES:
            with open(folder / f"{name}.csv", newline="") as f:
                header = next(csv.reader(f))
            await conn.copy_to_table(
                name, source=str(folder / f"{name}.csv"), columns=header, format="csv", header=True, null=""
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def fill_aggregates(url: str) -> None:
    """The aggregates of the rows just loaded, cell by cell from each row by the functions the projection
    handlers use (`aggregates.deal_cells`, `card_cells`), then fresh statistics for the planner."""
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            await refill(s)
            await s.commit()
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql(f"ANALYZE deals, {', '.join(AGGREGATES)}")
    finally:
        await engine.dispose()


def load_duckdb(folder: Path):
    import duckdb

    db = duckdb.connect()
    for name in TABLES:
        db.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv_auto('{folder / (name + '.csv')}', header=true)")
    return db


# DuckDB over the raw facts: the same figures as each report, in one query each.
DUCK = {
    "workload": """SELECT owner_id, stage, count(*), sum(amount) FROM deals WHERE status='open'
                   GROUP BY owner_id, stage""",
    "inactivity": """SELECT c.owner_id, count(*), count(*) FILTER (WHERE last_activity_at < now() - INTERVAL 14 DAY),
                       (SELECT count(*) FROM activities a WHERE a.author_id = c.owner_id)
                     FROM clients c GROUP BY c.owner_id""",
    "receivables": """SELECT d.owner_id, count(*), sum(i.total - i.paid - i.credited),
                        sum(i.total - i.paid - i.credited) FILTER (WHERE i.due_date < current_date)
                      FROM invoices i LEFT JOIN deals d USING (deal_id)
                      WHERE i.total - i.paid - i.credited > 0 GROUP BY d.owner_id""",
    "deal-duration": """SELECT owner_id, status, avg(epoch(closed_at - opened_at)) / 86400,
                          median(epoch(closed_at - opened_at)) / 86400 FROM deals
                        WHERE status IN ('won', 'lost') GROUP BY owner_id, status""",
    "losses": """SELECT owner_id, lost_reason, lost_at_stage, count(*) FROM deals WHERE status='lost'
                 GROUP BY owner_id, lost_reason, lost_at_stage""",
    "results": """SELECT owner_id, year(closed_at), month(closed_at), count(*), sum(amount) FROM deals
                  WHERE status='won' GROUP BY ALL""",
    "sources": """SELECT c.source_id, count(*), count(*) FILTER (WHERE d.status='won'),
                    sum(d.amount) FILTER (WHERE d.status='won') FROM deals d LEFT JOIN clients c USING (company_id)
                  GROUP BY c.source_id""",
    "segments": """SELECT c.region_id, count(*), count(*) FILTER (WHERE d.status='won'),
                     sum(d.amount) FILTER (WHERE d.status='won') FROM deals d LEFT JOIN clients c USING (company_id)
                   GROUP BY c.region_id""",
    "sales-volume": """SELECT owner_id, year(closed_at), month(closed_at), count(*), sum(amount) FROM deals
                       WHERE status='won' GROUP BY ALL""",
    "funnel": """SELECT p, count(*) FROM (SELECT t.deal_id, max(CASE t.to_stage """
    + " ".join(f"WHEN '{c}' THEN {i}" for i, c in enumerate(STAGES))
    + f""" WHEN 'won' THEN {len(STAGES)} ELSE -1 END) p
                 FROM deal_transitions t GROUP BY t.deal_id) GROUP BY p""",
    "forecast": """SELECT year(expected_close_date), month(expected_close_date), stage, count(*), sum(amount)
                   FROM deals WHERE status='open' GROUP BY ALL""",
}


async def report_latency(sizes: dict[str, int], runs: int) -> None:
    name = f"bench_analytics_rep_{uuid.uuid4().hex[:6]}"
    url = await fresh_database(name)
    folder = Path(tempfile.mkdtemp(prefix="bench-analytics-"))
    try:
        t = time.perf_counter()
        generate(folder, sizes, random.Random(11))
        print(f"(b) generated {sizes} in {time.perf_counter() - t:.0f} s")
        t = time.perf_counter()
        await load_postgres(folder, f"{PG}/{name}")
        print(f"    loaded into PostgreSQL in {time.perf_counter() - t:.0f} s")
        t = time.perf_counter()
        await fill_aggregates(url)
        print(f"    aggregates filled by the projections' rules (refill) in {time.perf_counter() - t:.0f} s")
        t = time.perf_counter()
        duck = await asyncio.to_thread(load_duckdb, folder)
        print(f"    loaded into DuckDB in {time.perf_counter() - t:.0f} s")
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        scope = reports.Scope()
        ours = {
            "workload": lambda s: reports.workload(s, CEO, scope),
            "inactivity": lambda s: reports.inactivity(s, CEO, scope, days=14, low_share=0.5, now=NOW),
            "receivables": lambda s: reports.receivables(s, CEO, scope, by="manager", today=NOW.date()),
            "deal-duration": lambda s: reports.duration(s, CEO, scope, by="manager"),
            "losses": lambda s: reports.losses(s, CEO, scope),
            "results": lambda s: reports.results(s, CEO, scope, by="manager", period=Period.MONTH),
            "sources": lambda s: reports.segments(s, CEO, scope, by="source"),
            "marketing-events": lambda s: reports.marketing(s, CEO, scope, window_days=90),
            "segments": lambda s: reports.segments(s, CEO, scope, by="region"),
            "sales-volume": lambda s: reports.volume(s, CEO, scope, by=["manager", "period"], period=Period.MONTH),
            "funnel": lambda s: reports.funnel(s, CEO, scope),
            "forecast": lambda s: reports.forecast(s, CEO, scope),
        }
        print(
            f"{'report':<18}{'ours p50':>10}{'ours p95':>10}{'duckdb p50':>12}{'duckdb p95':>12}   verdict"
            f"   (load average)"
        )
        for report, run in ours.items():
            # One untimed run on each side first: the pool's connection, plans and caches, as a live service has.
            async with sessions() as s:
                await run(s)
            if report in DUCK:
                duck.execute(DUCK[report]).fetchall()
            times = []
            for _ in range(runs):
                async with sessions() as s:
                    start = time.perf_counter()
                    await run(s)
                    times.append((time.perf_counter() - start) * 1000)
            duck_times = []
            if report in DUCK:
                for _ in range(runs):
                    start = time.perf_counter()
                    duck.execute(DUCK[report]).fetchall()
                    duck_times.append((time.perf_counter() - start) * 1000)
            p95 = pct(times, 0.95)
            d50, d95 = (pct(duck_times, 0.5), pct(duck_times, 0.95)) if duck_times else (None, None)
            ok = p95 <= 100 and (d95 is None or p95 <= d95)
            fmt = lambda v: f"{v:>10.1f}" if v is not None else f"{'-':>10}"  # noqa: E731
            print(
                f"{report:<18}{fmt(pct(times, 0.5))}{fmt(p95)}  {fmt(d50)}  {fmt(d95)}   "
                f"{'meets the target' if ok else 'misses the target'}   ({os.getloadavg()[0]:.1f})"
            )
        await engine.dispose()
        duck.close()
    finally:
        for f in folder.glob("*.csv"):
            f.unlink()
        folder.rmdir()
        await drop_database(name)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--activities", type=int, default=3_000_000)
    parser.add_argument("--invoices", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--skip-projection", action="store_true")
    parser.add_argument("--skip-reports", action="store_true")
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="event loop (the service's consumers run on uvicorn's, uvloop where installed)",
    )
    return parser.parse_args()


async def main(args: argparse.Namespace) -> None:
    print(f"event loop: {args.loop}")
    if not args.skip_projection:
        broker = TansuBroker(log_path=Path(tempfile.mkdtemp(prefix="bench-tansu-")) / "broker.log").start()
        try:
            await projection(broker.bootstrap, args.events)
        finally:
            broker.kill()
    if not args.skip_reports:
        await report_latency(
            {"deals": args.deals, "clients": args.clients, "activities": args.activities, "invoices": args.invoices},
            args.runs,
        )


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C: the broker and the databases go


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    args = arguments()
    # The service runs its consumers on the loop uvicorn picks: uvloop, which uvicorn[standard] brings.
    loop_factory = uvloop.new_event_loop if args.loop == "uvloop" else asyncio.new_event_loop
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main(args))
    sys.exit(0)
