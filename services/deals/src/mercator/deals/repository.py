"""Loads a deal aggregate from its rows and writes its changes back (the domain knows no tables)."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.errors import NotFound
from mercator.common.money import quantize
from mercator.common.visibility import Sight
from mercator.deals import domain
from mercator.deals.tables import (
    Deal,
    DealLine,
    Offer,
    Pipeline,
    Stage,
    Transition,
    plain,
)


async def pipeline(session: AsyncSession, pipeline_id: uuid.UUID) -> domain.Pipeline:
    row = await session.get(Pipeline, pipeline_id)
    if row is None:
        raise NotFound(f"no pipeline {pipeline_id}")
    stages = (
        await session.execute(select(Stage).where(Stage.pipeline_id == pipeline_id).order_by(Stage.position))
    ).scalars()
    return domain.Pipeline(
        row.id,
        row.name,
        tuple(
            domain.Stage(
                s.code,
                s.name,
                s.position,
                plain(s.probability),
                s.stalled_after_days,
                domain.StageKind(s.kind),
                frozenset(domain.Requirement(r) for r in s.require_to_enter),
                frozenset(domain.Requirement(r) for r in s.require_to_leave),
            )
            for s in stages
        ),
    )


async def default_pipeline_id(session: AsyncSession) -> uuid.UUID:
    found = await session.scalar(select(Pipeline.id).where(Pipeline.is_default.is_(True), Pipeline.active.is_(True)))
    if found is None:
        raise NotFound("no default pipeline")
    return found


def visible(sight: Sight) -> ColumnElement[bool] | None:
    """The deals a caller's sight takes in, as a WHERE clause; None when it takes in every deal."""
    if sight.everything:
        return None
    return or_(Deal.owner_id == sight.owner_id, Deal.department_id.in_(sight.departments))


async def load(
    session: AsyncSession, deal_id: uuid.UUID, *, sight: Sight | None, lock: bool = False
) -> tuple[Deal, domain.Deal]:
    """`sight=None` only for what no caller does (billing's facts moving a deal by themselves)."""
    stmt = select(Deal).where(Deal.id == deal_id)
    if lock:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    # Someone else's deal answers exactly like a missing one: ids are not probed.
    if row is None or (sight is not None and not sight.sees(row.owner_id, row.department_id)):
        raise NotFound(f"no deal {deal_id}")
    lines = (await session.execute(select(DealLine).where(DealLine.deal_id == deal_id).order_by(DealLine.id))).scalars()
    offers = (
        await session.execute(select(Offer).where(Offer.deal_id == deal_id).order_by(Offer.made_at, Offer.id))
    ).scalars()
    model = domain.Deal(
        id=row.id,
        pipeline=await pipeline(session, row.pipeline_id),
        stage_code=row.stage_code,
        status=domain.DealStatus(row.status),
        currency=row.currency,
        amount=row.amount,
        expected_close_date=row.expected_close_date,
        entered_stage_at=row.entered_stage_at,
        interest_rating=row.interest_rating,
        lines=[
            domain.DealLine(
                l.product_id,
                plain(l.quantity),
                quantize(l.unit_price, row.currency),
                plain(l.discount_percent),
                None if l.agreed_total is None else quantize(l.agreed_total, row.currency),
            )
            for l in lines
        ],
        offers=[
            domain.Offer(
                o.id,
                domain.OfferSide(o.side),
                quantize(o.amount, row.currency),
                plain(o.discount_percent),
                o.valid_until,
                o.comment,
                o.made_at,
                o.author_id,
                domain.OfferStatus(o.status),
            )
            for o in offers
        ],
        lost_reason=row.lost_reason,
        lost_at_stage=row.lost_at_stage,
        closed_at=row.closed_at,
        closed_from_stage=row.closed_from_stage,
    )
    return row, model


def copy_state(row: Deal, model: domain.Deal) -> None:
    """The aggregate's state onto its row (the row's own fields — title, owner — are the service's)."""
    row.stage_code = model.stage_code
    row.status = model.status.value
    row.amount = model.amount
    row.expected_close_date = model.expected_close_date
    row.entered_stage_at = model.entered_stage_at
    row.interest_rating = model.interest_rating
    row.lost_reason = model.lost_reason
    row.lost_at_stage = model.lost_at_stage
    row.closed_at = model.closed_at
    row.closed_from_stage = model.closed_from_stage


async def save_lines(session: AsyncSession, deal_id: uuid.UUID, lines: list[domain.DealLine]) -> None:
    await session.execute(delete(DealLine).where(DealLine.deal_id == deal_id))
    session.add_all(
        DealLine(
            deal_id=deal_id,
            product_id=l.product_id,
            quantity=l.quantity,
            unit_price=l.unit_price,
            discount_percent=l.discount_percent,
            agreed_total=l.agreed_total,
        )
        for l in lines
    )


async def save_offers(session: AsyncSession, deal_id: uuid.UUID, offers: list[domain.Offer]) -> None:
    existing = {o.id: o for o in (await session.execute(select(Offer).where(Offer.deal_id == deal_id))).scalars()}
    for o in offers:
        row = existing.get(o.id)
        if row is None:
            session.add(
                Offer(
                    id=o.id,
                    deal_id=deal_id,
                    side=o.side.value,
                    amount=o.amount,
                    discount_percent=o.discount_percent,
                    valid_until=o.valid_until,
                    comment=o.comment,
                    made_at=o.made_at,
                    author_id=o.author_id,
                    status=o.status.value,
                )
            )
        else:
            row.status = o.status.value


def add_transition(session: AsyncSession, deal_id: uuid.UUID, t: domain.Transition) -> None:
    session.add(
        Transition(
            deal_id=deal_id,
            from_stage=t.from_stage,
            to_stage=t.to_stage,
            at=t.at,
            seconds_in_previous=t.seconds_in_previous,
            author_id=t.author_id,
            comment=t.comment,
            kind=str(t.kind),
            cause=t.cause,
        )
    )


def as_domain(t: Transition) -> domain.Transition:
    return domain.Transition(
        t.from_stage, t.to_stage, t.at, t.seconds_in_previous, t.author_id, t.comment, t.kind, t.cause
    )
