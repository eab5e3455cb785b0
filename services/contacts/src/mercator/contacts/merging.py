"""Merging client cards: a duplicate absorbed into the card that stays, and an import's row folded into a
card it duplicates."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.errors import BadReference, NotFound
from mercator.common.uow import UnitOfWork
from mercator.common.versions import check_version
from mercator.contacts import events, persons, repository, schemas
from mercator.contacts.tables import Activity, Company, CompanyContact, Meeting, Person


async def _move_records(session: AsyncSession, absorbed_id: uuid.UUID, survivor_id: uuid.UUID) -> dict[str, int]:
    moved = {}
    for table, key in ((Person, "persons"), (Activity, "activities"), (Meeting, "meetings")):
        result = await session.execute(
            update(table)
            .where(table.company_id == absorbed_id)
            .values(company_id=survivor_id)
            .execution_options(synchronize_session=False)
        )
        moved[key] = result.rowcount  # type: ignore[attr-defined]
    await session.execute(delete(CompanyContact).where(CompanyContact.company_id == absorbed_id))
    return moved


async def merge_companies(
    uow: UnitOfWork, survivor_id: uuid.UUID, absorbed_id: uuid.UUID, expected_version: int | None, caller: Caller
) -> Company:
    cards = repository.Cards(uow.session)
    if survivor_id == absorbed_id:  # before any look-up, as the card's own rule would say after one
        raise BadReference("a client card cannot be merged into itself", field="absorbed_id")
    survivor = await cards.get(survivor_id, caller, write=True)
    check_version(survivor, expected_version, "client card")
    try:  # a card the caller may not change is refused exactly like a missing one
        absorbed = await cards.get(absorbed_id, caller, write=True)
    except NotFound as exc:
        raise BadReference(exc.message, field="absorbed_id") from None
    survivor.absorb(absorbed)
    moved = await _move_records(uow.session, absorbed.id, survivor.id)
    await cards.save(absorbed)
    company = await cards.save(survivor, persons_changed=True)
    await events.publish(uow, company, survivor, moved)
    return company


async def fill_in(uow: UnitOfWork, company_id: uuid.UUID, data: schemas.CompanyCreate, caller: Caller) -> uuid.UUID:
    """An import's row folded into the card it duplicates (`domain.ClientCard.fill_in`), with its persons."""
    cards = repository.Cards(uow.session)
    card = await cards.get(company_id, caller, write=True)
    card.fill_in(data.model_dump(), data.phones, data.emails)
    added = persons.add_to(uow, card.id, data.persons)
    company = await cards.save(card, persons_changed=bool(added))
    await events.publish(uow, company, card)
    return company.id
