"""Routes of the lost reasons' dictionary."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from mercator.common.http.deps import CurrentUser, SessionDep, UowDep
from mercator.deals import lost_reasons, schemas

router = APIRouter()


@router.get("/lost-reasons", response_model=list[schemas.LostReasonPublic], tags=["lost reasons"])
async def list_lost_reasons(session: SessionDep, _: CurrentUser, include_inactive: bool = False):
    return await lost_reasons.list_lost_reasons(session, include_inactive)


@router.post("/lost-reasons", status_code=201, response_model=schemas.LostReasonPublic, tags=["lost reasons"])
async def add_lost_reason(body: schemas.LostReasonCreate, uow: UowDep, caller: CurrentUser):
    return await lost_reasons.add_lost_reason(uow, body, caller)


@router.patch("/lost-reasons/{reason_id}", response_model=schemas.LostReasonPublic, tags=["lost reasons"])
async def update_lost_reason(reason_id: uuid.UUID, body: schemas.LostReasonUpdate, uow: UowDep, caller: CurrentUser):
    return await lost_reasons.update_lost_reason(uow, reason_id, body, caller)
