"""Notifications benchmark: e-mails with a one-page PDF per second, beside aiosmtplib in a bare loop.

    .venv/bin/python bench/notifications.py [--n 300] [--warmup 20] [--postgres]

In one run, against the same local SMTP server (aiosmtpd as its own process, its Sink handler, on a free
loopback port):

1. service: the notifications service's own code, in this process, on SQLite in a temp dir (the embedded
   default; PostgreSQL with --postgres): N e-mails by hand to a contact person with the proposal rendered as
   a one-page PDF (`manual.send_by_hand`, one transaction each), then the sender (`Sender.run_once`, its
   default concurrency) until all N are sent, each outcome recorded with MessageSent in the outbox.
   Reported: queueing (render + store), sending, and the two together.
2. baseline: the first message, already built (the same EmailMessage with the same PDF), sent N times with
   `aiosmtplib.send` in a bare loop: one connection per message, as the sender makes.

Both get a warm-up outside the clock. It prints both rates and their ratio (service end to end /
baseline). Everything it starts is removed at the end. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import aiosmtplib
from pypdf import PdfReader
from sqlalchemy import func, select

from mercator.common.bus import tables
from mercator.common.bus.consumer import Delivery
from mercator.common.events import Envelope
from mercator.common.migrate import upgrade
from mercator.common.runtime import Runtime
from mercator.common.testing.api import caller
from mercator.common.testing.broker import free_port, port_open
from mercator.notifications import consumers, manual, schemas
from mercator.notifications.app import MIGRATIONS, build_app
from mercator.notifications.settings import NotificationsSettings
from mercator.notifications.tables import Attachment, Message
from mercator.notifications.testing import World
from mercator.notifications.transports import Outgoing, build_email

HOST = "127.0.0.1"


def say(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


async def postgres_url() -> tuple[str, str] | None:
    import asyncpg

    name = f"mercator_bench_notifications_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(f"postgresql://postgres@{HOST}:5432/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"postgresql+asyncpg://postgres@{HOST}:5432/{name}", name


async def drop_postgres(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"postgresql://postgres@{HOST}:5432/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def seed(runtime: Runtime, settings: NotificationsSettings, world: World) -> None:
    handlers = {t: h for g in consumers.handlers(settings).values() for t, h in g.items()}
    for payload in world.events():
        envelope = Envelope(
            type=payload.type_name(), source="/bench", subject="x", sequence=1, data=payload.model_dump(mode="json")
        )
        async with runtime.uow() as uow:
            await handlers[payload.type_name()](uow, Delivery(envelope, payload))
            await uow.commit()


async def queue(runtime, settings, world, who, n: int) -> list[uuid.UUID]:
    ids = []
    for i in range(n):
        async with runtime.uow() as uow:
            m = await manual.send_by_hand(
                uow,
                schemas.MessageCreate(
                    person_id=world.person_id,
                    deal_id=world.deal_id,
                    subject=f"Коммерческое предложение #{i}",
                    message="Направляем коммерческое предложение.",
                    documents=["proposal"],
                ),
                who,
                settings,
            )
            await uow.commit()  # as the route's unit of work does
            ids.append(m.id)
    return ids


async def send_all(runtime, sender, n_expected: int) -> None:
    while True:
        await sender.run_once()
        async with runtime.sessionmaker() as s:
            left = (
                await s.execute(
                    select(func.count()).select_from(Message).where(Message.status.in_(("queued", "sending")))
                )
            ).scalar()
        if not left:
            return


async def run(args) -> None:
    tmp = tempfile.mkdtemp(prefix="mercator-bench-notifications-")
    port = free_port()
    smtp = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"{HOST}:{port}", "-c", "aiosmtpd.handlers.Sink"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pg_name = None
    runtime = None
    try:
        deadline = time.monotonic() + 15
        while not port_open(port):
            if smtp.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("aiosmtpd did not start")
            await asyncio.sleep(0.05)
        if args.postgres:
            url, pg_name = await postgres_url()
        else:
            url = f"sqlite+aiosqlite:///{tmp}/notifications.db"
        settings = NotificationsSettings(
            database_url=url,
            relay_enabled=False,
            consumers_enabled=False,
            kafka_bootstrap=f"{HOST}:9",
            smtp_host=HOST,
            smtp_port=port,
            json_logs=False,
            token_secret=secrets.token_hex(32),
        )
        await asyncio.to_thread(upgrade, url, MIGRATIONS)
        runtime = Runtime(settings)
        app = build_app(settings, runtime)
        sender = app.state.sender
        who = caller("Анна Петрова", department_id=uuid.uuid4())
        world = World(who)
        await seed(runtime, settings, world)
        say(
            f"database: {'PostgreSQL' if args.postgres else 'SQLite'}; SMTP: aiosmtpd (Sink) on {HOST}:{port}; "
            f"sender concurrency {settings.send_concurrency}"
        )

        # Warm-up of both paths, outside the clock.
        await queue(runtime, settings, world, who, args.warmup)
        await send_all(runtime, sender, args.warmup)
        async with runtime.sessionmaker() as s:
            first = (await s.execute(select(Message).order_by(Message.created_at).limit(1))).scalar_one()
            files = (await s.execute(select(Attachment).where(Attachment.message_id == first.id))).scalars().all()
        prepared = build_email(
            Outgoing(
                str(first.id),
                "email",
                first.recipient,
                first.recipient_name,
                first.subject,
                first.body,
                [(f.filename, f.content_type, f.content) for f in files],
            ),
            settings.mail_from,
            first.recipient,
        )
        pages = len(PdfReader(io.BytesIO(files[0].content)).pages)
        size = len(prepared.as_bytes())
        for _ in range(args.warmup):
            await aiosmtplib.send(prepared, hostname=HOST, port=port)

        # 1. the service: queue (render the PDF, store), then send
        t0 = time.perf_counter()
        await queue(runtime, settings, world, who, args.n)
        t1 = time.perf_counter()
        await send_all(runtime, sender, args.n)
        t2 = time.perf_counter()
        async with runtime.sessionmaker() as s:
            sent = (await s.execute(select(func.count()).select_from(Message).where(Message.status == "sent"))).scalar()
            events = (
                await s.execute(
                    select(func.count()).select_from(tables.outbox).where(tables.outbox.c.type == "MessageSent")
                )
            ).scalar()
        assert sent == events == args.n + args.warmup, (sent, events)

        # 2. the baseline: the same prepared message, aiosmtplib in a bare loop
        t3 = time.perf_counter()
        for _ in range(args.n):
            await aiosmtplib.send(prepared, hostname=HOST, port=port)
        t4 = time.perf_counter()

        service_rate = args.n / (t2 - t0)
        baseline_rate = args.n / (t4 - t3)
        say(f"message: {size / 1024:.0f} KiB, the PDF {pages} page(s), {len(files[0].content) / 1024:.0f} KiB")
        print()
        print(f"{'':34}{'messages/s':>12}{'ms/message':>12}")
        print(f"{'service: render + queue':34}{args.n / (t1 - t0):12.1f}{(t1 - t0) * 1000 / args.n:12.2f}")
        print(f"{'service: send (sender)':34}{args.n / (t2 - t1):12.1f}{(t2 - t1) * 1000 / args.n:12.2f}")
        print(f"{'service: end to end':34}{service_rate:12.1f}{(t2 - t0) * 1000 / args.n:12.2f}")
        print(f"{'baseline: aiosmtplib bare loop':34}{baseline_rate:12.1f}{(t4 - t3) * 1000 / args.n:12.2f}")
        print(
            f"\nratio service end to end / baseline: {service_rate / baseline_rate:.2f}"
            f"   (sending only / baseline: {args.n / (t2 - t1) / baseline_rate:.2f})"
        )
    finally:
        if runtime is not None:
            await runtime.engine.dispose()
        if smtp.poll() is None:
            os.killpg(smtp.pid, signal.SIGTERM)
            smtp.wait(10)
        if pg_name:
            await drop_postgres(pg_name)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL at 127.0.0.1:5432 instead of SQLite")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
