"""Reports, read from the projections (writes happen only in `consumers`)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, func, null, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import domain, schemas
from mercator.analytics.domain import ActivityBy, ClientBaseBy
from mercator.analytics.tables import Activity, Client
from mercator.common.auth import Caller
from mercator.common.pagination import decode_cursor, encode_cursor
from mercator.common.visibility import Kind, sight

# Placeholders (version 0) are cards whose snapshot has not arrived: not in the base yet.
_IN_BASE = (Client.merged_into_id.is_(None), Client.version > 0)

_CLIENT_KEYS = {
    ClientBaseBy.REGION: (Client.region_id, Client.region_name),
    ClientBaseBy.INDUSTRY: (Client.industry_id, Client.industry_name),
    ClientBaseBy.SOURCE: (Client.source_id, Client.source_name),
    ClientBaseBy.OWNER: (Client.owner_id, None),
    ClientBaseBy.DEPARTMENT: (Client.department_id, None),
    ClientBaseBy.STATUS: (Client.status, None),
}


def _seen_clients(caller: Caller) -> list:
    """The clients a caller's reports count, as SQL conditions on Client: `Sight.sees` on the card's
    owner and department (a manager their own, a head their department subtree and their own)."""
    view = sight(caller, Kind.REPORT)
    conditions = []
    if not view.everything:
        conditions.append(or_(Client.owner_id == view.owner_id, Client.department_id.in_(view.departments)))
    if view.clients_only:
        conditions.append(Client.status == "client")
    return conditions


def _key(value) -> str | None:
    return None if value is None else str(value)


def _ordered(rows: list, count_field: str) -> list:
    # Biggest first; ties by label so the same data always gives the same report.
    return sorted(
        rows, key=lambda r: (-getattr(r, count_field), r.name is None, r.name or "", r.key is None, r.key or "")
    )


async def client_base(
    session: AsyncSession, caller: Caller, by: ClientBaseBy, *, status: str | None, owner_id: uuid.UUID | None
) -> schemas.ClientBaseReport:
    key, label = _CLIENT_KEYS[by]
    # Grouped by id only: cards not updated since a region was renamed still carry the old name.
    stmt = (
        select(key, func.max(label) if label is not None else null(), func.count())
        .where(*_IN_BASE, *_seen_clients(caller))
        .group_by(key)
    )
    if status is not None:
        stmt = stmt.where(Client.status == status)
    if owner_id is not None:
        stmt = stmt.where(Client.owner_id == owner_id)
    rows = [schemas.ClientBaseRow(key=_key(k), name=n, clients=c) for k, n, c in (await session.execute(stmt)).all()]
    return schemas.ClientBaseReport(by=by, rows=_ordered(rows, "clients"), total=sum(r.clients for r in rows))


async def activity(
    session: AsyncSession, caller: Caller, by: ActivityBy, *, start: datetime | None, end: datetime | None
) -> schemas.ActivityReport:
    seen = _seen_clients(caller)
    domain.check_period(start, end)
    key = {
        ActivityBy.AUTHOR: Activity.author_id,
        ActivityBy.KIND: Activity.kind,
        ActivityBy.COMPANY: Activity.company_id,
    }[by]
    if by is ActivityBy.COMPANY:
        stmt = select(key, func.max(Client.name), func.count()).outerjoin(
            Client, Client.company_id == Activity.company_id
        )
    else:
        stmt = select(key, null(), func.count()).select_from(Activity)
        if seen:
            stmt = stmt.join(Client, Client.company_id == Activity.company_id)
    # An entry counts in the slice of its client: whoever wrote it, and an entry whose card is not
    # projected yet only in the reports of those who see everything.
    stmt = stmt.where(*seen)
    if start is not None:
        stmt = stmt.where(Activity.happened_at >= start)
    if end is not None:
        stmt = stmt.where(Activity.happened_at < end)
    rows = [
        schemas.ActivityRow(key=str(k), name=n, entries=c)
        for k, n, c in (await session.execute(stmt.group_by(key))).all()
    ]
    return schemas.ActivityReport(
        by=by, from_=start, to=end, rows=_ordered(rows, "entries"), total=sum(r.entries for r in rows)
    )


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
    stmt = select(Client).where(
        *_IN_BASE, *_seen_clients(caller), or_(last.is_(None), last < now - timedelta(days=days))
    )
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
