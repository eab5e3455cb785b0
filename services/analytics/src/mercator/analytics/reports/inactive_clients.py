"""Clients with no history entry for a number of days, longest silence first, a page at a time."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import domain, schemas
from mercator.analytics.reports.slicing import IN_BASE, seen_clients
from mercator.analytics.tables import Client
from mercator.common.auth import Caller
from mercator.common.pagination import decode_cursor, encode_cursor


async def inactive_clients(
    session: AsyncSession,
    caller: Caller,
    *,
    days: int,
    owner_id: uuid.UUID | None,
    now: datetime,
    limit: int,
    cursor: str | None,
) -> tuple[list[schemas.InactiveClient], str | None]:
    """Longest silence first: never-contacted clients, then by the oldest last entry."""
    last = Client.last_activity_at
    stmt = select(Client).where(*IN_BASE, *seen_clients(caller), or_(last.is_(None), last < now - timedelta(days=days)))
    if owner_id is not None:
        stmt = stmt.where(Client.owner_id == owner_id)
    after = decode_cursor(cursor, lambda v: datetime.fromisoformat(v) if v is not None else None, uuid.UUID)
    if after:
        at, company_id = after
        if at is None:
            stmt = stmt.where(or_(last.is_not(None), Client.company_id > company_id))
        else:
            stmt = stmt.where(or_(last > at, and_(last == at, Client.company_id > company_id)))
    rows = (
        (await session.execute(stmt.order_by(last.asc().nulls_first(), Client.company_id).limit(limit + 1)))
        .scalars()
        .all()
    )
    page = list(rows[:limit])
    nxt = None
    if len(rows) > limit:
        at = domain.as_utc(page[-1].last_activity_at)
        nxt = encode_cursor([at.isoformat() if at else None, str(page[-1].company_id)])
    items = [
        schemas.InactiveClient(
            company_id=c.company_id,
            name=c.name,
            owner_id=c.owner_id,
            status=c.status,
            last_activity_at=domain.as_utc(c.last_activity_at),
            days_inactive=domain.days_since(c.last_activity_at, now),
            activity_count=c.activity_count,
        )
        for c in page
    ]
    return items, nxt
