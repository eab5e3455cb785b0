"""Price offers on a deal: ours and the client's counter-offers, one standing at a time, one accepted."""

from __future__ import annotations

import uuid

from mercator.common.auth import Caller
from mercator.common.uow import UnitOfWork
from mercator.deals import domain, schemas
from mercator.deals.deals import happened_at, held


async def make_offer(uow: UnitOfWork, deal_id: uuid.UUID, data: schemas.OfferCreate, caller: Caller) -> domain.Offer:
    deals, deal = await held(uow, deal_id, caller)
    at = happened_at(caller, deal, data.at)
    offer = deal.make_offer(
        uuid.uuid4(),
        data.side,
        data.amount,
        data.discount_percent,
        data.valid_until,
        data.comment,
        at,
        caller.user_id,
        today=at.date(),
    )
    await deals.save(deal)
    return offer


async def accept_offer(
    uow: UnitOfWork, deal_id: uuid.UUID, offer_id: uuid.UUID, caller: Caller, data: schemas.Accept | None = None
) -> domain.Deal:
    deals, deal = await held(uow, deal_id, caller)
    given = data.at if data is not None else None
    at = happened_at(caller, deal, given)
    deal.accept_offer(offer_id, today=at.date(), at=at)
    await deals.save(deal)
    return deal
