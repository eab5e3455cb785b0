"""Messages as they are made: one per cause and recipient, and the one place a message's fate
becomes a MessageSent or MessageFailed event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from mercator.common.clock import now
from mercator.common.events import catalogue as ev
from mercator.common.uow import UnitOfWork
from mercator.notifications import domain
from mercator.notifications.domain import Channel, Status
from mercator.notifications.settings import NotificationsSettings
from mercator.notifications.tables import (
    Attachment,
    Message,
)

PDF = "application/pdf"


@dataclass
class Draft:
    channel: Channel
    kind: str
    recipient: str
    subject: str
    body: str
    cause_type: str
    cause_key: str
    recipient_name: str | None = None
    cause_event_id: uuid.UUID | None = None
    company_id: uuid.UUID | None = None
    person_id: uuid.UUID | None = None
    deal_id: uuid.UUID | None = None
    meeting_id: uuid.UUID | None = None
    author_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None
    attachments: list[tuple[str, bytes]] = field(default_factory=list)
    not_before: datetime | None = None
    error: str | None = None  # known at once: the message is made failed, saying why
    pending: dict | None = None  # what to fill it in from, once what it needs is known


async def enqueue(uow: UnitOfWork, d: Draft) -> tuple[Message, bool]:
    """Makes the message unless its cause already made one for this recipient; (message, made now)."""
    existing = (
        await uow.session.execute(
            select(Message).where(Message.cause_key == d.cause_key, Message.recipient == d.recipient)
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing, False
    at = now()
    m = Message(
        id=uuid.uuid4(),
        channel=d.channel.value,
        kind=d.kind,
        recipient=d.recipient,
        recipient_name=d.recipient_name,
        subject=d.subject,
        body=d.body,
        status=Status.QUEUED.value,
        attempts=0,
        last_error=None,
        next_attempt_at=d.not_before or at,
        cause_type=d.cause_type,
        cause_event_id=d.cause_event_id,
        cause_key=d.cause_key,
        company_id=d.company_id,
        person_id=d.person_id,
        deal_id=d.deal_id,
        meeting_id=d.meeting_id,
        author_id=d.author_id,
        owner_id=d.owner_id,
        department_id=d.department_id,
        documents=[name for name, _ in d.attachments],
        pending=d.pending,
        created_at=at,
        updated_at=at,
    )
    uow.session.add(m)
    await uow.session.flush()  # the message row before its attachments (their foreign key)
    for i, (name, content) in enumerate(d.attachments):
        uow.session.add(Attachment(message_id=m.id, position=i, filename=name, content_type=PDF, content=content))
    if d.error is not None:
        fail(uow, m, d.error, at)
    await uow.session.flush()
    return m, True


def fail(uow: UnitOfWork, m: Message, error: str, at: datetime) -> None:
    """Failed for good without a further attempt: what it needs cannot be had (an address, a template within
    its limits)."""
    m.status, m.last_error, m.failed_at, m.updated_at = Status.FAILED.value, error, at, at
    emit_outcome(uow, m)


def attempted(
    uow: UnitOfWork, m: Message, outcome: domain.Outcome, settings: NotificationsSettings, at: datetime
) -> None:
    """What one attempt made of the message: sent, failed after the last attempt (saying why), or due again
    later."""
    m.attempts += 1
    step = domain.after_attempt(
        outcome, m.attempts, at, settings.send_max_attempts, settings.retry_base_seconds, settings.retry_max_seconds
    )
    m.status, m.updated_at = step.status.value, at
    if step.status is Status.SENT:
        m.sent_at, m.last_error = at, None
    elif step.status is Status.FAILED:
        m.failed_at, m.last_error = at, domain.give_up_reason(outcome, m.attempts)
    else:
        m.last_error, m.next_attempt_at = outcome.error, step.next_attempt_at or at
        return
    emit_outcome(uow, m)


def emit_outcome(uow: UnitOfWork, m: Message) -> None:
    """The one place a message's fate becomes the catalogue's MessageSent or MessageFailed."""
    common = dict(
        message_id=m.id,
        channel=m.channel,
        recipient=m.recipient,
        subject=m.subject,
        documents=list(m.documents or []),
        company_id=m.company_id,
        person_id=m.person_id,
        deal_id=m.deal_id,
        author_id=m.author_id,
        cause_type=m.cause_type,
        cause_event_id=m.cause_event_id,
        attempts=m.attempts,
    )
    if m.status == Status.SENT:
        uow.emit(ev.MessageSent(**common, sent_at=m.sent_at), subject=m.id, sequence=m.attempts + 1)
    else:
        uow.emit(
            ev.MessageFailed(**common, error=m.last_error or "unknown error", failed_at=m.failed_at),
            subject=m.id,
            sequence=m.attempts + 1,
        )
