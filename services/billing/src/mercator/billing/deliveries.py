"""Deliveries: goods shipped under a waybill for a deal, and their arrival."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.billing import domain, events, repository, schemas
from mercator.billing.days import today
from mercator.billing.sight import Peer, billing_sight, deal_of, only_seen, sees
from mercator.billing.tables import Delivery
from mercator.common.auth import Caller
from mercator.common.errors import BadReference, NotFound
from mercator.common.uow import UnitOfWork


async def ship(
    uow: UnitOfWork, data: schemas.DeliveryCreate, caller: Caller, deals: Peer, time_zone: str = "UTC"
) -> Delivery:
    s = uow.session
    deal = await deal_of(s, data.deal_id, deals, billing_sight(caller, write=True))
    delivery = domain.Delivery.ship(
        uuid.uuid4(),
        deal.deal_id,
        data.waybill_number,
        data.shipped_on,
        [domain.DeliveryItem(i.product_id, i.quantity) for i in data.items],
        data.carrier,
        today=today(time_zone),
    )
    if await s.scalar(select(Delivery.id).where(Delivery.waybill_number == delivery.waybill_number)):
        raise BadReference(f"waybill {delivery.waybill_number} is recorded already", field="waybill_number")
    row = repository.delivery_row(delivery, deal.company_id)
    s.add(row)
    events.delivery_shipped(uow, delivery, deal.company_id, caller)
    return row


async def mark_delivered(uow: UnitOfWork, delivery_id: uuid.UUID, delivered_on: date, caller: Caller) -> Delivery:
    seen = billing_sight(caller, write=True)
    row = await uow.session.get(Delivery, delivery_id, with_for_update=True)
    if row is None or not await sees(uow.session, seen, row.deal_id, row.company_id):
        raise NotFound(f"no delivery {delivery_id}")
    delivery = repository.delivery(row)
    delivery.move_to(domain.DeliveryStatus.DELIVERED, delivered_on)
    repository.save_delivery(delivery, row)
    events.delivery_delivered(uow, delivery, row.company_id, caller)
    return row


async def list_deliveries(
    session: AsyncSession,
    caller: Caller,
    *,
    company_id: uuid.UUID | None,
    deal_id: uuid.UUID | None,
    status: str | None,
) -> list[Delivery]:
    stmt = only_seen(select(Delivery), billing_sight(caller), Delivery.deal_id, Delivery.company_id)
    for column, value in ((Delivery.company_id, company_id), (Delivery.deal_id, deal_id), (Delivery.status, status)):
        if value is not None:
            stmt = stmt.where(column == value)
    return list((await session.execute(stmt.order_by(Delivery.shipped_on, Delivery.id))).scalars())
