"""Sending: claiming what is due and recording what came of each attempt."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import and_, or_, select

from mercator.common.clock import now
from mercator.common.uow import UnitOfWork
from mercator.notifications import domain
from mercator.notifications.domain import Status
from mercator.notifications.messages import attempted
from mercator.notifications.proposals import fill_pending
from mercator.notifications.settings import NotificationsSettings
from mercator.notifications.tables import (
    Attachment,
    Message,
)
from mercator.notifications.transports import Outgoing


async def claim_due(uow: UnitOfWork, settings: NotificationsSettings) -> list[Outgoing]:
    """Takes the due messages (queued and due, or left sending by a process that died) and marks them
    sending, in one transaction; rows another sender holds are skipped."""
    at = now()
    stale = at - timedelta(seconds=settings.sending_lease_seconds)
    rows = (
        (
            await uow.session.execute(
                select(Message)
                .where(
                    or_(
                        and_(Message.status == Status.QUEUED.value, Message.next_attempt_at <= at),
                        and_(Message.status == Status.SENDING.value, Message.updated_at < stale),
                    )
                )
                .order_by(Message.next_attempt_at)
                .limit(settings.send_batch_size)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    out = []
    for m in rows:
        if m.pending is not None and not await fill_pending(uow, m, m.pending, settings, at):
            continue
        m.status, m.updated_at = Status.SENDING.value, at
        files = (
            (
                await uow.session.execute(
                    select(Attachment).where(Attachment.message_id == m.id).order_by(Attachment.position)
                )
            )
            .scalars()
            .all()
        )
        out.append(
            Outgoing(
                id=str(m.id),
                channel=m.channel,
                recipient=m.recipient,
                recipient_name=m.recipient_name,
                subject=m.subject,
                body=m.body,
                attachments=[(f.filename, f.content_type, f.content) for f in files],
            )
        )
    return out


async def record_outcome(
    uow: UnitOfWork, message_id: uuid.UUID, outcome: domain.Outcome, settings: NotificationsSettings
) -> Message | None:
    m = await uow.session.get(Message, message_id, with_for_update=True)
    if m is None or m.status != Status.SENDING.value:
        return None
    attempted(uow, m, outcome, settings, now())
    return m
