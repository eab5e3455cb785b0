"""History entries logged in a period, by author, kind or client."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, null, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import domain, schemas
from mercator.analytics.domain import ActivityBy
from mercator.analytics.reports.slicing import ordered, seen_clients
from mercator.analytics.tables import Activity, Client
from mercator.common.auth import Caller


async def activity(
    session: AsyncSession, caller: Caller, by: ActivityBy, *, start: datetime | None, end: datetime | None
) -> schemas.ActivityReport:
    seen = seen_clients(caller)
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
        by=by, from_=start, to=end, rows=ordered(rows, "entries"), total=sum(r.entries for r in rows)
    )
