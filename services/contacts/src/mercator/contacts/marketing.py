"""Use cases of marketing events (exhibitions, presentations, webinars, mailings): one function, one transaction.

Marketing, heads, executives and admins run events; everyone who works with client cards reads them,
but sees only the participants whose cards they see.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.changes import apply_changes
from mercator.common.clock import now
from mercator.common.errors import BadReference, NotFound
from mercator.common.events import catalogue as ev
from mercator.common.pagination import keyset_page
from mercator.common.uow import UnitOfWork
from mercator.common.versions import check_version
from mercator.common.visibility import Kind, NoAccess, Sight, sight
from mercator.contacts import domain, schemas
from mercator.contacts.repository import seen_cards, sees
from mercator.contacts.tables import (
    Company,
    Mailing,
    MarketingEvent,
    Participant,
    Person,
)

# One filter may not pull more cards than this into one event: a slip of the filter, not a campaign.
MAX_FILTER_CARDS = 20_000


def _may_run(caller: Caller) -> None:
    if not caller.roles & domain.MARKETING_ROLES:
        raise NoAccess("marketing events are run by marketing, heads of sales, executives and admins")


def _card(e: MarketingEvent) -> dict:
    return dict(
        marketing_event_id=e.id,
        name=e.name,
        kind=e.kind,
        starts_on=e.starts_on,
        ends_on=e.ends_on,
        cost=e.cost,
        currency=e.currency,
        organiser_id=e.organiser_id,
        department_id=e.department_id,
        template_id=e.template_id,
        offer=e.offer,
        created_at=e.created_at,
    )


def _next_sequence(e: MarketingEvent) -> int:
    e.sequence += 1
    return e.sequence


async def get_event(
    session: AsyncSession, event_id: uuid.UUID, caller: Caller, *, write: bool = False
) -> MarketingEvent:
    sight(caller, Kind.CARD)  # reading events is for who works with client cards at all
    if write:
        _may_run(caller)
    event = await session.get(MarketingEvent, event_id, with_for_update=write)
    if event is None:
        raise NotFound(f"no marketing event {event_id}")
    return event


async def participant_counts(
    session: AsyncSession, caller: Caller, event_ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    stmt = (
        select(Participant.event_id, Participant.status, func.count())
        .where(Participant.event_id.in_(event_ids))
        .group_by(Participant.event_id, Participant.status)
    )
    if seen := seen_cards(sight(caller, Kind.CARD)):
        stmt = stmt.join(Company, Company.id == Participant.company_id).where(*seen)
    counts: dict[uuid.UUID, dict[str, int]] = {i: {s.value: 0 for s in domain.ParticipantStatus} for i in event_ids}
    for event_id, status, n in (await session.execute(stmt)).all():
        counts[event_id][status] = n
    return counts


async def list_events(
    session: AsyncSession, caller: Caller, *, kind: str | None, limit: int, cursor: str | None
) -> tuple[list[MarketingEvent], str | None]:
    sight(caller, Kind.CARD)
    stmt = select(MarketingEvent)
    if kind is not None:
        stmt = stmt.where(MarketingEvent.kind == kind)
    return await keyset_page(
        session, stmt, (MarketingEvent.created_at, MarketingEvent.id), limit, cursor, descending=True
    )


async def create_event(uow: UnitOfWork, data: schemas.MarketingEventCreate, caller: Caller) -> MarketingEvent:
    _may_run(caller)
    domain.check_event_dates(data.starts_on, data.ends_on)
    domain.check_event_cost(data.cost)
    at = now()
    event = MarketingEvent(
        id=uuid.uuid4(),
        name=data.name,
        kind=data.kind.value,
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        cost=data.cost,
        currency=data.currency.upper(),
        organiser_id=data.organiser_id or caller.user_id,
        department_id=caller.department_id,
        template_id=data.template_id,
        offer=data.offer,
        description=data.description,
        audience_filter=None,
        created_at=at,
        updated_at=at,
        version=1,
        sequence=1,
    )
    uow.session.add(event)
    uow.emit(ev.MarketingEventCreated(**_card(event)), subject=event.id, sequence=1)
    return event


_EVENT_FIELDS = (
    "name",
    "starts_on",
    "ends_on",
    "cost",
    "currency",
    "organiser_id",
    "template_id",
    "offer",
    "description",
)


async def update_event(
    uow: UnitOfWork,
    event_id: uuid.UUID,
    data: schemas.MarketingEventUpdate,
    expected_version: int | None,
    caller: Caller,
) -> MarketingEvent:
    event = await get_event(uow.session, event_id, caller, write=True)
    check_version(event, expected_version, "marketing event")
    changes = {f: getattr(data, f) for f in data.model_fields_set if f in _EVENT_FIELDS}
    for required in ("name", "starts_on", "currency", "organiser_id"):
        if required in changes and changes[required] is None:
            raise BadReference(f"a marketing event must have its {required}", field=required)
    if "currency" in changes:
        changes["currency"] = changes["currency"].upper()
    domain.check_event_dates(changes.get("starts_on", event.starts_on), changes.get("ends_on", event.ends_on))
    domain.check_event_cost(changes.get("cost"))
    changed = sorted(apply_changes(event, changes))
    if not changed:
        return event
    uow.emit(
        ev.MarketingEventUpdated(**_card(event), changed=changed), subject=event.id, sequence=_next_sequence(event)
    )
    return event


async def list_participants(
    session: AsyncSession, event_id: uuid.UUID, caller: Caller, *, status: str | None, limit: int, cursor: str | None
) -> tuple[list[tuple[Participant, str]], str | None]:
    await get_event(session, event_id, caller)
    stmt = (
        select(Participant)
        .join(Company, Company.id == Participant.company_id)
        .where(Participant.event_id == event_id, *seen_cards(sight(caller, Kind.CARD)))
    )
    if status is not None:
        stmt = stmt.where(Participant.status == status)
    page, nxt = await keyset_page(session, stmt, (Participant.company_id,), limit, cursor)
    names = (
        dict(
            (
                await session.execute(
                    select(Company.id, Company.name).where(Company.id.in_([p.company_id for p in page]))
                )
            ).all()
        )
        if page
        else {}
    )
    return [(p, names.get(p.company_id, "")) for p in page], nxt


async def _cards_of_filter(s: AsyncSession, f: schemas.AudienceFilter, view: Sight) -> list[uuid.UUID]:
    stmt = select(Company.id).where(Company.merged_into_id.is_(None), *seen_cards(view))
    for column, value in (
        (Company.region_id, f.region_id),
        (Company.industry_id, f.industry_id),
        (Company.source_id, f.source_id),
        (Company.status, f.status.value if f.status else None),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    ids = list((await s.execute(stmt.order_by(Company.id).limit(MAX_FILTER_CARDS + 1))).scalars())
    if len(ids) > MAX_FILTER_CARDS:
        raise BadReference(f"the filter matches more than {MAX_FILTER_CARDS} client cards; narrow it", field="filter")
    return ids


async def add_participants(
    uow: UnitOfWork, event_id: uuid.UUID, data: schemas.ParticipantsAdd, caller: Caller
) -> tuple[int, int]:
    """Adds the cards named and those of the filter; a card already taking part stays as it was.
    Returns (added, already there)."""
    s = uow.session
    event = await get_event(s, event_id, caller, write=True)
    kind = domain.MarketingEventKind(event.kind)
    domain.check_participant_status(kind, None, data.status)
    if not data.company_ids and data.filter is None:
        raise BadReference("name client cards in company_ids or give a filter", field="company_ids")
    view = sight(caller, Kind.CARD)
    wanted: dict[uuid.UUID, None] = {}
    if data.company_ids:
        ids = list(dict.fromkeys(data.company_ids))
        found = {c.id: c for c in (await s.execute(select(Company).where(Company.id.in_(ids)))).scalars()}
        for i, company_id in enumerate(data.company_ids):
            c = found.get(company_id)
            if c is None or c.merged_into_id is not None or not sees(view, c):
                raise BadReference(f"there is no client card {company_id}", field=f"company_ids[{i}]")
            wanted[company_id] = None
    if data.filter is not None:
        wanted.update(dict.fromkeys(await _cards_of_filter(s, data.filter, view)))
        event.audience_filter = data.filter.model_dump(mode="json", exclude_none=True)
    present = (
        set(
            (
                await s.execute(
                    select(Participant.company_id).where(
                        Participant.event_id == event.id, Participant.company_id.in_(list(wanted))
                    )
                )
            ).scalars()
        )
        if wanted
        else set()
    )
    at = now()
    added = [c for c in wanted if c not in present]
    for company_id in added:
        s.add(
            Participant(
                event_id=event.id,
                company_id=company_id,
                status=data.status.value,
                added_at=at,
                added_by=caller.user_id,
                updated_at=at,
            )
        )
        uow.emit(
            ev.ParticipantAdded(
                marketing_event_id=event.id, company_id=company_id, status=data.status.value, added_at=at
            ),
            subject=event.id,
            sequence=_next_sequence(event),
        )
    event.updated_at = at
    return len(added), len(present)


async def change_participant(
    uow: UnitOfWork, event_id: uuid.UUID, company_id: uuid.UUID, data: schemas.ParticipantChange, caller: Caller
) -> tuple[Participant, str]:
    s = uow.session
    event = await get_event(s, event_id, caller, write=True)
    participant = await s.get(Participant, (event.id, company_id), with_for_update=True)
    company = await s.get(Company, company_id) if participant is not None else None
    if participant is None or company is None or not sees(sight(caller, Kind.CARD), company):
        raise NotFound(f"client card {company_id} is not a participant of marketing event {event_id}")
    current = domain.ParticipantStatus(participant.status)
    if domain.check_participant_status(domain.MarketingEventKind(event.kind), current, data.status):
        at = now()
        participant.status, participant.updated_at = data.status.value, at
        uow.emit(
            ev.ParticipantStatusChanged(
                marketing_event_id=event.id,
                company_id=company_id,
                from_status=current.value,
                to_status=data.status.value,
                at=at,
            ),
            subject=event.id,
            sequence=_next_sequence(event),
        )
    return participant, company.name


async def request_mailing(uow: UnitOfWork, event_id: uuid.UUID, data: schemas.MailingCreate, caller: Caller) -> Mailing:
    """Asks the notifications service to send the template with the offer to the contact persons of every
    participant; each message it sends lands in that client's history."""
    s = uow.session
    event = await get_event(s, event_id, caller, write=True)
    rows = (
        await s.execute(
            select(Person.id, Person.company_id, Person.name, Person.emails)
            .join(Participant, Participant.company_id == Person.company_id)
            .join(Company, Company.id == Person.company_id)
            .where(Participant.event_id == event.id, Company.merged_into_id.is_(None))
        )
    ).all()
    recipients = domain.mailing_recipients(
        domain.MarketingEventKind(event.kind),
        [
            domain.MailingContact(company_id, person_id, name, tuple(emails or ()))
            for person_id, company_id, name, emails in rows
        ],
    )
    template_id = data.template_id or event.template_id
    offer = data.offer if data.offer is not None else event.offer
    if template_id is None and not offer:
        raise BadReference("a mailing needs a template or an offer to send", field="template_id")
    at = now()
    mailing = Mailing(
        id=uuid.uuid4(),
        event_id=event.id,
        template_id=template_id,
        template_name=data.template_name,
        offer=offer,
        recipients=len(recipients),
        requested_by=caller.user_id,
        requested_at=at,
    )
    s.add(mailing)
    uow.emit(
        ev.MailingRequested(
            mailing_id=mailing.id,
            marketing_event_id=event.id,
            template_id=template_id,
            template_name=data.template_name,
            offer=offer,
            requested_by=caller.user_id,
            requested_at=at,
            recipients=[
                ev.MailingRecipient(company_id=r.company_id, person_id=r.person_id, name=r.name, email=r.emails[0])
                for r in recipients
            ],
        ),
        subject=event.id,
        sequence=_next_sequence(event),
    )
    return mailing
