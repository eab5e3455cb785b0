"""HTTP routes of marketing events: translate, call one use case, translate back."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from mercator.common.http.deps import CurrentUser, SessionDep, UowDep
from mercator.common.pagination import Page
from mercator.common.versions import etag, expected_version
from mercator.contacts import domain, marketing, schemas
from mercator.contacts.tables import MarketingEvent, Participant

router = APIRouter(prefix="/api/v1/marketing-events", tags=["marketing events"])
IfMatch = Annotated[str | None, Header(alias="If-Match")]
Limit = Annotated[int, Query(ge=1, le=200)]


async def _public(session, caller, events: list[MarketingEvent]) -> list[schemas.MarketingEventPublic]:
    counts = await marketing.participant_counts(session, caller, [e.id for e in events])
    return [
        schemas.MarketingEventPublic(
            id=e.id,
            name=e.name,
            kind=e.kind,
            starts_on=e.starts_on,
            ends_on=e.ends_on,
            cost=None if e.cost is None else f"{e.cost:.2f}",
            currency=e.currency,
            organiser_id=e.organiser_id,
            department_id=e.department_id,
            template_id=e.template_id,
            offer=e.offer,
            description=e.description,
            audience_filter=e.audience_filter,
            participants=counts[e.id],
            created_at=e.created_at,
            updated_at=e.updated_at,
            version=e.version,
        )
        for e in events
    ]


def _participant(p: Participant, name: str) -> schemas.ParticipantPublic:
    return schemas.ParticipantPublic(
        company_id=p.company_id, company_name=name, status=p.status, added_at=p.added_at, updated_at=p.updated_at
    )


@router.post("", status_code=201, response_model=schemas.MarketingEventPublic)
async def create_event(body: schemas.MarketingEventCreate, uow: UowDep, caller: CurrentUser, response: Response):
    """Plan an exhibition, presentation, webinar or mailing (marketing, heads, executives, admins)."""
    event = await marketing.create_event(uow, body, caller)
    response.headers["Location"] = f"/api/v1/marketing-events/{event.id}"
    response.headers["ETag"] = etag(event.version)
    return (await _public(uow.session, caller, [event]))[0]


@router.get("", response_model=Page[schemas.MarketingEventPublic])
async def list_events(
    session: SessionDep,
    caller: CurrentUser,
    kind: domain.MarketingEventKind | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
):
    """Newest first."""
    items, nxt = await marketing.list_events(
        session, caller, kind=kind.value if kind else None, limit=limit, cursor=cursor
    )
    return Page(items=await _public(session, caller, items), next_cursor=nxt)


@router.get("/{event_id}", response_model=schemas.MarketingEventPublic)
async def get_event(event_id: uuid.UUID, session: SessionDep, caller: CurrentUser, response: Response):
    event = await marketing.get_event(session, event_id, caller)
    response.headers["ETag"] = etag(event.version)
    return (await _public(session, caller, [event]))[0]


@router.patch("/{event_id}", response_model=schemas.MarketingEventPublic)
async def update_event(
    event_id: uuid.UUID,
    body: schemas.MarketingEventUpdate,
    uow: UowDep,
    caller: CurrentUser,
    response: Response,
    if_match: IfMatch = None,
):
    """Change the fields sent. `If-Match` must carry the ETag you read: a stale one gets 412."""
    event = await marketing.update_event(uow, event_id, body, expected_version(if_match), caller)
    response.headers["ETag"] = etag(event.version)
    return (await _public(uow.session, caller, [event]))[0]


@router.get("/{event_id}/participants", response_model=Page[schemas.ParticipantPublic])
async def list_participants(
    event_id: uuid.UUID,
    session: SessionDep,
    caller: CurrentUser,
    status: domain.ParticipantStatus | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
):
    """The participating client cards the caller sees."""
    items, nxt = await marketing.list_participants(
        session, event_id, caller, status=status.value if status else None, limit=limit, cursor=cursor
    )
    return Page(items=[_participant(p, n) for p, n in items], next_cursor=nxt)


@router.post("/{event_id}/participants", response_model=schemas.ParticipantsAdded)
async def add_participants(event_id: uuid.UUID, body: schemas.ParticipantsAdd, uow: UowDep, caller: CurrentUser):
    """Add client cards by hand and/or every card of a filter of the client base (region, industry, source,
    status); the filter is saved on the event. Cards already taking part keep their status."""
    added, already = await marketing.add_participants(uow, event_id, body, caller)
    return schemas.ParticipantsAdded(added=added, already=already)


@router.patch("/{event_id}/participants/{company_id}", response_model=schemas.ParticipantPublic)
async def change_participant(
    event_id: uuid.UUID, company_id: uuid.UUID, body: schemas.ParticipantChange, uow: UowDep, caller: CurrentUser
):
    """Mark a participant attended or responded."""
    participant, name = await marketing.change_participant(uow, event_id, company_id, body, caller)
    return _participant(participant, name)


@router.post("/{event_id}/mailings", status_code=202, response_model=schemas.MailingPublic)
async def request_mailing(event_id: uuid.UUID, body: schemas.MailingCreate, uow: UowDep, caller: CurrentUser):
    """Send a mailing's template with its special offer to the contact persons (with an e-mail) of every
    participant, through the notifications service."""
    m = await marketing.request_mailing(uow, event_id, body, caller)
    return schemas.MailingPublic(
        id=m.id,
        marketing_event_id=m.event_id,
        template_id=m.template_id,
        offer=m.offer,
        recipients=m.recipients,
        requested_at=m.requested_at,
    )
