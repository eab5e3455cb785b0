"""The dictionary of reasons a deal is lost for: edited by heads, picked when a deal is closed as lost."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.changes import apply_changes
from mercator.common.errors import BadReference, NotFound
from mercator.common.uow import UnitOfWork
from mercator.deals import schemas
from mercator.deals.policy import may_edit_settings, name_key
from mercator.deals.tables import LostReason


async def list_lost_reasons(session: AsyncSession, include_inactive: bool) -> list[LostReason]:
    stmt = select(LostReason)
    if not include_inactive:
        stmt = stmt.where(LostReason.active.is_(True))
    return list((await session.execute(stmt.order_by(LostReason.position, LostReason.name_key))).scalars())


async def active(session: AsyncSession, reason_id: uuid.UUID | None) -> LostReason | None:
    """The reason a deal is closed with; none named is the deal's to refuse, an unknown one is a bad reference."""
    if reason_id is None:
        return None
    reason = await session.get(LostReason, reason_id)
    if reason is None or not reason.active:
        raise BadReference(f"there is no lost reason {reason_id}", field="reason_id")
    return reason


async def _name_free(session: AsyncSession, name: str, but: uuid.UUID | None = None) -> None:
    stmt = select(LostReason.id).where(LostReason.name_key == name_key(name))
    if await session.scalar(stmt if but is None else stmt.where(LostReason.id != but)):
        raise BadReference(f"a lost reason named {name!r} exists already", field="name")


async def add_lost_reason(uow: UnitOfWork, data: schemas.LostReasonCreate, caller: Caller) -> LostReason:
    may_edit_settings(caller)
    await _name_free(uow.session, data.name)
    row = LostReason(id=uuid.uuid4(), name=data.name, name_key=name_key(data.name), active=True, position=data.position)
    uow.session.add(row)
    return row


async def update_lost_reason(
    uow: UnitOfWork, reason_id: uuid.UUID, data: schemas.LostReasonUpdate, caller: Caller
) -> LostReason:
    may_edit_settings(caller)
    row = await uow.session.get(LostReason, reason_id)
    if row is None:
        raise NotFound(f"no lost reason {reason_id}")
    changes = {f: getattr(data, f) for f in ("name", "active", "position") if getattr(data, f) is not None}
    if "name" in changes:
        await _name_free(uow.session, data.name or "", reason_id)
        changes["name_key"] = name_key(changes["name"])
    apply_changes(row, changes, versioned=False)
    return row
