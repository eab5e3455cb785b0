"""Merging client cards: a duplicate absorbed into the card that stays, and an import's row folded into a
card it duplicates."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.changes import apply_changes
from mercator.common.clock import now
from mercator.common.errors import BadReference, NotFound
from mercator.common.uow import UnitOfWork
from mercator.common.versions import check_version
from mercator.contacts import domain, events, persons, repository, schemas
from mercator.contacts.tables import Activity, Company, CompanyContact, Meeting, Person

_MERGED = (
    "name",
    "legal_name",
    "tax_id",
    "region_id",
    "industry_id",
    "source_id",
    "department_id",
    "phones",
    "emails",
    "address",
    "website",
    "notes",
)
_FILLED = ("legal_name", "tax_id", "region_id", "industry_id", "source_id", "address", "website", "notes")


async def _move_records(session: AsyncSession, absorbed: Company, survivor: Company) -> dict[str, int]:
    moved = {}
    for table, key in ((Person, "persons"), (Activity, "activities"), (Meeting, "meetings")):
        result = await session.execute(
            update(table)
            .where(table.company_id == absorbed.id)
            .values(company_id=survivor.id)
            .execution_options(synchronize_session=False)
        )
        moved[key] = result.rowcount  # type: ignore[attr-defined]
    await session.execute(delete(CompanyContact).where(CompanyContact.company_id == absorbed.id))
    return moved


async def merge_companies(
    uow: UnitOfWork, survivor_id: uuid.UUID, absorbed_id: uuid.UUID, expected_version: int | None, caller: Caller
) -> Company:
    s = uow.session
    if survivor_id == absorbed_id:
        raise BadReference("a client card cannot be merged into itself", field="absorbed_id")
    survivor = await repository.get_company(s, survivor_id, caller, write=True)
    check_version(survivor, expected_version, "client card")
    try:  # a card the caller may not change is refused exactly like a missing one
        absorbed = await repository.get_company(s, absorbed_id, caller, write=True)
    except NotFound as exc:
        raise BadReference(exc.message, field="absorbed_id") from None
    merged = domain.merge_cards({f: getattr(survivor, f) for f in _MERGED}, {f: getattr(absorbed, f) for f in _MERGED})
    for f in _MERGED:
        setattr(survivor, f, merged[f])
    if absorbed.last_activity_at and (
        survivor.last_activity_at is None or absorbed.last_activity_at > survivor.last_activity_at
    ):
        survivor.last_activity_at = absorbed.last_activity_at
    moved = await _move_records(s, absorbed, survivor)
    absorbed.merged_into_id = survivor.id
    absorbed.version += 1
    absorbed.updated_at = survivor.updated_at = now()
    survivor.version += 1
    await repository.reindex(s, survivor)
    events.company_merged(uow, survivor, absorbed.id, moved)
    await events.company_updated(uow, survivor, ["merged"])
    return survivor


async def fill_in(uow: UnitOfWork, company_id: uuid.UUID, card: schemas.CompanyCreate, caller: Caller) -> uuid.UUID:
    """An import's row fills what the card lacks and adds its phones, e-mails and persons; what the card
    says stays."""
    company = await repository.get_company(uow.session, company_id, caller, write=True)
    changes = {
        f: getattr(card, f) for f in _FILLED if getattr(card, f) is not None and getattr(company, f) in (None, "")
    }
    for field in ("phones", "emails"):
        changes[field] = repository.unique([*getattr(company, field), *getattr(card, field)])
    changed = apply_changes(company, changes, versioned=False)
    added = persons.add_to(uow, company, card.persons)
    if changed or added:
        await repository.reindex(uow.session, company)
    if changed:
        company.version += 1
        company.updated_at = now()
        await events.company_updated(uow, company, changed)
    return company.id
