"""The one place where contacts' records become the catalogue's event payloads (event-carried state)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from mercator.common.events import catalogue as ev
from mercator.common.uow import UnitOfWork
from mercator.contacts import domain, repository
from mercator.contacts.tables import Company, Meeting, Person


def card(company: Company, names: dict[uuid.UUID, str]) -> dict[str, Any]:
    return dict(
        company_id=company.id,
        name=company.name,
        legal_name=company.legal_name,
        tax_id=company.tax_id,
        status=company.status,
        owner_id=company.owner_id,
        department_id=company.department_id,
        region_id=company.region_id,
        region_name=names.get(company.region_id) if company.region_id else None,
        industry_id=company.industry_id,
        industry_name=names.get(company.industry_id) if company.industry_id else None,
        source_id=company.source_id,
        source_name=names.get(company.source_id) if company.source_id else None,
        phones=list(company.phones),
        emails=list(company.emails),
        website=company.website,
        created_at=company.created_at,
        last_activity_at=company.last_activity_at,
    )


def company_created(uow: UnitOfWork, company: Company, names: dict[uuid.UUID, str]) -> None:
    uow.emit(ev.CompanyCreated(**card(company, names)), subject=company.id, sequence=1)


async def company_updated(uow: UnitOfWork, company: Company, changed: list[str]) -> None:
    """A new version of the card, published whole with what changed."""
    names = await repository.names_of(uow.session, company)
    uow.emit(
        ev.CompanyUpdated(**card(company, names), changed=sorted(changed)),
        subject=company.id,
        sequence=company.version,
    )


def company_reassigned(uow: UnitOfWork, company: Company, previous_owner: uuid.UUID) -> None:
    uow.emit(
        ev.CompanyReassigned(
            company_id=company.id,
            from_owner_id=previous_owner,
            to_owner_id=company.owner_id,
            department_id=company.department_id,
        ),
        subject=company.id,
        sequence=company.version,
    )


def company_merged(uow: UnitOfWork, survivor: Company, absorbed_id: uuid.UUID, moved: dict[str, int]) -> None:
    uow.emit(
        ev.CompanyMerged(
            company_id=survivor.id,
            absorbed_id=absorbed_id,
            moved_persons=moved["persons"],
            moved_activities=moved["activities"],
            moved_meetings=moved["meetings"],
        ),
        subject=survivor.id,
        sequence=survivor.version,
    )


async def publish(
    uow: UnitOfWork, company: Company, card: domain.ClientCard, moved: dict[str, int] | None = None
) -> None:
    """The facts the card recorded, as the catalogue's events (`company`: its row, saved); `moved`: what a
    merge moved over."""
    for fact in card.events:
        if isinstance(fact, domain.CardChanged):
            await company_updated(uow, company, list(fact.changed))
        elif isinstance(fact, domain.CardReassigned):
            company_reassigned(uow, company, fact.previous_owner_id)
        else:
            company_merged(uow, company, fact.absorbed_id, moved or {"persons": 0, "activities": 0, "meetings": 0})
            await company_updated(uow, company, ["merged"])
    card.events.clear()


def _person(person: Person) -> dict[str, Any]:
    return dict(
        person_id=person.id,
        company_id=person.company_id,
        name=person.name,
        position=person.position,
        phones=list(person.phones),
        emails=list(person.emails),
    )


def person_added(uow: UnitOfWork, person: Person) -> None:
    uow.emit(ev.PersonAdded(**_person(person)), subject=person.id, sequence=1)


def person_updated(uow: UnitOfWork, person: Person) -> None:
    uow.emit(ev.PersonUpdated(**_person(person)), subject=person.id, sequence=person.version)


_LOGGED = (
    "company_id",
    "kind",
    "direction",
    "subject",
    "summary",
    "happened_at",
    "author_id",
    "deal_id",
    "person_id",
    "meeting_id",
)


def activity_logged(uow: UnitOfWork, row: dict[str, Any]) -> None:
    """The ActivityLogged event of a new history entry (`row`: its columns)."""
    uow.emit(ev.ActivityLogged(activity_id=row["id"], **{k: row[k] for k in _LOGGED}), subject=row["id"], sequence=1)


def meeting_scheduled(uow: UnitOfWork, meeting: Meeting) -> None:
    uow.emit(
        ev.MeetingScheduled(
            meeting_id=meeting.id,
            company_id=meeting.company_id,
            kind=meeting.kind,
            subject=meeting.subject,
            starts_at=meeting.starts_at,
            duration_minutes=meeting.duration_minutes,
            place=meeting.place,
            owner_id=meeting.owner_id,
            person_ids=meeting.person_ids,
            participant_user_ids=meeting.participant_user_ids,
            reminder_minutes_before=meeting.reminder_minutes_before,
            deal_id=meeting.deal_id,
        ),
        subject=meeting.id,
        sequence=1,
    )


def meeting_rescheduled(uow: UnitOfWork, meeting: Meeting) -> None:
    uow.emit(
        ev.MeetingRescheduled(
            meeting_id=meeting.id,
            company_id=meeting.company_id,
            starts_at=meeting.starts_at,
            duration_minutes=meeting.duration_minutes,
            reminder_minutes_before=meeting.reminder_minutes_before,
        ),
        subject=meeting.id,
        sequence=meeting.version,
    )


def meeting_completed(uow: UnitOfWork, meeting: Meeting, done_at: datetime) -> None:
    uow.emit(
        ev.MeetingCompleted(
            meeting_id=meeting.id, company_id=meeting.company_id, activity_id=meeting.activity_id, done_at=done_at
        ),
        subject=meeting.id,
        sequence=meeting.version,
    )


def meeting_cancelled(uow: UnitOfWork, meeting: Meeting) -> None:
    uow.emit(
        ev.MeetingCancelled(meeting_id=meeting.id, company_id=meeting.company_id, reason=meeting.cancel_reason),
        subject=meeting.id,
        sequence=meeting.version,
    )
