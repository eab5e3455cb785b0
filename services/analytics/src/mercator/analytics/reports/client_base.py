"""The client base sliced by region, industry, contact source, manager, status or department."""

from __future__ import annotations

import uuid

from sqlalchemy import func, null, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.analytics import schemas
from mercator.analytics.domain import ClientBaseBy
from mercator.analytics.reports.slicing import IN_BASE, key_of, ordered, seen_clients
from mercator.analytics.tables import Client
from mercator.common.auth import Caller

_CLIENT_KEYS = {
    ClientBaseBy.REGION: (Client.region_id, Client.region_name),
    ClientBaseBy.INDUSTRY: (Client.industry_id, Client.industry_name),
    ClientBaseBy.SOURCE: (Client.source_id, Client.source_name),
    ClientBaseBy.OWNER: (Client.owner_id, None),
    ClientBaseBy.DEPARTMENT: (Client.department_id, None),
    ClientBaseBy.STATUS: (Client.status, None),
}


async def client_base(
    session: AsyncSession, caller: Caller, by: ClientBaseBy, *, status: str | None, owner_id: uuid.UUID | None
) -> schemas.ClientBaseReport:
    key, label = _CLIENT_KEYS[by]
    # Grouped by id only: cards not updated since a region was renamed still carry the old name.
    stmt = (
        select(key, func.max(label) if label is not None else null(), func.count())
        .where(*IN_BASE, *seen_clients(caller))
        .group_by(key)
    )
    if status is not None:
        stmt = stmt.where(Client.status == status)
    if owner_id is not None:
        stmt = stmt.where(Client.owner_id == owner_id)
    rows = [schemas.ClientBaseRow(key=key_of(k), name=n, clients=c) for k, n, c in (await session.execute(stmt)).all()]
    return schemas.ClientBaseReport(by=by, rows=ordered(rows, "clients"), total=sum(r.clients for r in rows))
