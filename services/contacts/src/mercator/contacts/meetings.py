"""Meetings and calls on a client card: scheduled, moved, done (their summary becomes a history entry) or
called off. The rules are `domain.Meeting`'s; a meeting is seen by who sees its card's history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.clock import now
from mercator.common.errors import NotFound
from mercator.common.history import happened_by_now
from mercator.common.pagination import keyset_page
from mercator.common.uow import UnitOfWork
from mercator.common.versions import check_version
from mercator.common.visibility import Kind, NoAccess, may_act_for, sight
from mercator.contacts import domain, events, history, repository, schemas
from mercator.contacts.tables import Activity, Company, Meeting


async def list_meetings(
    session: AsyncSession,
    caller: Caller,
    *,
    company_id: uuid.UUID | None,
    owner_id: uuid.UUID | None,
    status: str | None,
    starts_from: datetime | None,
    starts_to: datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Meeting], str | None]:
    stmt = select(Meeting)
    if seen := repository.seen_cards(sight(caller, Kind.HISTORY)):
        stmt = stmt.join(Company, Company.id == Meeting.company_id).where(*seen)
    for column, value in ((Meeting.company_id, company_id), (Meeting.owner_id, owner_id), (Meeting.status, status)):
        if value is not None:
            stmt = stmt.where(column == value)
    if starts_from is not None:
        stmt = stmt.where(Meeting.starts_at >= starts_from)
    if starts_to is not None:
        stmt = stmt.where(Meeting.starts_at < starts_to)
    return await keyset_page(session, stmt, (Meeting.starts_at, Meeting.id), limit, cursor)


async def get_meeting(session: AsyncSession, meeting_id: uuid.UUID, caller: Caller, *, write: bool = False) -> Meeting:
    """A meeting they may not see answers like a missing one."""
    view = sight(caller, Kind.HISTORY, write=write)
    meeting = await session.get(Meeting, meeting_id)
    company = await session.get(Company, meeting.company_id) if meeting is not None else None
    if meeting is None or company is None or not repository.sees(view, company):
        raise NotFound(f"no meeting {meeting_id}")
    return meeting


def _model(meeting: Meeting) -> domain.Meeting:
    return domain.Meeting(
        kind=domain.MeetingKind(meeting.kind),
        starts_at=meeting.starts_at,
        duration_minutes=meeting.duration_minutes,
        status=domain.MeetingStatus(meeting.status),
    )


def _save(meeting: Meeting, model: domain.Meeting) -> None:
    meeting.starts_at, meeting.duration_minutes = model.starts_at, model.duration_minutes
    meeting.status = model.status.value
    meeting.version += 1
    meeting.updated_at = now()


async def schedule_meeting(
    uow: UnitOfWork, company_id: uuid.UUID, data: schemas.MeetingCreate, caller: Caller
) -> Meeting:
    company = await repository.get_company(uow.session, company_id, caller, kind=Kind.HISTORY, write=True)
    if not may_act_for(caller, data.owner_id):
        raise NoAccess("a meeting is your own; scheduling one for someone else is for heads and admins")
    domain.validate_schedule(data.starts_at, data.duration_minutes, data.reminder_minutes_before)
    for i, person_id in enumerate(data.person_ids):
        await repository.check_person(uow.session, company.id, person_id, f"person_ids[{i}]")
    at = now()
    meeting = Meeting(
        id=uuid.uuid4(),
        company_id=company.id,
        kind=data.kind.value,
        subject=data.subject,
        starts_at=data.starts_at.astimezone(UTC),
        duration_minutes=data.duration_minutes,
        place=data.place,
        owner_id=data.owner_id or caller.user_id,
        person_ids=[str(p) for p in dict.fromkeys(data.person_ids)],
        participant_user_ids=[str(p) for p in dict.fromkeys(data.participant_user_ids)],
        reminder_minutes_before=data.reminder_minutes_before,
        deal_id=data.deal_id,
        status=domain.MeetingStatus.PLANNED.value,
        created_at=at,
        updated_at=at,
        version=1,
    )
    uow.session.add(meeting)
    events.meeting_scheduled(uow, meeting)
    return meeting


async def reschedule_meeting(
    uow: UnitOfWork,
    meeting_id: uuid.UUID,
    data: schemas.MeetingReschedule,
    expected_version: int | None,
    caller: Caller,
) -> Meeting:
    meeting = await get_meeting(uow.session, meeting_id, caller, write=True)
    check_version(meeting, expected_version, "meeting")
    duration = data.duration_minutes or meeting.duration_minutes
    reminder = (
        data.reminder_minutes_before
        if "reminder_minutes_before" in data.model_fields_set
        else meeting.reminder_minutes_before
    )
    domain.validate_schedule(data.starts_at, duration, reminder)
    model = _model(meeting)
    model.reschedule(data.starts_at, duration)
    meeting.reminder_minutes_before = reminder
    _save(meeting, model)
    events.meeting_rescheduled(uow, meeting)
    return meeting


async def complete_meeting(
    uow: UnitOfWork, meeting_id: uuid.UUID, data: schemas.MeetingComplete, caller: Caller
) -> tuple[Meeting, Activity]:
    meeting = await get_meeting(uow.session, meeting_id, caller, write=True)
    cards = repository.Cards(uow.session)
    card = await cards.get(meeting.company_id, caller, kind=Kind.HISTORY, write=True)
    model = _model(meeting)
    draft = model.complete(data.summary, happened_by_now(data.done_at, now(), "done_at"))
    person_ids = [uuid.UUID(p) for p in meeting.person_ids]
    activity = history.write_entry(
        uow,
        card,
        kind=draft.kind.value,
        direction=draft.direction.value,
        subject=meeting.subject,
        summary=draft.summary,
        happened_at=draft.happened_at,
        author_id=caller.user_id,
        deal_id=meeting.deal_id,
        person_id=person_ids[0] if len(person_ids) == 1 else None,
        meeting_id=meeting.id,
    )
    meeting.activity_id = activity.id
    _save(meeting, model)
    await cards.save(card)
    events.meeting_completed(uow, meeting, draft.happened_at)
    return meeting, activity


async def cancel_meeting(
    uow: UnitOfWork, meeting_id: uuid.UUID, data: schemas.MeetingCancel, caller: Caller
) -> Meeting:
    meeting = await get_meeting(uow.session, meeting_id, caller, write=True)
    model = _model(meeting)
    model.cancel()
    meeting.cancel_reason = data.reason
    _save(meeting, model)
    events.meeting_cancelled(uow, meeting)
    return meeting
