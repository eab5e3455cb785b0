"""Routes of deliveries (waybills)."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter

from mercator.billing import deliveries, schemas
from mercator.billing.api.deps import Deals, TimeZone
from mercator.common.http.deps import CurrentUser, SessionDep, UowDep

router = APIRouter()


@router.get("/deliveries", response_model=list[schemas.DeliveryRow], tags=["deliveries"])
async def list_deliveries(
    session: SessionDep,
    caller: CurrentUser,
    company_id: uuid.UUID | None = None,
    deal_id: uuid.UUID | None = None,
    status: Literal["shipped", "delivered"] | None = None,
) -> list[schemas.DeliveryRow]:
    """By shipping date. Only what the caller sees."""
    rows = await deliveries.list_deliveries(session, caller, company_id=company_id, deal_id=deal_id, status=status)
    return [schemas.DeliveryRow.model_validate(r, from_attributes=True) for r in rows]


@router.post("/deliveries", status_code=201, response_model=schemas.DeliveryPublic, tags=["deliveries"])
async def ship(
    body: schemas.DeliveryCreate, uow: UowDep, time_zone: TimeZone, caller: CurrentUser, deals: Deals
) -> schemas.DeliveryPublic:
    """Goods shipped under a waybill, on the waybill's date (not after today)."""
    return schemas.DeliveryPublic.model_validate(
        await deliveries.ship(uow, body, caller, deals, time_zone), from_attributes=True
    )


@router.post("/deliveries/{delivery_id}/delivered", response_model=schemas.DeliveryPublic, tags=["deliveries"])
async def delivered(
    delivery_id: uuid.UUID, body: schemas.DeliveredIn, uow: UowDep, caller: CurrentUser
) -> schemas.DeliveryPublic:
    return schemas.DeliveryPublic.model_validate(
        await deliveries.mark_delivered(uow, delivery_id, body.delivered_on, caller), from_attributes=True
    )
