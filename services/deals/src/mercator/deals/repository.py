"""The deals' store: a Deal aggregate from its rows and back, in this one place (the domain knows no tables)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.clock import now
from mercator.common.errors import NotFound
from mercator.common.money import quantize
from mercator.common.uow import UnitOfWork
from mercator.common.visibility import Sight
from mercator.deals import domain, events, tables
from mercator.deals.tables import plain

# The deal's own columns, the same on its row and in the aggregate.
_STATE = (
    "stage_code",
    "amount",
    "expected_close_date",
    "entered_stage_at",
    "interest_rating",
    "lost_reason_id",
    "lost_reason",
    "lost_at_stage",
    "closed_at",
    "closed_from_stage",
    "title",
    "company_id",
    "owner_id",
    "department_id",
    "source_id",
    "marketing_event_id",
    "opened_at",
    "version",
)
_OFFER = ("id", "amount", "discount_percent", "valid_until", "comment", "made_at", "author_id")


async def pipeline(session: AsyncSession, pipeline_id: uuid.UUID) -> domain.Pipeline:
    """A pipeline with its stages, in one read."""
    rows = (
        await session.execute(
            select(tables.Pipeline, tables.Stage)
            .join(tables.Stage, tables.Stage.pipeline_id == tables.Pipeline.id)
            .where(tables.Pipeline.id == pipeline_id)
            .order_by(tables.Stage.position)
        )
    ).all()
    if not rows:
        raise NotFound(f"no pipeline {pipeline_id}")
    return domain.Pipeline(rows[0][0].id, rows[0][0].name, tuple(_stage(s) for _, s in rows))


def _stage(s: tables.Stage) -> domain.Stage:
    return domain.Stage(
        s.code,
        s.name,
        s.position,
        plain(s.probability),
        s.stalled_after_days,
        domain.StageKind(s.kind),
        frozenset(domain.Requirement(r) for r in s.require_to_enter),
        frozenset(domain.Requirement(r) for r in s.require_to_leave),
    )


def stage_row(pipeline_id: uuid.UUID, s: domain.Stage, row: tables.Stage | None = None) -> tables.Stage:
    """A stage onto its row: a new one, or the `row` it already has."""
    row = row or tables.Stage(id=uuid.uuid4(), pipeline_id=pipeline_id, code=s.code)
    row.name, row.position, row.probability = s.name, s.position, s.probability
    row.stalled_after_days, row.kind = s.stalled_after_days, s.kind.value
    row.require_to_enter = sorted(r.value for r in s.require_to_enter)
    row.require_to_leave = sorted(r.value for r in s.require_to_leave)
    return row


async def default_pipeline_id(session: AsyncSession) -> uuid.UUID:
    found = await session.scalar(
        select(tables.Pipeline.id).where(tables.Pipeline.is_default.is_(True), tables.Pipeline.active.is_(True))
    )
    if found is None:
        raise NotFound("no default pipeline")
    return found


def visible(sight: Sight) -> ColumnElement[bool] | None:
    """The deals a caller's sight takes in, as a WHERE clause; None when it takes in every deal."""
    if sight.everything:
        return None
    return or_(tables.Deal.owner_id == sight.owner_id, tables.Deal.department_id.in_(sight.departments))


def as_domain(t: tables.Transition) -> domain.Transition:
    return domain.Transition(
        t.from_stage, t.to_stage, t.at, t.seconds_in_previous, t.author_id, t.comment, t.kind, t.cause
    )


