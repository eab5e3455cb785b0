"""HTTP routes of the analytics service: read-only reports over the projections."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from mercator.analytics import reports, schemas
from mercator.analytics.domain import ActivityBy, ClientBaseBy
from mercator.common import clock
from mercator.common.http.deps import CurrentUser, SessionDep
from mercator.common.pagination import Page

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
Limit = Annotated[int, Query(ge=1, le=200)]


@router.get("/client-base", response_model=schemas.ClientBaseReport)
async def client_base(
    session: SessionDep,
    caller: CurrentUser,
    by: ClientBaseBy,
    status: Annotated[str | None, Query(max_length=20)] = None,
    owner_id: uuid.UUID | None = None,
):
    """The client base sliced by region, industry, contact source, manager, status or department.
    Merged-away cards are not counted. Every report counts only the clients the caller sees: a manager
    their own, a head their department subtree; marketing, executives and admins the whole base."""
    return await reports.client_base(session, caller, by, status=status, owner_id=owner_id)


@router.get("/activity", response_model=schemas.ActivityReport)
async def activity(
    session: SessionDep,
    caller: CurrentUser,
    by: ActivityBy,
    start: Annotated[datetime | None, Query(alias="from", description="RFC 3339, inclusive")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="RFC 3339, exclusive")] = None,
):
    """History entries (meetings, calls, letters, ...) logged in the period, by author, kind or client."""
    return await reports.activity(session, caller, by, start=start, end=end)


@router.get("/inactive-clients", response_model=Page[schemas.InactiveClient])
async def inactive_clients(
    session: SessionDep,
    caller: CurrentUser,
    days: Annotated[int, Query(ge=1, le=3650)] = 30,
    owner_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
):
    """Clients with no history entry in the last `days` days (or none ever), longest silence first."""
    items, nxt = await reports.inactive_clients(
        session, caller, days=days, owner_id=owner_id, now=clock.now(), limit=limit, cursor=cursor
    )
    return Page(items=items, next_cursor=nxt)
