"""The messages a caller may see: theirs, their departments' for a head, all for those who see everything."""

from __future__ import annotations

import uuid

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.errors import NotFound
from mercator.common.pagination import keyset_page
from mercator.common.visibility import Kind, sight
from mercator.notifications.domain import Status
from mercator.notifications.tables import (
    Attachment,
    Message,
)


def message_sight(caller: Caller, *, write: bool = False):
    return sight(caller, Kind.HISTORY, write=write)


async def get_message(session: AsyncSession, message_id: uuid.UUID, caller: Caller, *, lock: bool = False) -> Message:
    m = await session.get(Message, message_id, with_for_update=lock or None)
    if m is None or not (message_sight(caller).sees(m.owner_id, m.department_id) or m.author_id == caller.user_id):
        raise NotFound(f"no message {message_id}")
    return m


async def list_messages(
    session: AsyncSession,
    caller: Caller,
    *,
    status: Status | None,
    company_id,
    deal_id,
    kind: str | None,
    limit: int,
    cursor: str | None,
):
    seen = message_sight(caller)
    stmt = select(Message)
    if not seen.everything:
        stmt = stmt.where(
            or_(
                Message.owner_id == seen.owner_id,
                Message.author_id == caller.user_id,
                Message.department_id.in_(seen.departments),
            )
        )
    for column, value in (
        (Message.status, status.value if status else None),
        (Message.company_id, company_id),
        (Message.deal_id, deal_id),
        (Message.kind, kind),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return await keyset_page(session, stmt, (Message.created_at, Message.id), limit, cursor, descending=True)


async def attachment(session: AsyncSession, message_id: uuid.UUID, position: int, caller: Caller) -> Attachment:
    await get_message(session, message_id, caller)
    row = await session.get(Attachment, (message_id, position))
    if row is None:
        raise NotFound(f"message {message_id} has no document {position}")
    return row