class Deals:
    """Loads a deal once, with its lines, offers and pipeline, and saves what changed: the row, the lines when
    they changed, the offers, the history its facts add (transitions, ratings, proposals), and the facts
    themselves as events (`events.publish`)."""

    def __init__(self, session: AsyncSession, uow: UnitOfWork | None = None):
        self.session = session
        self.uow = uow
        self._rows: dict[uuid.UUID, tables.Deal] = {}
        self._lines: dict[uuid.UUID, list[domain.DealLine]] = {}
        self._offers: dict[uuid.UUID, dict[uuid.UUID, tables.Offer]] = {}

    @classmethod
    def of(cls, uow: UnitOfWork) -> Deals:
        return cls(uow.session, uow)

    async def get(self, deal_id: uuid.UUID, *, sight: Sight | None, lock: bool = True) -> domain.Deal:
        """`sight=None` only for what no caller does (billing's facts moving a deal by themselves)."""
        stmt = select(tables.Deal).where(tables.Deal.id == deal_id)
        row = (await self.session.execute(stmt.with_for_update() if lock else stmt)).scalar_one_or_none()
        # Someone else's deal answers exactly like a missing one: ids are not probed.
        if row is None or (sight is not None and not sight.sees(row.owner_id, row.department_id)):
            raise NotFound(f"no deal {deal_id}")
        line_rows = await self.session.execute(
            select(tables.DealLine).where(tables.DealLine.deal_id == deal_id).order_by(tables.DealLine.id)
        )
        offer_rows = list(
            (
                await self.session.execute(
                    select(tables.Offer)
                    .where(tables.Offer.deal_id == deal_id)
                    .order_by(tables.Offer.made_at, tables.Offer.id)
                )
            ).scalars()
        )
        deal = domain.Deal(
            id=row.id,
            pipeline=await pipeline(self.session, row.pipeline_id),
            status=domain.DealStatus(row.status),
            currency=row.currency,
            lines=[_line(line, row.currency) for line in line_rows.scalars()],
            offers=[_offer(o, row.currency) for o in offer_rows],
            **{name: getattr(row, name) for name in _STATE},
        )
        self._rows[deal.id] = row
        self._lines[deal.id] = list(deal.lines)
        self._offers[deal.id] = {o.id: o for o in offer_rows}
        return deal

    async def add(self, deal: domain.Deal) -> None:
        """A deal just opened."""
        row = tables.Deal(id=deal.id, pipeline_id=deal.pipeline.id, currency=deal.currency, updated_at=deal.opened_at)
        self._rows[deal.id], self._lines[deal.id], self._offers[deal.id] = row, [], {}
        self._copy(deal, row)
        self.session.add(row)
        await self.session.flush()  # the deal's row before the rows that point at it
        await self._write(deal)

    async def save(self, deal: domain.Deal) -> None:
        """A deal loaded by `get` and changed: a new version of it."""
        row = self._rows[deal.id]
        deal.version += 1
        self._copy(deal, row)
        row.updated_at = now()
        await self._write(deal)

    async def path(self, deal_id: uuid.UUID) -> list[tables.Transition]:
        """The kept transitions of a deal in the order of time (a late fact is spliced into them)."""
        stmt = (
            select(tables.Transition)
            .where(tables.Transition.deal_id == deal_id)
            .order_by(tables.Transition.at, tables.Transition.id)
        )
        return list((await self.session.execute(stmt)).scalars())

    @staticmethod
    def _copy(deal: domain.Deal, row: tables.Deal) -> None:
        for name in _STATE:
            setattr(row, name, getattr(deal, name))
        row.status = deal.status.value

    async def _write(self, deal: domain.Deal) -> None:
        if self.uow is None:
            raise RuntimeError("deals read without a unit of work are not saved: their events would be lost")
        if deal.lines != self._lines[deal.id]:
            await self.session.execute(delete(tables.DealLine).where(tables.DealLine.deal_id == deal.id))
            self.session.add_all(_line_row(deal.id, line) for line in deal.lines)
            self._lines[deal.id] = list(deal.lines)
        offers = self._offers[deal.id]
        for o in deal.offers:
            if o.id in offers:
                offers[o.id].status = o.status.value
            else:
                offers[o.id] = _offer_row(deal.id, o)
                self.session.add(offers[o.id])
        self.session.add_all(r for fact in deal.events if (r := _kept(deal.id, fact)) is not None)
        events.publish(self.uow, deal)


def _line(line: tables.DealLine, currency: str) -> domain.DealLine:
    return domain.DealLine(
        line.product_id,
        plain(line.quantity),
        quantize(line.unit_price, currency),
        plain(line.discount_percent),
        None if line.agreed_total is None else quantize(line.agreed_total, currency),
    )


def _line_row(deal_id: uuid.UUID, line: domain.DealLine) -> tables.DealLine:
    return tables.DealLine(
        deal_id=deal_id,
        product_id=line.product_id,
        quantity=line.quantity,
        unit_price=line.unit_price,
        discount_percent=line.discount_percent,
        agreed_total=line.agreed_total,
    )


def _offer(o: tables.Offer, currency: str) -> domain.Offer:
    return domain.Offer(
        id=o.id,
        side=domain.OfferSide(o.side),
        amount=quantize(o.amount, currency),
        discount_percent=plain(o.discount_percent),
        valid_until=o.valid_until,
        comment=o.comment,
        made_at=o.made_at,
        author_id=o.author_id,
        status=domain.OfferStatus(o.status),
    )


def _offer_row(deal_id: uuid.UUID, o: domain.Offer) -> tables.Offer:
    fields: dict[str, Any] = {name: getattr(o, name) for name in _OFFER}
    return tables.Offer(deal_id=deal_id, side=o.side.value, status=o.status.value, **fields)


def _kept(deal_id: uuid.UUID, fact: domain.Fact) -> Any:
    """The row a fact adds to the deal's kept history, if it adds one."""
    match fact:
        case domain.Opened(t) | domain.StageChanged(t):
            return tables.Transition(
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
        case domain.InterestRated(rating, comment, at, author_id):
            return tables.Rating(deal_id=deal_id, rating=rating, comment=comment, at=at, author_id=author_id)
        case domain.ProposalSent(p):
            return tables.Proposal(
                id=p.id,
                deal_id=deal_id,
                documents=list(p.documents),
                recipient_person_ids=[str(r) for r in p.recipient_person_ids],
                channel=p.channel,
                message=p.message,
                sent_at=p.sent_at,
                author_id=p.author_id,
            )
    return None
