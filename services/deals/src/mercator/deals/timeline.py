"""A deal's timeline: its transitions, interest ratings, offers and proposals as they were kept."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.money import quantize
from mercator.deals.deals import get_deal
from mercator.deals.tables import Offer, Proposal, Rating, Transition, plain

_ORDER = {"transition": 0, "interest_rating": 1, "offer": 2, "proposal": 3}


async def timeline(session: AsyncSession, deal_id: uuid.UUID, caller: Caller) -> list[dict[str, Any]]:
    """In the order they happened; at the same moment a move comes before what was done at its stage."""
    deal = await get_deal(session, deal_id, caller)
    items: list[dict[str, Any]] = []
    for t in (await session.execute(select(Transition).where(Transition.deal_id == deal_id))).scalars():
        items.append(
            {
                "type": "transition",
                "at": t.at,
                "id": str(t.id),
                "kind": t.kind,
                "from_stage": t.from_stage,
                "to_stage": t.to_stage,
                "seconds_in_previous": t.seconds_in_previous,
                "author_id": t.author_id,
                "comment": t.comment,
                "cause": t.cause,
            }
        )
    for r in (await session.execute(select(Rating).where(Rating.deal_id == deal_id))).scalars():
        items.append(
            {
                "type": "interest_rating",
                "at": r.at,
                "id": str(r.id),
                "rating": r.rating,
                "comment": r.comment,
                "author_id": r.author_id,
            }
        )
    for o in (await session.execute(select(Offer).where(Offer.deal_id == deal_id))).scalars():
        items.append(
            {
                "type": "offer",
                "at": o.made_at,
                "id": str(o.id),
                "side": o.side,
                "amount": quantize(o.amount, deal.currency),
                "discount_percent": plain(o.discount_percent),
                "valid_until": o.valid_until,
                "status": o.status,
                "comment": o.comment,
                "author_id": o.author_id,
            }
        )
    for p in (await session.execute(select(Proposal).where(Proposal.deal_id == deal_id))).scalars():
        items.append(
            {
                "type": "proposal",
                "at": p.sent_at,
                "id": str(p.id),
                "documents": p.documents,
                "recipient_person_ids": p.recipient_person_ids,
                "channel": p.channel,
                "author_id": p.author_id,
            }
        )
    return sorted(items, key=lambda i: (i["at"], _ORDER[i["type"]], i["id"]))
