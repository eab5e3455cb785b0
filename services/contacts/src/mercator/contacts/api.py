"""HTTP routes of the contacts service: translate, call one use case, translate back."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from mercator.common.http.deps import CurrentUser, SessionDep, UowDep
from mercator.common.pagination import Page
from mercator.common.versions import etag, expected_version
from mercator.contacts import cards, dictionaries, domain, history, meetings, merging, persons, repository, schemas
from mercator.contacts.tables import Activity, Company, Meeting, Person

router = APIRouter(prefix="/api/v1")
IfMatch = Annotated[str | None, Header(alias="If-Match")]
Limit = Annotated[int, Query(ge=1, le=200)]
DictionaryKind = Literal["regions", "industries", "contact-sources"]


def _company_public(c: Company, names: dict[uuid.UUID, str]) -> schemas.CompanyPublic:
    def ref(i):
        return schemas.Ref(id=i, name=names.get(i, "")) if i else None

    return schemas.CompanyPublic(
        id=c.id,
        name=c.name,
        legal_name=c.legal_name,
        tax_id=c.tax_id,
        status=c.status,
        owner_id=c.owner_id,
        department_id=c.department_id,
        region=ref(c.region_id),
        industry=ref(c.industry_id),
        source=ref(c.source_id),
        phones=c.phones,
        emails=c.emails,
        address=c.address,
        website=c.website,
        notes=c.notes,
        last_activity_at=c.last_activity_at,
        created_at=c.created_at,
        updated_at=c.updated_at,
        version=c.version,
    )


async def _public(session, companies: list[Company]) -> list[schemas.CompanyPublic]:
    ids = {i for c in companies for i in (c.region_id, c.industry_id, c.source_id)}
    names = await repository.dictionary_names(session, ids)
    return [_company_public(c, names) for c in companies]


def _person(p: Person) -> schemas.PersonPublic:
    return schemas.PersonPublic.model_validate(p, from_attributes=True)


def _activity(a: Activity | dict) -> schemas.ActivityPublic:
    return schemas.ActivityPublic.model_validate(a, from_attributes=True)


def _meeting(m: Meeting) -> schemas.MeetingPublic:
    return schemas.MeetingPublic.model_validate(m, from_attributes=True)


# --- client cards ----------------------------------------------------------------------------


@router.post("/companies", status_code=201, response_model=schemas.CompanyCreatedPublic, tags=["companies"])
async def create_company(body: schemas.CompanyCreate, uow: UowDep, caller: CurrentUser, response: Response):
    """Open a client card. Likely duplicates (same tax id, phone, e-mail or a near-identical name) are
    reported in `likely_duplicates`; merge them with `POST /companies/{id}/merge`."""
    company, persons, duplicates = await cards.add_company(uow, body, caller)
    public = (await _public(uow.session, [company]))[0]
    response.headers["Location"] = f"/api/v1/companies/{company.id}"
    response.headers["ETag"] = etag(company.version)
    return schemas.CompanyCreatedPublic(
        **public.model_dump(),
        persons=[_person(p) for p in persons],
        likely_duplicates=[
            schemas.LikelyDuplicatePublic(
                company_id=d.company_id, name=d.name, reasons=list(d.reasons), score=round(d.score, 3)
            )
            for d in duplicates
        ],
    )


@router.get("/companies", response_model=Page[schemas.CompanyPublic], tags=["companies"])
async def list_companies(
    session: SessionDep,
    caller: CurrentUser,
    limit: Limit = 50,
    cursor: str | None = None,
    q: Annotated[str | None, Query(max_length=200, description="name, tax id, phone or e-mail")] = None,
    owner_id: uuid.UUID | None = None,
    department_id: uuid.UUID | None = None,
    region_id: uuid.UUID | None = None,
    industry_id: uuid.UUID | None = None,
    source_id: uuid.UUID | None = None,
    status: domain.CompanyStatus | None = None,
):
    items, nxt = await cards.list_companies(
        session,
        caller,
        q=q,
        owner_id=owner_id,
        region_id=region_id,
        industry_id=industry_id,
        source_id=source_id,
        status=status.value if status else None,
        department_id=department_id,
        limit=limit,
        cursor=cursor,
    )
    return Page(items=await _public(session, items), next_cursor=nxt)


@router.get("/companies/duplicates", response_model=list[schemas.LikelyDuplicatePublic], tags=["companies"])
async def find_duplicates(
    session: SessionDep,
    caller: CurrentUser,
    name: Annotated[str, Query(min_length=1, max_length=300)],
    tax_id: Annotated[str | None, Query(max_length=20)] = None,
    phone: Annotated[list[str], Query(max_length=20)] = [],  # noqa: B006 - FastAPI copies it
    email: Annotated[list[str], Query(max_length=20)] = [],  # noqa: B006
):
    """Check a card before opening it: the likely duplicates already in the base, the caller's or not
    (only their id, name and reasons: a card the caller may not see still answers 404)."""
    try:
        probe = schemas.CompanyCreate(name=name, tax_id=tax_id, phones=phone, emails=email)
    except ValidationError as exc:  # a bad phone or e-mail is the caller's 422 naming the parameter, not a 500
        singular: dict[int | str, int | str] = {"phones": "phone", "emails": "email"}
        raise RequestValidationError(
            [{**e, "loc": ("query", singular.get(e["loc"][0], e["loc"][0]), *e["loc"][1:])} for e in exc.errors()]
        ) from None
    found = await cards.likely_duplicates(session, caller, probe.name, probe.tax_id, probe.phones, probe.emails)
    return [
        schemas.LikelyDuplicatePublic(
            company_id=d.company_id, name=d.name, reasons=list(d.reasons), score=round(d.score, 3)
        )
        for d in found
    ]


@router.get("/companies/{company_id}", response_model=schemas.CompanyPublic, tags=["companies"])
async def get_company(company_id: uuid.UUID, session: SessionDep, caller: CurrentUser, response: Response):
    company = await repository.get_company(session, company_id, caller)
    response.headers["ETag"] = etag(company.version)
    return (await _public(session, [company]))[0]


@router.patch("/companies/{company_id}", response_model=schemas.CompanyPublic, tags=["companies"])
async def update_company(
    company_id: uuid.UUID,
    body: schemas.CompanyUpdate,
    uow: UowDep,
    caller: CurrentUser,
    response: Response,
    if_match: IfMatch = None,
):
    """Change the fields sent. `If-Match` must carry the ETag you read: a stale one gets 412."""
    company = await cards.update_company(uow, company_id, body, expected_version(if_match), caller)
    response.headers["ETag"] = etag(company.version)
    return (await _public(uow.session, [company]))[0]


@router.post("/companies/{company_id}/reassign", response_model=schemas.CompanyPublic, tags=["companies"])
async def reassign_company(
    company_id: uuid.UUID,
    body: schemas.Reassign,
    uow: UowDep,
    caller: CurrentUser,
    response: Response,
    if_match: IfMatch = None,
):
    """Hand the client card to another manager."""
    company = await cards.reassign_company(uow, company_id, body, expected_version(if_match, required=False), caller)
    response.headers["ETag"] = etag(company.version)
    return (await _public(uow.session, [company]))[0]


@router.post("/companies/{company_id}/merge", response_model=schemas.CompanyPublic, tags=["companies"])
async def merge_companies(
    company_id: uuid.UUID,
    body: schemas.Merge,
    uow: UowDep,
    caller: CurrentUser,
    response: Response,
    if_match: IfMatch = None,
):
    """Merge a duplicate into this card: persons, history and meetings move here, blanks are filled."""
    company = await merging.merge_companies(
        uow, company_id, body.absorbed_id, expected_version(if_match, required=False), caller
    )
    response.headers["ETag"] = etag(company.version)
    return (await _public(uow.session, [company]))[0]


# --- contact persons --------------------------------------------------------------------------


@router.get("/companies/{company_id}/persons", response_model=list[schemas.PersonPublic], tags=["persons"])
async def list_persons(company_id: uuid.UUID, session: SessionDep, caller: CurrentUser):
    return [_person(p) for p in await persons.list_persons(session, company_id, caller)]


@router.post("/companies/{company_id}/persons", status_code=201, response_model=schemas.PersonPublic, tags=["persons"])
async def add_person(
    company_id: uuid.UUID, body: schemas.PersonCreate, uow: UowDep, caller: CurrentUser, response: Response
):
    person = await persons.add_person(uow, company_id, body, caller)
    response.headers["ETag"] = etag(person.version)
    response.headers["Location"] = f"/api/v1/companies/{company_id}/persons/{person.id}"
    return _person(person)


@router.get("/companies/{company_id}/persons/{person_id}", response_model=schemas.PersonPublic, tags=["persons"])
async def get_person(
    company_id: uuid.UUID, person_id: uuid.UUID, session: SessionDep, caller: CurrentUser, response: Response
):
    person = await persons.get_person(session, company_id, person_id, caller)
    response.headers["ETag"] = etag(person.version)
    return _person(person)


@router.patch("/companies/{company_id}/persons/{person_id}", response_model=schemas.PersonPublic, tags=["persons"])
async def update_person(
    company_id: uuid.UUID,
    person_id: uuid.UUID,
    body: schemas.PersonUpdate,
    uow: UowDep,
    caller: CurrentUser,
    response: Response,
    if_match: IfMatch = None,
):
    person = await persons.update_person(uow, company_id, person_id, body, expected_version(if_match), caller)
    response.headers["ETag"] = etag(person.version)
    return _person(person)


# --- history -----------------------------------------------------------------------------------


@router.get("/companies/{company_id}/history", response_model=Page[schemas.ActivityPublic], tags=["history"])
async def list_history(
    company_id: uuid.UUID,
    session: SessionDep,
    caller: CurrentUser,
    limit: Limit = 50,
    cursor: str | None = None,
    kind: domain.ActivityKind | None = None,
):
    """The client's history, newest first."""
    items, nxt = await history.list_history(
        session, company_id, caller, kind=kind.value if kind else None, limit=limit, cursor=cursor
    )
    return Page(items=[_activity(a) for a in items], next_cursor=nxt)


