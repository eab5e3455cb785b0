"""Client cards: finding them, opening them (one or a batch), changing, handing over, and a status change
another service's fact causes. Merging two cards is `merging`."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.clock import now
from mercator.common.errors import BadReference, DomainError
from mercator.common.pagination import keyset_page
from mercator.common.uow import UnitOfWork
from mercator.common.versions import check_version
from mercator.common.visibility import Kind, NoAccess, may_file_under, sight
from mercator.contacts import domain, events, persons, repository, schemas
from mercator.contacts.tables import Company, CompanyContact, DictionaryEntry, Person

_REFERENCES = (("region", "region_id"), ("industry", "industry_id"), ("source", "source_id"))


async def likely_duplicates(
    session: AsyncSession,
    caller: Caller,
    name: str,
    tax_id: str | None,
    phones: list[str],
    emails: list[str],
    exclude: uuid.UUID | None = None,
) -> list[domain.LikelyDuplicate]:
    sight(caller, Kind.CARD)  # only for who works with cards at all
    # Deliberately not narrowed to what the caller sees: one sales department must not open the same
    # client twice because the first card belongs to someone else. So callers get only what a duplicate
    # report needs (id, name, reasons, score), never the card, which stays 404 to them.
    # Pre-select with indexed lookups, then let the domain score the few candidates.
    contacts = [("phone", p) for p in phones] + [("email", e) for e in emails]
    conditions: list[ColumnElement[bool]] = [Company.match_name.like(f"%{domain.candidate_name_prefix(name)}%")]
    if tax_id:
        conditions.append(Company.tax_id == tax_id)
    if contacts:
        conditions.append(
            Company.id.in_(
                select(CompanyContact.company_id).where(tuple_(CompanyContact.kind, CompanyContact.value).in_(contacts))
            )
        )
    stmt = select(Company).where(or_(*conditions), Company.merged_into_id.is_(None)).limit(500)
    rows = (await session.execute(stmt)).scalars().all()
    existing = [repository.fingerprint(c) for c in rows if c.id != exclude]
    new = domain.CardFingerprint(exclude, name, tax_id, tuple(phones), tuple(emails))
    return domain.find_likely_duplicates(new, existing)


async def list_companies(
    session: AsyncSession,
    caller: Caller,
    *,
    q: str | None,
    limit: int,
    cursor: str | None,
    **filters: Any,
) -> tuple[list[Company], str | None]:
    """`filters`: owner_id, region_id, industry_id, source_id, status, department_id (None: any)."""
    stmt = select(Company).where(Company.merged_into_id.is_(None), *repository.seen_cards(sight(caller, Kind.CARD)))
    if q:
        terms = [domain.search_key(q)]
        digits = domain.phone_digits(q)
        if len(digits) >= 3 and len(digits) >= len(q.replace(" ", "")) // 2:
            try:
                terms.append(domain.phone_digits(domain.normalise_phone(q)))
            except DomainError:
                terms.append(digits)
        stmt = stmt.where(or_(*(Company.search_text.contains(t, autoescape=True) for t in terms)))
    for name, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(Company, name) == value)
    return await keyset_page(session, stmt, (Company.sort_key, Company.id), limit, cursor)


async def add_company(
    uow: UnitOfWork, data: schemas.CompanyCreate, caller: Caller
) -> tuple[Company, list[Person], list[domain.LikelyDuplicate]]:
    """A new card with its persons, and the cards it is likely a duplicate of (reported, not refused)."""
    phones, emails = repository.unique(data.phones), repository.unique(data.emails)
    duplicates = await likely_duplicates(uow.session, caller, data.name, data.tax_id, phones, emails)
    ((company, made),) = await add_companies(uow, [data], caller)
    return company, made, duplicates


def _check_may_open(caller: Caller, cards: list[schemas.CompanyCreate]) -> None:
    write = sight(caller, Kind.CARD, write=True)
    for data in cards:
        owner_id = data.owner_id or caller.user_id
        department_id = data.department_id if "department_id" in data.model_fields_set else caller.department_id
        if not write.sees(owner_id, department_id, data.status.value):
            raise NoAccess("opening a card for another manager is for the head of their department and admins")
        if not may_file_under(caller, department_id):
            raise NoAccess("a card can be filed only under your own department or, for a head, the ones you head")


async def _entries_named(session: AsyncSession, cards: list[schemas.CompanyCreate]) -> dict[uuid.UUID, str]:
    """The names of the dictionary entries the cards name; refused when one is not there."""
    wanted = [(kind, getattr(d, field)) for d in cards for kind, field in _REFERENCES if getattr(d, field) is not None]
    if not wanted:
        return {}
    stmt = select(DictionaryEntry).where(DictionaryEntry.id.in_({i for _, i in wanted}))
    entries = {e.id: e for e in (await session.execute(stmt)).scalars()}
    for kind, entry_id in wanted:
        if entry_id not in entries or entries[entry_id].kind != kind:
            raise BadReference(f"there is no {kind} {entry_id}", field=f"{kind}_id")
    return {i: e.name for i, e in entries.items()}


def _new_card(data: schemas.CompanyCreate, caller: Caller) -> Company:
    at = now()
    return Company(
        id=uuid.uuid4(),
        name=data.name,
        legal_name=data.legal_name,
        tax_id=data.tax_id,
        status=data.status.value,
        owner_id=data.owner_id or caller.user_id,
        department_id=data.department_id if "department_id" in data.model_fields_set else caller.department_id,
        region_id=data.region_id,
        industry_id=data.industry_id,
        source_id=data.source_id,
        phones=repository.unique(data.phones),
        emails=repository.unique(data.emails),
        address=data.address,
        website=data.website,
        notes=data.notes,
        created_at=at,
        updated_at=at,
        version=1,
        last_activity_at=None,
    )


async def add_companies(
    uow: UnitOfWork, cards: list[schemas.CompanyCreate], caller: Caller
) -> list[tuple[Company, list[Person]]]:
    """Many new client cards in a handful of statements (an import writes a batch at once), each with its
    contact persons and its events. Refused whole when one names a dictionary entry that is not there or
    an owner the caller may not open cards for."""
    s = uow.session
    _check_may_open(caller, cards)
    names = await _entries_named(s, cards)
    at = now()
    made = []
    for data in cards:
        company = _new_card(data, caller)
        people = [persons.new_person(company.id, p, at) for p in data.persons]
        repository.index(company, people)
        s.add(company)
        made.append((company, people))
    await s.flush()  # the cards before what refers to them
    for company, people in made:
        s.add_all(people)
        s.add_all(repository.contacts(company))
    await s.flush()
    for company, people in made:
        events.company_created(uow, company, names)
        for person in people:
            events.person_added(uow, person)
    return made


async def update_company(
    uow: UnitOfWork, company_id: uuid.UUID, data: schemas.CompanyUpdate, expected_version: int | None, caller: Caller
) -> Company:
    cards = repository.Cards(uow.session)
    card = await cards.get(company_id, caller, write=True)
    check_version(card, expected_version, "client card")
    changes = {f: getattr(data, f) for f in data.model_fields_set if f in domain.CARD_FIELDS}
    card.change(changes)
    for kind, field in _REFERENCES:
        if field in changes:
            await repository.check_entry(uow.session, kind, changes[field], field)
    company = await cards.save(card)
    await events.publish(uow, company, card)
    return company


async def reassign_company(
    uow: UnitOfWork, company_id: uuid.UUID, data: schemas.Reassign, expected_version: int | None, caller: Caller
) -> Company:
    cards = repository.Cards(uow.session)
    card = await cards.get(company_id, caller, write=True)
    department_id = data.department_id if "department_id" in data.model_fields_set else card.department_id
    # The new owner must be in the caller's sight too: a manager cannot give cards away, a head only
    # within their department subtree.
    if not sight(caller, Kind.CARD, write=True).sees(data.owner_id, department_id, card.status):
        raise NoAccess("handing a card to another manager is for the head of their department and admins")
    if department_id != card.department_id and not may_file_under(caller, department_id):
        raise NoAccess("a card can be filed only under your own department or, for a head, the ones you head")
    check_version(card, expected_version, "client card")
    card.reassign(data.owner_id, department_id)
    company = await cards.save(card)
    await events.publish(uow, company, card)
    return company
