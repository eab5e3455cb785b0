"""The board: a pipeline's deals by stage (now or as they stood on a past date), and its cards."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.clock import now
from mercator.common.errors import InvalidValue
from mercator.common.money import quantize
from mercator.common.pagination import keyset_page
from mercator.deals import domain, repository
from mercator.deals.deals import seen
from mercator.deals.tables import Deal, Transition, User


async def board(
    session: AsyncSession,
    caller: Caller,
    *,
    pipeline_id: uuid.UUID | None,
    owner_id: uuid.UUID | None,
    department_id: uuid.UUID | None,
    as_of: datetime | None,
) -> tuple[domain.Pipeline, list[domain.BoardColumn], datetime]:
    stmt = seen(select(Deal), caller)  # first: marketing and support get 403 before anything is read
    pipeline_id = pipeline_id or await repository.default_pipeline_id(session)
    pipeline = await repository.pipeline(session, pipeline_id)
    stmt = stmt.where(Deal.pipeline_id == pipeline_id)
    if owner_id is not None:
        stmt = stmt.where(Deal.owner_id == owner_id)
    if department_id is not None:
        stmt = stmt.where(Deal.department_id == department_id)
    deals = {d.id: d for d in (await session.execute(stmt)).scalars()}
    if as_of is None:
        cards = [domain.BoardDeal(d.id, d.stage_code, d.amount, d.currency, d.entered_stage_at) for d in deals.values()]
        when = now()
    else:
        # The pipeline as it stood then, rebuilt from the kept transitions (amounts as they are now).
        rows = (
            await session.execute(
                select(Transition)
                .where(Transition.deal_id.in_(deals), Transition.at <= as_of)
                .order_by(Transition.at, Transition.id)
            )
        ).scalars()
        kept = [(t.deal_id, repository.as_domain(t)) for t in rows]
        cards = [
            domain.BoardDeal(deal_id, at.stage_code, deals[deal_id].amount, deals[deal_id].currency, at.entered_at)
            for deal_id, at in domain.stages_as_of(kept, as_of).items()
        ]
        when = as_of
    return pipeline, domain.board(pipeline, cards, when), when


async def board_cards(
    session: AsyncSession,
    caller: Caller,
    *,
    pipeline_id: uuid.UUID | None,
    owner_id: uuid.UUID | None,
    department_id: uuid.UUID | None,
    stage: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """The open deals of a pipeline as the board's cards: only the columns a card shows, the owner's name from
    the users replica, the stalled flag by the stage's threshold; the same sight as every list."""
    stmt = seen(
        select(
            Deal.id,
            Deal.title,
            Deal.amount,
            Deal.currency,
            Deal.owner_id,
            User.name.label("owner_name"),
            Deal.stage_code,
            Deal.version,
            Deal.entered_stage_at,
            Deal.opened_at,
        ).outerjoin(User, User.user_id == Deal.owner_id),
        caller,
    )
    pipeline_id = pipeline_id or await repository.default_pipeline_id(session)
    pipeline = await repository.pipeline(session, pipeline_id)
    stages = {s.code: s for s in pipeline.stages}
    if stage is not None and stage not in stages:
        raise InvalidValue("unknown_stage", f"the pipeline has no stage {stage!r}", "stage")
    stmt = stmt.where(Deal.pipeline_id == pipeline_id, Deal.status == domain.DealStatus.OPEN.value)
    for column, value in ((Deal.owner_id, owner_id), (Deal.department_id, department_id), (Deal.stage_code, stage)):
        if value is not None:
            stmt = stmt.where(column == value)
    rows, nxt = await keyset_page(
        session, stmt, (Deal.opened_at, Deal.id), limit, cursor, descending=True, rows_of_columns=True
    )
    when = now()
    return [
        {
            "id": r.id,
            "title": r.title,
            "amount": None if r.amount is None else quantize(r.amount, r.currency),
            "currency": r.currency,
            "owner_id": r.owner_id,
            "owner_name": r.owner_name,
            "stage": r.stage_code,
            "version": r.version,
            "stalled": r.stage_code in stages and domain.is_stalled(stages[r.stage_code], r.entered_stage_at, when),
        }
        for r in rows
    ], nxt