@router.post(
    "/companies/{company_id}/history", status_code=201, response_model=schemas.ActivityPublic, tags=["history"]
)
async def log_activity(company_id: uuid.UUID, body: schemas.ActivityCreate, uow: UowDep, caller: CurrentUser):
    """Log a meeting, call, letter, fax, e-mail, note, demo or support contact with its summary."""
    return _activity(await history.log_activity(uow, company_id, body, caller))


@router.post("/history/batch", status_code=201, response_model=Page[schemas.ActivityPublic], tags=["history"])
async def log_activities(body: schemas.ActivityBatch, uow: UowDep, caller: CurrentUser):
    """Up to 500 history entries of any client cards at once (offline sync, imports): all or nothing."""
    # The rows as they are: the response model validates them once (a model per entry first was a tenth of
    # the service's CPU under history batches, bench/bus.py under py-spy).
    return {"items": await history.log_activities(uow, body.entries, caller)}


# --- meetings ----------------------------------------------------------------------------------


@router.post(
    "/companies/{company_id}/meetings", status_code=201, response_model=schemas.MeetingPublic, tags=["meetings"]
)
async def schedule_meeting(
    company_id: uuid.UUID, body: schemas.MeetingCreate, uow: UowDep, caller: CurrentUser, response: Response
):
    meeting = await meetings.schedule_meeting(uow, company_id, body, caller)
    response.headers["ETag"] = etag(meeting.version)
    response.headers["Location"] = f"/api/v1/meetings/{meeting.id}"
    return _meeting(meeting)


