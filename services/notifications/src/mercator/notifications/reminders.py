"""Meeting reminders: one per meeting, made on scheduling, moved with the meeting, dropped with it."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import select, update

from mercator.common.clock import now
from mercator.common.db import insert_if_absent
from mercator.common.events import catalogue as ev
from mercator.common.uow import UnitOfWork
from mercator.notifications import context as ctx
from mercator.notifications import domain
from mercator.notifications.composition import render_email
from mercator.notifications.domain import Channel, Status
from mercator.notifications.messages import Draft, enqueue, fail
from mercator.notifications.rendering import TemplateTooCostly
from mercator.notifications.settings import NotificationsSettings
from mercator.notifications.tables import (
    CompanyView,
    MeetingView,
    Message,
    UserView,
)


async def _reminder(
    uow: UnitOfWork, meeting: MeetingView, settings: NotificationsSettings, event_id: uuid.UUID
) -> tuple[str | None, str, str, datetime, str | None]:
    """(address, subject, body, when, error): the error of a template over a render limit."""
    s = uow.session
    owner = await s.get(UserView, meeting.owner_id)
    company = await s.get(CompanyView, meeting.company_id)
    minutes = meeting.reminder_minutes_before
    minutes = settings.reminder_minutes_before if minutes is None else minutes
    context = {
        "recipient": ctx.user_ctx(owner),
        "company": ctx.company_ctx(company),
        "today": date.today(),
        "meeting": {
            "subject": meeting.subject,
            "kind": meeting.kind,
            "kind_ru": "звонок" if meeting.kind == "call" else "встреча",
            "place": meeting.place,
            "starts_local": ctx.local(meeting.starts_at, settings.time_zone),
            "duration_minutes": meeting.duration_minutes,
            "minutes_before": minutes,
        },
    }
    error = None
    try:
        subject, body = await render_email(s, "meeting_reminder", context, settings)
    except TemplateTooCostly as exc:
        subject, body, error = "", "", exc.message
    at = domain.reminder_at(meeting.starts_at, minutes, settings.reminder_minutes_before)
    return (owner.email if owner and owner.email else None), subject, body, at, error


async def on_meeting_scheduled(
    uow: UnitOfWork, p: ev.MeetingScheduled, event_id: uuid.UUID, settings: NotificationsSettings
) -> None:
    meeting = await insert_if_absent(
        uow.session,
        MeetingView,
        meeting_id=p.meeting_id,
        company_id=p.company_id,
        owner_id=p.owner_id,
        kind=p.kind,
        subject=p.subject,
        place=p.place,
        starts_at=p.starts_at,
        duration_minutes=p.duration_minutes,
        reminder_minutes_before=p.reminder_minutes_before,
        status="planned",
        deal_id=p.deal_id,
    )
    if meeting.status != "planned":  # cancelled before this event was read
        return
    await _plan_reminder(uow, meeting, settings, event_id)


async def _plan_reminder(
    uow: UnitOfWork, meeting: MeetingView, settings: NotificationsSettings, event_id: uuid.UUID
) -> None:
    """One reminder per meeting: made on scheduling, moved with the meeting, dropped with it."""
    address, subject, body, at, error = await _reminder(uow, meeting, settings, event_id)
    current = (
        await uow.session.execute(
            select(Message).where(
                Message.cause_key == f"meeting:{meeting.meeting_id}", Message.status == Status.QUEUED.value
            )
        )
    ).scalar_one_or_none()
    if current is not None:
        current.next_attempt_at, current.subject, current.body, current.updated_at = at, subject, body, now()
        if error is not None:
            fail(uow, current, error, now())
        return
    if meeting.starts_at <= now():
        return  # it has begun: a reminder now reminds of nothing
    sent = (
        await uow.session.execute(select(Message.id).where(Message.cause_key == f"meeting:{meeting.meeting_id}"))
    ).first()
    key = f"meeting:{meeting.meeting_id}" if sent is None else f"meeting:{meeting.meeting_id}:{event_id}"
    await enqueue(
        uow,
        Draft(
            channel=Channel.EMAIL,
            kind="reminder",
            recipient=address or f"user:{meeting.owner_id}",
            subject=subject,
            body=body,
            cause_type="MeetingScheduled",
            cause_event_id=event_id,
            cause_key=key,
            company_id=meeting.company_id,
            deal_id=meeting.deal_id,
            meeting_id=meeting.meeting_id,
            owner_id=meeting.owner_id,
            not_before=at,
            error=error or (None if address else f"the manager {meeting.owner_id} has no e-mail address"),
        ),
    )


async def on_meeting_rescheduled(
    uow: UnitOfWork, p: ev.MeetingRescheduled, event_id: uuid.UUID, settings: NotificationsSettings
) -> None:
    meeting = await uow.session.get(MeetingView, p.meeting_id)
    if meeting is None or meeting.status != "planned":
        return
    meeting.starts_at, meeting.duration_minutes = p.starts_at, p.duration_minutes
    if p.reminder_minutes_before is not None:
        meeting.reminder_minutes_before = p.reminder_minutes_before
    await _plan_reminder(uow, meeting, settings, event_id)


async def on_meeting_closed(uow: UnitOfWork, meeting_id: uuid.UUID, status: str) -> None:
    """Cancelled or done: its reminder, if not yet sent, is dropped."""
    meeting = await uow.session.get(MeetingView, meeting_id)
    if meeting is not None:
        meeting.status = status
    await uow.session.execute(
        update(Message)
        .where(Message.meeting_id == meeting_id, Message.status == Status.QUEUED.value)
        .values(status=Status.CANCELLED.value, updated_at=now())
    )
