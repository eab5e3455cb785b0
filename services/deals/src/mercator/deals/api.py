"""HTTP routes of the deals service: translate, call one use case, translate back."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from mercator.common.errors import InvalidValue
from mercator.common.http.deps import CurrentUser, SessionDep, UowDep
from mercator.common.http.peers import Peer
from mercator.common.pagination import Page
from mercator.common.versions import etag, expected_version
from mercator.deals import board, deals, domain, lost_reasons, moves, offers, pipelines, products, schemas, timeline
from mercator.deals.clients import ClientCheck
from mercator.deals.domain import DealStatus
from mercator.deals.tables import Deal, Pipeline, Product

router = APIRouter(prefix="/api/v1")
IfMatch = Annotated[str | None, Header(alias="If-Match")]
Limit = Annotated[int, Query(ge=1, le=200)]


def client_check(request: Request) -> ClientCheck:
    return ClientCheck(Peer("contacts", request.app.state.contacts_http, request.headers.get("authorization")))


Clients = Annotated[ClientCheck, Depends(client_check)]


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


def _pipeline(row: Pipeline, model: domain.Pipeline) -> schemas.PipelinePublic:
    return schemas.PipelinePublic(
        id=row.id,
        name=row.name,
        is_default=row.is_default,
        stages=[
            schemas.StagePublic(
                code=s.code,
                name=s.name,
                position=s.position,
                probability=s.probability,
                stalled_after_days=s.stalled_after_days,
                kind=s.kind,
                require_to_enter=sorted(s.require_to_enter),
                require_to_leave=sorted(s.require_to_leave),
            )
            for s in model.stages
        ],
    )


# --- deals ----------------------------------------------------------------------------------------


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


@router.get("/board", response_model=schemas.BoardPublic, tags=["deals"])
async def pipeline_board(
    session: SessionDep,
    caller: CurrentUser,
    pipeline_id: uuid.UUID | None = None,
    owner_id: uuid.UUID | None = None,
    department_id: uuid.UUID | None = None,
    as_of: Annotated[datetime | None, Query(description="the board as it stood then")] = None,
):
    """Deals by stage: counts, sums and weighted sums per currency, stalled deals flagged; only the deals
    the caller sees."""
    if as_of is not None and as_of.tzinfo is None:
        raise InvalidValue("naive_time", "a time must carry its UTC offset (RFC 3339)", "as_of")
    pipeline, columns, when = await board.board(
        session, caller, pipeline_id=pipeline_id, owner_id=owner_id, department_id=department_id, as_of=as_of
    )
    return schemas.BoardPublic(
        pipeline_id=pipeline.id,
        as_of=when,
        columns=[
            schemas.BoardColumnPublic(
                stage=c.stage.code,
                name=c.stage.name,
                probability=c.stage.probability,
                count=c.count,
                amounts=c.amounts,
                weighted=c.weighted,
                stalled=c.stalled,
                stalled_deal_ids=list(c.stalled_ids),
            )
            for c in columns
        ],
    )


@router.get("/board/cards", response_model=Page[schemas.BoardCardPublic], tags=["deals"])
async def board_cards(
    session: SessionDep,
    caller: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    cursor: str | None = None,
    pipeline_id: uuid.UUID | None = None,
    owner_id: uuid.UUID | None = None,
    department_id: uuid.UUID | None = None,
    stage: str | None = None,
):
    """The open deals on the board as lean cards (title, amount, owner and their name, stage, version, stalled),
    newest first, up to 5,000 a page: a board of thousands of deals in one or a few reads. Only the deals the
    caller sees."""
    rows, nxt = await board.board_cards(
        session,
        caller,
        pipeline_id=pipeline_id,
        owner_id=owner_id,
        department_id=department_id,
        stage=stage,
        limit=limit,
        cursor=cursor,
    )
    return Page(items=rows, next_cursor=nxt)


# --- configuration as data -------------------------------------------------------------------------


@router.get("/pipelines", response_model=list[schemas.PipelinePublic], tags=["pipelines"])
async def list_pipelines(session: SessionDep, _: CurrentUser):
    return [_pipeline(r, m) for r, m in await pipelines.list_pipelines(session)]


@router.post("/pipelines", status_code=201, response_model=schemas.PipelinePublic, tags=["pipelines"])
async def create_pipeline(body: schemas.PipelineCreate, uow: UowDep, caller: CurrentUser):
    """Another pipeline (say, per product line): stages with order, probability, stall threshold, requirements."""
    row, model = await pipelines.create_pipeline(uow, body, caller)
    return _pipeline(row, model)


@router.patch("/pipelines/{pipeline_id}/stages/{code}", response_model=schemas.PipelinePublic, tags=["pipelines"])
async def update_stage(pipeline_id: uuid.UUID, code: str, body: schemas.StageUpdate, uow: UowDep, caller: CurrentUser):
    """Rename a stage, reorder it, change its win probability, stall threshold or required fields."""
    row, model = await pipelines.update_stage(uow, pipeline_id, code, body, caller)
    return _pipeline(row, model)


@router.get("/lost-reasons", response_model=list[schemas.LostReasonPublic], tags=["lost reasons"])
async def list_lost_reasons(session: SessionDep, _: CurrentUser, include_inactive: bool = False):
    return await lost_reasons.list_lost_reasons(session, include_inactive)


@router.post("/lost-reasons", status_code=201, response_model=schemas.LostReasonPublic, tags=["lost reasons"])
async def add_lost_reason(body: schemas.LostReasonCreate, uow: UowDep, caller: CurrentUser):
    return await lost_reasons.add_lost_reason(uow, body, caller)


@router.patch("/lost-reasons/{reason_id}", response_model=schemas.LostReasonPublic, tags=["lost reasons"])
async def update_lost_reason(reason_id: uuid.UUID, body: schemas.LostReasonUpdate, uow: UowDep, caller: CurrentUser):
    return await lost_reasons.update_lost_reason(uow, reason_id, body, caller)


@router.get("/product-groups", response_model=list[schemas.ProductGroupPublic], tags=["products"])
async def list_groups(session: SessionDep, _: CurrentUser):
    return await products.list_groups(session)


@router.post("/product-groups", status_code=201, response_model=schemas.ProductGroupPublic, tags=["products"])
async def add_group(body: schemas.ProductGroupCreate, uow: UowDep, caller: CurrentUser):
    return await products.add_group(uow, body, caller)


@router.get("/products", response_model=Page[schemas.ProductPublic], tags=["products"])
async def list_products(
    session: SessionDep,
    _: CurrentUser,
    limit: Limit = 50,
    cursor: str | None = None,
    group_id: uuid.UUID | None = None,
    include_inactive: bool = False,
):
    """The catalogue by code; a group includes its subgroups."""
    rows, nxt = await products.list_products(
        session, group_id=group_id, include_inactive=include_inactive, limit=limit, cursor=cursor
    )
    return Page(items=[schemas.ProductPublic.model_validate(r, from_attributes=True) for r in rows], next_cursor=nxt)


@router.post("/products", status_code=201, response_model=schemas.ProductPublic, tags=["products"])
async def create_product(body: schemas.ProductCreate, uow: UowDep, caller: CurrentUser, response: Response):
    row: Product = await products.create_product(uow, body, caller)
    response.headers["ETag"] = etag(row.version)
    return schemas.ProductPublic.model_validate(row, from_attributes=True)


@router.patch("/products/{product_id}", response_model=schemas.ProductPublic, tags=["products"])
async def update_product(
    product_id: uuid.UUID,
    body: schemas.ProductUpdate,
    uow: UowDep,
    caller: CurrentUser,
    response: Response,
    if_match: IfMatch = None,
):
    row = await products.update_product(uow, product_id, body, expected_version(if_match, required=False), caller)
    response.headers["ETag"] = etag(row.version)
    return schemas.ProductPublic.model_validate(row, from_attributes=True)