@router.get("/meetings", response_model=Page[schemas.MeetingPublic], tags=["meetings"])
async def list_meetings(
    session: SessionDep,
    caller: CurrentUser,
    limit: Limit = 50,
    cursor: str | None = None,
    company_id: uuid.UUID | None = None,
    owner_id: uuid.UUID | None = None,
    status: domain.MeetingStatus | None = None,
    starts_from: Annotated[datetime | None, Query(alias="from")] = None,
    starts_to: Annotated[datetime | None, Query(alias="to")] = None,
):
    """A manager's calendar: meetings and calls by time."""
    items, nxt = await meetings.list_meetings(
        session,
        caller,
        company_id=company_id,
        owner_id=owner_id,
        status=status.value if status else None,
        starts_from=starts_from,
        starts_to=starts_to,
        limit=limit,
        cursor=cursor,
    )
    return Page(items=[_meeting(m) for m in items], next_cursor=nxt)


@router.get("/meetings/{meeting_id}", response_model=schemas.MeetingPublic, tags=["meetings"])
async def get_meeting(meeting_id: uuid.UUID, session: SessionDep, caller: CurrentUser, response: Response):
    meeting = await meetings.get_meeting(session, meeting_id, caller)
    response.headers["ETag"] = etag(meeting.version)
    return _meeting(meeting)


