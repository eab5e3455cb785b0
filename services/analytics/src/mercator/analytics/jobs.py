"""What analytics does besides answering: announce inactive client cards, rebuild the read models."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select

from mercator.analytics import domain, tables
from mercator.analytics.settings import AnalyticsSettings
from mercator.analytics.tables import Client, InactivityAlert
from mercator.common import clock
from mercator.common.bus import tables as bus
from mercator.common.events import catalogue as ev
from mercator.common.runtime import Runtime
from mercator.common.uow import UnitOfWork

log = logging.getLogger(__name__)

# Cards announced per transaction: a first run over a big silent base goes out in slices, none lost.
BATCH = 500


@asynccontextmanager
async def step(uow: UnitOfWork) -> AsyncIterator[UnitOfWork]:
    """One step of a job in one transaction: committed with the events it recorded when it returns, rolled back
    when it raises. The only place analytics' jobs commit; what runs inside never does."""
    async with uow:
        yield uow
        await uow.commit()


async def detect_inactivity(uow: UnitOfWork, threshold_days: int, now: datetime) -> int:
    """One InactivityDetected per client card that crossed the threshold since it was last announced (a new
    history entry starts a new silence). Returns how many were announced; the caller runs it, each time in its own
    `step`, until 0."""
    s = uow.session
    cutoff = now - timedelta(days=threshold_days)
    last = Client.last_activity_at
    rows = (
        await s.execute(
            select(Client, InactivityAlert)
            .outerjoin(InactivityAlert, InactivityAlert.company_id == Client.company_id)
            .where(
                Client.merged_into_id.is_(None),
                Client.version > 0,
                Client.owner_id.is_not(None),
                or_(last < cutoff, (last.is_(None)) & (Client.created_at < cutoff)),
                or_(InactivityAlert.company_id.is_(None), InactivityAlert.last_activity_at.is_distinct_from(last)),
            )
            .order_by(Client.company_id)
            .limit(BATCH)
            .with_for_update(of=Client, skip_locked=True)
        )
    ).all()
    announced = 0
    for client, alert in rows:
        if not domain.crossed_inactivity(client.last_activity_at, client.created_at, now, threshold_days):
            continue
        if domain.already_announced(
            alert.last_activity_at if alert else None, alert is not None, client.last_activity_at
        ):
            continue
        if alert is None:
            alert = InactivityAlert(company_id=client.company_id, sequence=0)
            s.add(alert)
        alert.last_activity_at, alert.detected_at, alert.sequence = client.last_activity_at, now, alert.sequence + 1
        since = domain.as_utc(client.last_activity_at) or domain.as_utc(client.created_at)
        assert since is not None  # crossed_inactivity counts from one of the two
        uow.emit(
            ev.InactivityDetected(
                company_id=client.company_id,
                company_name=client.name,
                owner_id=client.owner_id,
                department_id=client.department_id,
                last_activity_at=domain.as_utc(client.last_activity_at),
                threshold_days=threshold_days,
                days_inactive=(now - since).days,
                detected_at=now,
            ),
            subject=client.company_id,
            sequence=alert.sequence,
        )
        announced += 1
    return announced


async def inactivity_watch(runtime: Runtime, settings: AnalyticsSettings) -> None:
    while True:
        try:
            while not runtime.quiesced:
                async with step(runtime.uow()) as uow:
                    if not await detect_inactivity(uow, settings.inactivity_days, clock.now()):
                        break
        except Exception as exc:  # the next run tries again; each slice is one transaction
            log.warning("inactivity check failed: %r", exc)
        await asyncio.sleep(settings.inactivity_check_seconds)


async def rebuild(runtime: Runtime) -> int:
    """Drops every read model and the analytics inbox, then reads every topic again from the start through the
    same handlers. The service may keep running meanwhile: the handlers do not depend on order or repeats.
    The inactivity alerts stay, so a rebuild announces no silence twice. Returns the messages read."""
    async with step(runtime.uow()) as uow:
        for name in tables.READ_MODELS:
            await uow.session.execute(delete(tables.Base.metadata.tables[name]))
        consumers = [c.name for c in runtime.consumers]
        await uow.session.execute(delete(bus.inbox).where(bus.inbox.c.consumer.in_(consumers)))
    read = 0
    for consumer in runtime.consumers:
        read += await consumer.replay()
    return read
