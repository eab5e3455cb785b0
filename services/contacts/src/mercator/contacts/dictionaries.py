"""Dictionaries: regions, industries and contact sources. Plain entries with no rules beyond a unique name
per kind, so they are rows, not aggregates."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.errors import BadReference, NotFound
from mercator.common.uow import UnitOfWork
from mercator.common.visibility import Kind, sight
from mercator.contacts import domain, schemas
from mercator.contacts.tables import DictionaryEntry

KINDS = {"regions": "region", "industries": "industry", "contact-sources": "source"}


async def list_entries(
    session: AsyncSession, kind: str, include_inactive: bool, caller: Caller
) -> list[DictionaryEntry]:
    sight(caller, Kind.SETTINGS)
    stmt = select(DictionaryEntry).where(DictionaryEntry.kind == kind)
    if not include_inactive:
        stmt = stmt.where(DictionaryEntry.active.is_(True))
    return list((await session.execute(stmt.order_by(DictionaryEntry.position, DictionaryEntry.name_key))).scalars())


async def _check_name_free(session: AsyncSession, kind: str, name: str, entry_id: uuid.UUID | None = None) -> str:
    key = domain.search_key(name)
    stmt = select(DictionaryEntry.id).where(DictionaryEntry.kind == kind, DictionaryEntry.name_key == key)
    if entry_id is not None:
        stmt = stmt.where(DictionaryEntry.id != entry_id)
    if await session.scalar(stmt) is not None:
        raise BadReference(f"a {kind} named {name!r} exists already", field="name")
    return key


async def add_entry(uow: UnitOfWork, kind: str, data: schemas.DictionaryEntryCreate, caller: Caller) -> DictionaryEntry:
    sight(caller, Kind.SETTINGS, write=True)
    key = await _check_name_free(uow.session, kind, data.name)
    entry = DictionaryEntry(
        id=uuid.uuid4(), kind=kind, name=data.name, name_key=key, active=True, position=data.position, version=1
    )
    uow.session.add(entry)
    await uow.session.flush()
    return entry


async def update_entry(
    uow: UnitOfWork, kind: str, entry_id: uuid.UUID, data: schemas.DictionaryEntryUpdate, caller: Caller
) -> DictionaryEntry:
    sight(caller, Kind.SETTINGS, write=True)
    entry = await uow.session.get(DictionaryEntry, entry_id)
    if entry is None or entry.kind != kind:
        raise NotFound(f"no {kind} {entry_id}")
    if data.name is not None:
        entry.name_key = await _check_name_free(uow.session, kind, data.name, entry_id)
        entry.name = data.name
    if data.active is not None:
        entry.active = data.active
    if data.position is not None:
        entry.position = data.position
    entry.version += 1
    await uow.session.flush()
    return entry
