"""Routes of a deal: open, read, edit, reassign, move, rate, propose, offer, accept, win, lose, reopen, timeline."""

from __future__ import annotations

import uuid
from dataclasses import asdict

from fastapi import APIRouter, Response

from mercator.common.http.deps import CurrentUser, SessionDep, UowDep
from mercator.common.pagination import Page
from mercator.common.versions import etag, expected_version
from mercator.deals import deals, domain, moves, offers, schemas, timeline
from mercator.deals.api.deps import Clients, IfMatch, Limit
from mercator.deals.domain import DealStatus
from mercator.deals.tables import Deal

router = APIRouter()


def _summary(row: Deal) -> schemas.DealPublic:
    """A deal in a list: its row alone, without lines, offers or a weighted amount."""
    return schemas.DealPublic(
        id=row.id,
        title=row.title,
        company_id=row.company_id,
        owner_id=row.owner_id,
        department_id=row.department_id,
        pipeline_id=row.pipeline_id,
        stage=row.stage_code,
        status=row.status,
        amount=row.amount,
        weighted_amount=None,
        currency=row.currency,
        expected_close_date=row.expected_close_date,
        source_id=row.source_id,
        marketing_event_id=row.marketing_event_id,
        interest_rating=row.interest_rating,
        lost_reason=row.lost_reason,
        lost_at_stage=row.lost_at_stage,
        entered_stage_at=row.entered_stage_at,
        opened_at=row.opened_at,
        closed_at=row.closed_at,
        version=row.version,
    )


def _deal(deal: domain.Deal, response: Response) -> schemas.DealPublic:
    """A deal as a use case left it (the reply to a change is built from what was saved, not read again)."""
    response.headers["ETag"] = etag(deal.version)
    return schemas.DealPublic(
        id=deal.id,
        title=deal.title,
        company_id=deal.company_id,
        owner_id=deal.owner_id,
        department_id=deal.department_id,
        pipeline_id=deal.pipeline.id,
        stage=deal.stage_code,
        status=deal.status.value,
        amount=deal.amount,
        weighted_amount=deal.weighted_amount(),
        currency=deal.currency,
        expected_close_date=deal.expected_close_date,
        source_id=deal.source_id,
        marketing_event_id=deal.marketing_event_id,
        interest_rating=deal.interest_rating,
        lost_reason=deal.lost_reason,
        lost_at_stage=deal.lost_at_stage,
        entered_stage_at=deal.entered_stage_at,
        opened_at=deal.opened_at,
        closed_at=deal.closed_at,
        version=deal.version,
        lines=[
            schemas.DealLinePublic(
                product_id=line.product_id,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount_percent=line.discount_percent,
                total=line.total(deal.currency),
            )
            for line in deal.lines
        ],
        offers=[_offer(o) for o in deal.offers],
    )


def _offer(offer: domain.Offer) -> schemas.OfferPublic:
    return schemas.OfferPublic.model_validate(offer, from_attributes=True)


@router.post("/deals", status_code=201, response_model=schemas.DealPublic, tags=["deals"])
async def open_deal(body: schemas.DealCreate, uow: UowDep, caller: CurrentUser, clients: Clients, response: Response):
    """Open a deal on a client card; it starts at the pipeline's first stage unless `stage` says otherwise."""
    deal = await deals.open_deal(uow, body, caller, clients)
    response.headers["Location"] = f"/api/v1/deals/{deal.id}"
    return _deal(deal, response)


@router.get("/deals", response_model=Page[schemas.DealPublic], tags=["deals"])
async def list_deals(
    session: SessionDep,
    caller: CurrentUser,
    limit: Limit = 50,
    cursor: str | None = None,
    owner_id: uuid.UUID | None = None,
    department_id: uuid.UUID | None = None,
    company_id: uuid.UUID | None = None,
    pipeline_id: uuid.UUID | None = None,
    stage: str | None = None,
    status: DealStatus | None = None,
):
    """Newest first."""
    rows, nxt = await deals.list_deals(
        session,
        caller,
        owner_id=owner_id,
        department_id=department_id,
        company_id=company_id,
        pipeline_id=pipeline_id,
        stage=stage,
        status=status.value if status else None,
        limit=limit,
        cursor=cursor,
    )
    return Page(items=[_summary(r) for r in rows], next_cursor=nxt)


@router.get("/deals/{deal_id}", response_model=schemas.DealPublic, tags=["deals"])
async def get_deal(deal_id: uuid.UUID, session: SessionDep, caller: CurrentUser, response: Response):
    return _deal(await deals.get_deal(session, deal_id, caller), response)