@router.post("/meetings/{meeting_id}/reschedule", response_model=schemas.MeetingPublic, tags=["meetings"])
async def reschedule_meeting(
    meeting_id: uuid.UUID,
    body: schemas.MeetingReschedule,
    uow: UowDep,
    caller: CurrentUser,
    response: Response,
    if_match: IfMatch = None,
):
    meeting = await meetings.reschedule_meeting(
        uow, meeting_id, body, expected_version(if_match, required=False), caller
    )
    response.headers["ETag"] = etag(meeting.version)
    return _meeting(meeting)


@router.post("/meetings/{meeting_id}/complete", response_model=schemas.ActivityPublic, tags=["meetings"])
async def complete_meeting(meeting_id: uuid.UUID, body: schemas.MeetingComplete, uow: UowDep, caller: CurrentUser):
    """Mark the meeting done; its summary becomes an entry of the client's history (returned)."""
    _, activity = await meetings.complete_meeting(uow, meeting_id, body, caller)
    return _activity(activity)


@router.post("/meetings/{meeting_id}/cancel", response_model=schemas.MeetingPublic, tags=["meetings"])
async def cancel_meeting(meeting_id: uuid.UUID, body: schemas.MeetingCancel, uow: UowDep, caller: CurrentUser):
    return _meeting(await meetings.cancel_meeting(uow, meeting_id, body, caller))


# --- dictionaries (last: `/{kind}` must not shadow the routes above) ---------------------------------


@router.get("/{kind}", response_model=list[schemas.DictionaryEntryPublic], tags=["dictionaries"])
async def list_dictionary(
    kind: DictionaryKind, session: SessionDep, caller: CurrentUser, include_inactive: bool = False
):
    """Regions, industries or contact sources (advertisement, exhibition, referral, ...)."""
    return await dictionaries.list_entries(session, dictionaries.KINDS[kind], include_inactive, caller)


@router.post("/{kind}", status_code=201, response_model=schemas.DictionaryEntryPublic, tags=["dictionaries"])
async def add_dictionary_entry(
    kind: DictionaryKind, body: schemas.DictionaryEntryCreate, uow: UowDep, caller: CurrentUser
):
    """Heads of sales and admins only."""
    return await dictionaries.add_entry(uow, dictionaries.KINDS[kind], body, caller)


@router.patch("/{kind}/{entry_id}", response_model=schemas.DictionaryEntryPublic, tags=["dictionaries"])
async def update_dictionary_entry(
    kind: DictionaryKind, entry_id: uuid.UUID, body: schemas.DictionaryEntryUpdate, uow: UowDep, caller: CurrentUser
):
    """Rename, reorder or retire (`active: false`) an entry; cards keep pointing at it. Heads and admins."""
    return await dictionaries.update_entry(uow, dictionaries.KINDS[kind], entry_id, body, caller)
