"""Column mappings saved under a name, for the next file of the same shape."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.clock import now
from mercator.common.errors import BadReference
from mercator.common.uow import UnitOfWork
from mercator.contacts.imports import sheets
from mercator.contacts.imports.jobs import may_import
from mercator.contacts.tables import ImportMapping


async def save_mapping(uow: UnitOfWork, kind: str, name: str, columns: dict[str, str], caller: Caller) -> ImportMapping:
    may_import(caller, kind)
    sheets.check_mapping(kind, columns)
    if await uow.session.scalar(select(ImportMapping.id).where(ImportMapping.kind == kind, ImportMapping.name == name)):
        raise BadReference(f"a {kind} mapping named {name!r} exists already", field="name")
    row = ImportMapping(
        id=uuid.uuid4(), kind=kind, name=name, columns=columns, author_id=caller.user_id, created_at=now()
    )
    uow.session.add(row)
    await uow.session.flush()
    return row


async def list_mappings(session: AsyncSession, kind: str | None) -> list[ImportMapping]:
    stmt = select(ImportMapping).order_by(ImportMapping.kind, ImportMapping.name)
    if kind:
        stmt = stmt.where(ImportMapping.kind == kind)
    return list((await session.execute(stmt)).scalars())


# --- jobs ---------------------------------------------------------------------------------------------------