@router.patch("/deals/{deal_id}", response_model=schemas.DealPublic, tags=["deals"])
async def update_deal(
    deal_id: uuid.UUID,
    body: schemas.DealUpdate,
    uow: UowDep,
    caller: CurrentUser,
    response: Response,
    if_match: IfMatch = None,
):
    deal = await deals.update_deal(uow, deal_id, body, expected_version(if_match), caller)
    return _deal(deal, response)


@router.post("/deals/{deal_id}/reassign", response_model=schemas.DealPublic, tags=["deals"])
async def reassign_deal(
    deal_id: uuid.UUID,
    body: schemas.DealReassign,
    uow: UowDep,
    caller: CurrentUser,
    response: Response,
    if_match: IfMatch = None,
):
    """To someone the caller sees: a head within their departments; executives and admins to anyone."""
    deal = await deals.reassign_deal(uow, deal_id, body, expected_version(if_match, required=False), caller)
    return _deal(deal, response)


@router.post("/deals/{deal_id}/moves", response_model=schemas.DealPublic, tags=["deals"])
async def move_deal(
    deal_id: uuid.UUID,
    body: schemas.Move,
    uow: UowDep,
    caller: CurrentUser,
    response: Response,
    if_match: IfMatch = None,
):
    """Move to any open stage: forward, back or skipping. Kept with its time, author and comment."""
    deal = await moves.move_deal(uow, deal_id, body, caller, expected_version(if_match, required=False))
    return _deal(deal, response)


@router.post("/deals/{deal_id}/interest", response_model=schemas.DealPublic, tags=["deals"])
async def rate_interest(
    deal_id: uuid.UUID, body: schemas.InterestRating, uow: UowDep, caller: CurrentUser, response: Response
):
    """Rate the client's interest at the demo, 1 to 5."""
    deal = await deals.rate_interest(uow, deal_id, body, caller)
    return _deal(deal, response)


@router.post("/deals/{deal_id}/proposals", status_code=201, response_model=schemas.ProposalPublic, tags=["deals"])
async def send_proposal(
    deal_id: uuid.UUID, body: schemas.ProposalCreate, uow: UowDep, caller: CurrentUser, clients: Clients
):
    """Send the technical proposal to contact persons of the client: the documents go out through the
    notifications service."""
    proposal = await deals.send_proposal(uow, deal_id, body, caller, clients)
    return schemas.ProposalPublic(deal_id=deal_id, **asdict(proposal))


@router.post("/deals/{deal_id}/offers", status_code=201, response_model=schemas.OfferPublic, tags=["deals"])
async def make_offer(deal_id: uuid.UUID, body: schemas.OfferCreate, uow: UowDep, caller: CurrentUser):
    """Record a price offer, ours or the client's counter-offer; the standing open offer is superseded."""
    return _offer(await offers.make_offer(uow, deal_id, body, caller))


@router.post("/deals/{deal_id}/offers/{offer_id}/accept", response_model=schemas.DealPublic, tags=["deals"])
async def accept_offer(
    deal_id: uuid.UUID,
    offer_id: uuid.UUID,
    uow: UowDep,
    caller: CurrentUser,
    response: Response,
    body: schemas.Accept | None = None,
):
    """Accept an offer: its net amount becomes the deal's amount, and the deal's lines are re-priced to it pro rata."""
    deal = await offers.accept_offer(uow, deal_id, offer_id, caller, body)
    return _deal(deal, response)


@router.post("/deals/{deal_id}/win", response_model=schemas.DealPublic, tags=["deals"])
async def win_deal(deal_id: uuid.UUID, body: schemas.Close, uow: UowDep, caller: CurrentUser, response: Response):
    deal = await moves.win_deal(uow, deal_id, body, caller)
    return _deal(deal, response)


@router.post("/deals/{deal_id}/lose", response_model=schemas.DealPublic, tags=["deals"])
async def lose_deal(deal_id: uuid.UUID, body: schemas.Lose, uow: UowDep, caller: CurrentUser, response: Response):
    """Close as lost, with a reason from the dictionary; the stage it was lost at is recorded by itself."""
    deal = await moves.lose_deal(uow, deal_id, body, caller)
    return _deal(deal, response)


@router.post("/deals/{deal_id}/reopen", response_model=schemas.DealPublic, tags=["deals"])
async def reopen_deal(deal_id: uuid.UUID, body: schemas.Reopen, uow: UowDep, caller: CurrentUser, response: Response):
    deal = await moves.reopen_deal(uow, deal_id, body, caller)
    return _deal(deal, response)


@router.get("/deals/{deal_id}/timeline", response_model=list[schemas.TimelineItem], tags=["deals"])
async def deal_timeline(deal_id: uuid.UUID, session: SessionDep, caller: CurrentUser):
    """Transitions, interest ratings, offers and proposals, in the order they happened."""
    return await timeline.timeline(session, deal_id, caller)
