"""Contact persons of a client card. A person belongs to its card: it is read and changed through the card,
and every change of one re-indexes the card (persons' names, phones and e-mails find the card)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.changes import apply_changes
from mercator.common.clock import now
from mercator.common.errors import BadReference
from mercator.common.uow import UnitOfWork
from mercator.common.versions import check_version
from mercator.contacts import events, repository, schemas
from mercator.contacts.tables import Person


def new_person(company_id: uuid.UUID, data: schemas.PersonCreate, at: datetime) -> Person:
    return Person(
        id=uuid.uuid4(),
        company_id=company_id,
        name=data.name,
        position=data.position,
        phones=repository.unique(data.phones),
        emails=repository.unique(data.emails),
        notes=data.notes,
        created_at=at,
        updated_at=at,
        version=1,
        search_text="",
    )


def add_to(uow: UnitOfWork, company_id: uuid.UUID, persons: list[schemas.PersonCreate]) -> list[Person]:
    """New persons of a card, with their events; the card is re-indexed by the caller."""
    at = now()
    made = [new_person(company_id, p, at) for p in persons]
    uow.session.add_all(made)
    for person in made:
        events.person_added(uow, person)
    return made


async def list_persons(session: AsyncSession, company_id: uuid.UUID, caller: Caller) -> list[Person]:
    await repository.get_company(session, company_id, caller)
    stmt = select(Person).where(Person.company_id == company_id).order_by(Person.name, Person.id)
    return list((await session.execute(stmt)).scalars())


async def add_person(uow: UnitOfWork, company_id: uuid.UUID, data: schemas.PersonCreate, caller: Caller) -> Person:
    company = await repository.get_company(uow.session, company_id, caller, write=True)
    (person,) = add_to(uow, company.id, [data])
    await repository.reindex(uow.session, company)
    return person


async def get_person(session: AsyncSession, company_id: uuid.UUID, person_id: uuid.UUID, caller: Caller) -> Person:
    return await repository.person_at(session, await repository.get_company(session, company_id, caller), person_id)


async def update_person(
    uow: UnitOfWork,
    company_id: uuid.UUID,
    person_id: uuid.UUID,
    data: schemas.PersonUpdate,
    expected_version: int | None,
    caller: Caller,
) -> Person:
    company = await repository.get_company(uow.session, company_id, caller, write=True)
    person = await repository.person_at(uow.session, company, person_id)
    check_version(person, expected_version, "contact person")
    changes = {f: getattr(data, f) for f in data.model_fields_set}
    if "name" in changes and changes["name"] is None:
        raise BadReference("a contact person must have a name", field="name")
    for field in ("phones", "emails"):
        if field in changes:
            changes[field] = repository.unique(changes[field])
    if apply_changes(person, changes):
        await repository.reindex(uow.session, company)
        events.person_updated(uow, person)
    return person
