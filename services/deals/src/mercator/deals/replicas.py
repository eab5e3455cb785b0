"""The replicas deals keeps of other services' records (client cards, contact persons, users), fed by their
events: order-tolerant (a later sequence wins) and idempotent."""

from __future__ import annotations

import uuid

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.deals.tables import Client, Person, User


async def apply_client_card(
    session: AsyncSession, company_id: uuid.UUID, sequence: int, name: str, owner_id: uuid.UUID, status: str
) -> None:
    row = await session.get(Client, company_id, with_for_update=True)
    if row is None:
        session.add(Client(company_id=company_id, name=name, owner_id=owner_id, status=status, version=sequence))
    elif sequence > row.version:  # events of one card may arrive out of order across topics
        row.name, row.owner_id, row.status, row.version = name, owner_id, status, sequence


async def apply_client_merged(session: AsyncSession, survivor_id: uuid.UUID, absorbed_id: uuid.UUID) -> None:
    row = await session.get(Client, absorbed_id, with_for_update=True)
    if row is None:
        session.add(Client(company_id=absorbed_id, version=0, merged_into_id=survivor_id))
    else:
        row.merged_into_id = survivor_id
    # The absorbed card's people now belong to the survivor (contacts moved them too).
    await session.execute(update(Person).where(Person.company_id == absorbed_id).values(company_id=survivor_id))


async def apply_person(
    session: AsyncSession, person_id: uuid.UUID, company_id: uuid.UUID, name: str, sequence: int
) -> None:
    row = await session.get(Person, person_id, with_for_update=True)
    if row is None:
        session.add(Person(person_id=person_id, company_id=company_id, name=name, version=sequence))
    elif sequence > row.version:
        row.name, row.version = name, sequence


async def apply_user(
    session: AsyncSession, user_id: uuid.UUID, name: str, department_id: uuid.UUID | None, active: bool, sequence: int
) -> None:
    row = await session.get(User, user_id, with_for_update=True)
    if row is None:
        session.add(User(user_id=user_id, name=name, department_id=department_id, active=active, version=sequence))
    elif sequence > row.version:
        row.name, row.department_id, row.active, row.version = name, department_id, active, sequence
