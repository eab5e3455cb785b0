"""The read models dropped and rebuilt from the topics of a real broker (Tansu) into PostgreSQL, by the
`rebuild` command; and the InactivityDetected watch."""

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from analytics_history import CEO, REPORTS, sales_department
from sqlalchemy import delete, select, update

from mercator.analytics import jobs
from mercator.analytics.app import CONSUMERS, MIGRATIONS, build_app
from mercator.analytics.settings import AnalyticsSettings
from mercator.analytics.tables import Deal, Invoice
from mercator.common.bus import tables as bus
from mercator.common.bus.kafka import ensure_topics, make_producer
from mercator.common.events.envelope import Envelope
from mercator.common.runtime import Runtime
from mercator.common.testing import kit
from mercator.common.testing.api import auth, client

pytestmark = [pytest.mark.postgres]


async def publish(bootstrap: str, prefix: str, events) -> int:
    """As the other services' relays do: one topic per type, the aggregate id as the key."""
    await ensure_topics(bootstrap, [f"{prefix}{t}" for group in CONSUMERS.values() for t in group], 3)
    producer = make_producer(bootstrap, "history")
    await producer.start()
    try:
        for payload, subject, sequence in events:
            envelope = Envelope(
                type=payload.type_name(),
                source=f"/mercator/{payload.owner}",
                subject=str(subject),
                sequence=sequence,
                data=payload.model_dump(mode="json"),
            )
            await producer.send_and_wait(
                f"{prefix}{envelope.type}", value=envelope.body(), key=str(subject).encode(), headers=envelope.headers()
            )
            if sequence % 2:  # a relay that published some rows twice: the same event id again
                await producer.send_and_wait(
                    f"{prefix}{envelope.type}",
                    value=envelope.body(),
                    key=str(subject).encode(),
                    headers=envelope.headers(),
                )
    finally:
        await producer.stop()
    return sum(2 if s % 2 else 1 for _, _, s in events)


async def all_reports(app, settings) -> list:
    async with client(app, auth(settings, CEO)) as api:
        out = []
        for name, params in REPORTS:
            r = await api.get(f"/api/v1/reports/{name}", params=params)
            assert r.status_code == 200, r.text
            out.append(r.json())
        return out


@asynccontextmanager
async def on_topics(postgres, tansu, name: str, events) -> AsyncIterator[tuple[AnalyticsSettings, Runtime, int]]:
    """A fresh analytics database whose read models are still empty, and `events` published to topics of their
    own, as the other services' relays would: (settings, runtime, messages published)."""
    settings = AnalyticsSettings(
        database_url=await postgres.migrated(name, MIGRATIONS),
        kafka_bootstrap=tansu.bootstrap,
        topic_prefix=f"r{uuid.uuid4().hex[:8]}.",
        relay_enabled=False,
        consumers_enabled=False,
    )
    published = await publish(tansu.bootstrap, settings.topic_prefix, events)
    runtime = Runtime(settings, consumers=CONSUMERS)
    try:
        yield settings, runtime, published
    finally:
        await runtime.engine.dispose()


@pytest.mark.broker
async def test_the_read_models_are_dropped_and_rebuilt_from_the_topics(postgres, tansu):
    async with on_topics(postgres, tansu, "analytics_rebuild", sales_department().events) as (
        settings,
        runtime,
        published,
    ):
        app = build_app(settings, runtime)
        assert await jobs.rebuild(runtime) == published
        first = await all_reports(app, settings)
        funnel = first[[n for n, _ in REPORTS].index("funnel")]
        assert (funnel["first_contacts"], funnel["won"]) == (5, 2)

        # Something went wrong with the read models: deals lost, payments forgotten.
        async with runtime.sessionmaker() as s:
            await s.execute(delete(Deal).where(Deal.status == "won"))
            await s.execute(update(Invoice).values(paid=0))
            await s.commit()
        assert await all_reports(app, settings) != first

        # The command an operator runs (the service may keep running: the projections take any order).
        env = {
            **os.environ,
            "MERCATOR_ANALYTICS_DATABASE_URL": settings.database_url,
            "MERCATOR_ANALYTICS_KAFKA_BOOTSTRAP": tansu.bootstrap,
            "MERCATOR_ANALYTICS_TOPIC_PREFIX": settings.topic_prefix,
        }
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "mercator.analytics", "rebuild"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert f"rebuilt from {published} messages" in done.stdout
        assert await all_reports(app, settings) == first
        async with runtime.sessionmaker() as s:  # every message went through the inbox once, none dead
            assert await s.scalar(select(bus.dead_letters.c.event_id).limit(1)) is None


# --- InactivityDetected ---------------------------------------------------------------------------


async def announced(app) -> list[dict]:
    return [p.data for p in await kit.published(app, "InactivityDetected")]


async def detect(app, days=14, now=None) -> int:
    total = 0
    async with jobs.step(app.state.runtime.uow()) as uow:
        total += await jobs.detect_inactivity(uow, days, now or datetime.now(UTC))
    return total


async def test_inactivity_is_announced_once_per_crossing(app, contacts):
    now = datetime.now(UTC)
    silent, busy, never, merged = (uuid.uuid4() for _ in range(4))
    for company in (silent, busy, never, merged):
        await contacts.card(company, name=str(company)[:8], created_at=now - timedelta(days=60))
    await contacts.activity(silent, now - timedelta(days=20))
    await contacts.activity(busy, now - timedelta(days=3))
    await contacts.merge(busy, merged, 2)

    assert await detect(app) == 2
    found = {a["company_id"]: a for a in await announced(app)}
    assert set(found) == {str(silent), str(never)}
    assert (found[str(silent)]["days_inactive"], found[str(silent)]["threshold_days"]) == (20, 14)
    assert found[str(never)]["last_activity_at"] is None and found[str(never)]["days_inactive"] == 60

    assert await detect(app) == 0 and len(await announced(app)) == 2  # the same silence: nothing more

    # A call fifteen days ago ends the silence, and a new one has begun since.
    await contacts.activity(silent, now - timedelta(days=15))
    assert await detect(app) == 1
    assert await detect(app, now=now + timedelta(days=1)) == 0
    # A higher threshold in a later run does not announce the same silence again either.
    await contacts.activity(busy, now - timedelta(days=1))
    assert await detect(app, days=30) == 0
    assert [a["company_id"] for a in await announced(app)][-1] == str(silent)
