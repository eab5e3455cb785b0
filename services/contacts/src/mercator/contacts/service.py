"""Use cases of the contacts service: each one function, one transaction (its `uow.commit()`).

The `record_*` use cases are called by event handlers: the consumer commits them with its inbox row.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy import delete, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.db import insert_rows
from mercator.common.errors import BadReference, NotFound
from mercator.common.events import catalogue as ev
from mercator.common.history import happened_by_now
from mercator.common.ids import new_id
from mercator.common.pagination import keyset_page
from mercator.common.uow import UnitOfWork
from mercator.common.versions import check_version
from mercator.common.visibility import (
    Kind,
    NoAccess,
    Sight,
    may_act_for,
    may_file_under,
    sight,
)
from mercator.contacts import domain, schemas
from mercator.contacts.tables import (
    Activity,
    Company,
    CompanyContact,
    DictionaryEntry,
    Meeting,
    Person,
)

log = logging.getLogger(__name__)

DICTIONARY_KINDS = {"regions": "region", "industries": "industry", "contact-sources": "source"}


UnknownReference = BadReference


def now() -> datetime:
    return datetime.now(UTC)


# --- who sees what (the policy is `mercator.common.visibility`; cards decide for their history too) ---


def _sees(view: Sight, company: Company) -> bool:
    return view.sees(company.owner_id, company.department_id, company.status)


def _seen_cards(view: Sight) -> list:
    """`Sight.sees` as SQL conditions on Company, so lists filter and page in the database."""
    conditions = []
    if not view.everything:
        conditions.append(or_(Company.owner_id == view.owner_id, Company.department_id.in_(view.departments)))
    if view.clients_only:
        conditions.append(Company.status == domain.CompanyStatus.CLIENT.value)
    return conditions


# --- reading ----------------------------------------------------------------------------


async def get_company(
    session: AsyncSession, company_id: uuid.UUID, caller: Caller, *, kind: Kind = Kind.CARD, write: bool = False
) -> Company:
    """The live card, if the caller may see it (`kind` HISTORY when it is for the card's history or
    meetings). A card they may not see answers exactly like a missing one: ids are not probed."""
    view = sight(caller, kind, write=write)
    company = await session.get(Company, company_id)
    if company is None or not _sees(view, company):
        raise NotFound(f"no client card {company_id}")
    if company.merged_into_id is not None:
        raise NotFound(f"client card {company_id} was merged into {company.merged_into_id}")
    return company


async def dictionary_names(session: AsyncSession, ids: set[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    rows = await session.execute(select(DictionaryEntry.id, DictionaryEntry.name).where(DictionaryEntry.id.in_(ids)))
    return dict(rows.all())


async def _entry(session: AsyncSession, kind: str, entry_id: uuid.UUID | None, field: str) -> DictionaryEntry | None:
    if entry_id is None:
        return None
    entry = await session.get(DictionaryEntry, entry_id)
    if entry is None or entry.kind != kind:
        raise UnknownReference(f"there is no {kind} {entry_id}", field=field)
    return entry


def _search_text(company: Company, persons: list[Person]) -> str:
    parts = [
        company.name,
        company.legal_name or "",
        company.tax_id or "",
        *company.emails,
        *(domain.phone_digits(p) for p in company.phones),
    ]
    for person in persons:
        parts += [person.name, *person.emails, *(domain.phone_digits(p) for p in person.phones)]
    return domain.search_key(" | ".join(p for p in parts if p))


async def _reindex(session: AsyncSession, company: Company) -> None:
    persons = (await session.execute(select(Person).where(Person.company_id == company.id))).scalars().all()
    _index(company, list(persons))
    await session.execute(delete(CompanyContact).where(CompanyContact.company_id == company.id))
    session.add_all(_contacts(company))


def _index(company: Company, persons: list[Person]) -> None:
    company.search_text = _search_text(company, persons)
    company.sort_key = domain.search_key(company.name)[:300]
    company.match_name = domain.matching_name(company.name)[:300]


def _contacts(company: Company) -> list[CompanyContact]:
    contacts = {("phone", p) for p in company.phones} | {("email", e) for e in company.emails}
    return [CompanyContact(company_id=company.id, kind=k, value=v) for k, v in sorted(contacts)]


def _card(company: Company, names: dict[uuid.UUID, str]) -> dict:
    return dict(
        company_id=company.id,
        name=company.name,
        legal_name=company.legal_name,
        tax_id=company.tax_id,
        status=company.status,
        owner_id=company.owner_id,
        department_id=company.department_id,
        region_id=company.region_id,
        region_name=names.get(company.region_id),
        industry_id=company.industry_id,
        industry_name=names.get(company.industry_id),
        source_id=company.source_id,
        source_name=names.get(company.source_id),
        phones=list(company.phones),
        emails=list(company.emails),
        website=company.website,
        created_at=company.created_at,
        last_activity_at=company.last_activity_at,
    )


async def _names_of(session: AsyncSession, company: Company) -> dict[uuid.UUID, str]:
    return await dictionary_names(session, {company.region_id, company.industry_id, company.source_id})


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
    conditions = [Company.match_name.like(f"%{domain.candidate_name_prefix(name)}%")]
    if tax_id:
        conditions.append(Company.tax_id == tax_id)
    if contacts:
        conditions.append(
            Company.id.in_(
                select(CompanyContact.company_id).where(tuple_(CompanyContact.kind, CompanyContact.value).in_(contacts))
            )
        )
    rows = (
        (await session.execute(select(Company).where(or_(*conditions), Company.merged_into_id.is_(None)).limit(500)))
        .scalars()
        .all()
    )
    existing = [
        domain.CardFingerprint(c.id, c.name, c.tax_id, tuple(c.phones), tuple(c.emails))
        for c in rows
        if c.id != exclude
    ]
    new = domain.CardFingerprint(exclude, name, tax_id, tuple(phones), tuple(emails))
    return domain.find_likely_duplicates(new, existing)


async def list_companies(
    session: AsyncSession,
    caller: Caller,
    *,
    q: str | None,
    owner_id: uuid.UUID | None,
    region_id: uuid.UUID | None,
    industry_id: uuid.UUID | None,
    source_id: uuid.UUID | None,
    status: str | None,
    department_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Company], str | None]:
    stmt = select(Company).where(Company.merged_into_id.is_(None), *_seen_cards(sight(caller, Kind.CARD)))
    if q:
        terms = [domain.search_key(q)]
        digits = domain.phone_digits(q)
        if len(digits) >= 3 and len(digits) >= len(q.replace(" ", "")) // 2:
            try:
                terms.append(domain.phone_digits(domain.normalise_phone(q)))
            except domain.DomainError:
                terms.append(digits)
        stmt = stmt.where(or_(*(Company.search_text.contains(t, autoescape=True) for t in terms)))
    for column, value in (
        (Company.owner_id, owner_id),
        (Company.region_id, region_id),
        (Company.industry_id, industry_id),
        (Company.source_id, source_id),
        (Company.status, status),
        (Company.department_id, department_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return await keyset_page(session, stmt, (Company.sort_key, Company.id), limit, cursor)


async def list_history(
    session: AsyncSession, company_id: uuid.UUID, caller: Caller, *, kind: str | None, limit: int, cursor: str | None
) -> tuple[list[Activity], str | None]:
    await get_company(session, company_id, caller, kind=Kind.HISTORY)
    stmt = select(Activity).where(Activity.company_id == company_id)
    if kind:
        stmt = stmt.where(Activity.kind == kind)
    return await keyset_page(session, stmt, (Activity.happened_at, Activity.id), limit, cursor, descending=True)


async def list_meetings(
    session: AsyncSession,
    caller: Caller,
    *,
    company_id: uuid.UUID | None,
    owner_id: uuid.UUID | None,
    status: str | None,
    starts_from: datetime | None,
    starts_to: datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Meeting], str | None]:
    stmt = select(Meeting)
    if seen := _seen_cards(sight(caller, Kind.HISTORY)):
        stmt = stmt.join(Company, Company.id == Meeting.company_id).where(*seen)
    for column, value in ((Meeting.company_id, company_id), (Meeting.owner_id, owner_id), (Meeting.status, status)):
        if value is not None:
            stmt = stmt.where(column == value)
    if starts_from is not None:
        stmt = stmt.where(Meeting.starts_at >= starts_from)
    if starts_to is not None:
        stmt = stmt.where(Meeting.starts_at < starts_to)
    return await keyset_page(session, stmt, (Meeting.starts_at, Meeting.id), limit, cursor)


async def list_persons(session: AsyncSession, company_id: uuid.UUID, caller: Caller) -> list[Person]:
    await get_company(session, company_id, caller)
    return list(
        (
            await session.execute(
                select(Person).where(Person.company_id == company_id).order_by(Person.name, Person.id)
            )
        ).scalars()
    )


async def list_dictionary(
    session: AsyncSession, kind: str, include_inactive: bool, caller: Caller
) -> list[DictionaryEntry]:
    sight(caller, Kind.SETTINGS)
    stmt = select(DictionaryEntry).where(DictionaryEntry.kind == kind)
    if not include_inactive:
        stmt = stmt.where(DictionaryEntry.active.is_(True))
    return list((await session.execute(stmt.order_by(DictionaryEntry.position, DictionaryEntry.name_key))).scalars())


# --- dictionaries --------------------------------------------------------------------------


async def add_dictionary_entry(
    uow: UnitOfWork, kind: str, data: schemas.DictionaryEntryCreate, caller: Caller
) -> DictionaryEntry:
    sight(caller, Kind.SETTINGS, write=True)
    key = domain.search_key(data.name)
    clash = await uow.session.scalar(
        select(DictionaryEntry.id).where(DictionaryEntry.kind == kind, DictionaryEntry.name_key == key)
    )
    if clash is not None:
        raise UnknownReference(f"a {kind} named {data.name!r} exists already", field="name")
    entry = DictionaryEntry(
        id=uuid.uuid4(), kind=kind, name=data.name, name_key=key, active=True, position=data.position, version=1
    )
    uow.session.add(entry)
    await uow.commit()
    return entry


async def update_dictionary_entry(
    uow: UnitOfWork, kind: str, entry_id: uuid.UUID, data: schemas.DictionaryEntryUpdate, caller: Caller
) -> DictionaryEntry:
    sight(caller, Kind.SETTINGS, write=True)
    entry = await uow.session.get(DictionaryEntry, entry_id)
    if entry is None or entry.kind != kind:
        raise NotFound(f"no {kind} {entry_id}")
    if data.name is not None:
        key = domain.search_key(data.name)
        clash = await uow.session.scalar(
            select(DictionaryEntry.id).where(
                DictionaryEntry.kind == kind, DictionaryEntry.name_key == key, DictionaryEntry.id != entry_id
            )
        )
        if clash is not None:
            raise UnknownReference(f"a {kind} named {data.name!r} exists already", field="name")
        entry.name, entry.name_key = data.name, key
    if data.active is not None:
        entry.active = data.active
    if data.position is not None:
        entry.position = data.position
    entry.version += 1
    await uow.commit()
    return entry


# --- client cards --------------------------------------------------------------------------


async def create_company(
    uow: UnitOfWork, data: schemas.CompanyCreate, caller: Caller
) -> tuple[Company, list[Person], list[domain.LikelyDuplicate]]:
    made = await add_company(uow, data, caller)
    await uow.commit()
    return made


async def add_company(
    uow: UnitOfWork, data: schemas.CompanyCreate, caller: Caller, duplicates: list[domain.LikelyDuplicate] | None = None
) -> tuple[Company, list[Person], list[domain.LikelyDuplicate]]:
    """`create_company` without its commit; `duplicates` when the caller has looked for them already."""
    if duplicates is None:
        phones, emails = list(dict.fromkeys(data.phones)), list(dict.fromkeys(data.emails))
        duplicates = await likely_duplicates(uow.session, caller, data.name, data.tax_id, phones, emails)
    ((company, persons),) = await add_companies(uow, [data], caller)
    return company, persons, duplicates


async def add_companies(
    uow: UnitOfWork, cards: list[schemas.CompanyCreate], caller: Caller
) -> list[tuple[Company, list[Person]]]:
    """Many new client cards in a handful of statements (an import writes a batch at once), each with its
    contact persons and its events; no commit. Refused whole when one names a dictionary entry that is not
    there or an owner the caller may not open cards for."""
    s = uow.session
    write = sight(caller, Kind.CARD, write=True)
    for data in cards:
        owner_id = data.owner_id or caller.user_id
        department_id = data.department_id if "department_id" in data.model_fields_set else caller.department_id
        if not write.sees(owner_id, department_id, data.status.value):
            raise NoAccess("opening a card for another manager is for the head of their department and admins")
        if not may_file_under(caller, department_id):
            raise NoAccess("a card can be filed only under your own department or, for a head, the ones you head")
    wanted = [
        (kind, getattr(d, f"{kind}_id"))
        for d in cards
        for kind in ("region", "industry", "source")
        if getattr(d, f"{kind}_id") is not None
    ]
    entries: dict[uuid.UUID, DictionaryEntry] = {}
    if wanted:
        entries = {
            e.id: e
            for e in (
                await s.execute(select(DictionaryEntry).where(DictionaryEntry.id.in_({i for _, i in wanted})))
            ).scalars()
        }
    for kind, entry_id in wanted:
        if entry_id not in entries or entries[entry_id].kind != kind:
            raise UnknownReference(f"there is no {kind} {entry_id}", field=f"{kind}_id")
    names = {i: e.name for i, e in entries.items()}
    at = now()
    made = []
    for data in cards:
        owner_id = data.owner_id or caller.user_id
        department_id = data.department_id if "department_id" in data.model_fields_set else caller.department_id
        phones, emails = list(dict.fromkeys(data.phones)), list(dict.fromkeys(data.emails))
        company = Company(
            id=uuid.uuid4(),
            name=data.name,
            legal_name=data.legal_name,
            tax_id=data.tax_id,
            status=data.status.value,
            owner_id=owner_id,
            department_id=department_id,
            region_id=data.region_id,
            industry_id=data.industry_id,
            source_id=data.source_id,
            phones=phones,
            emails=emails,
            address=data.address,
            website=data.website,
            notes=data.notes,
            created_at=at,
            updated_at=at,
            version=1,
            last_activity_at=None,
        )
        persons = [_new_person(company.id, p, at) for p in data.persons]
        _index(company, persons)
        s.add(company)
        made.append((company, persons))
    await s.flush()  # the cards before what refers to them
    for company, persons in made:
        s.add_all(persons)
        s.add_all(_contacts(company))
    await s.flush()
    for company, persons in made:
        uow.emit(ev.CompanyCreated(**_card(company, names)), subject=company.id, sequence=1)
        for person in persons:
            uow.emit(ev.PersonAdded(**_person_event(person)), subject=person.id, sequence=1)
    return made


_COMPANY_FIELDS = (
    "name",
    "legal_name",
    "tax_id",
    "status",
    "region_id",
    "industry_id",
    "source_id",
    "phones",
    "emails",
    "address",
    "website",
    "notes",
)


async def update_company(
    uow: UnitOfWork, company_id: uuid.UUID, data: schemas.CompanyUpdate, expected_version: int, caller: Caller
) -> Company:
    s = uow.session
    company = await get_company(s, company_id, caller, write=True)
    check_version(company, expected_version, "client card")
    changes = {f: getattr(data, f) for f in data.model_fields_set if f in _COMPANY_FIELDS}
    if "name" in changes and changes["name"] is None:
        raise UnknownReference("a client card must have a name", field="name")
    if "status" in changes:
        if changes["status"] is None:
            raise UnknownReference("a client card must have a status", field="status")
        domain.check_status_change(domain.CompanyStatus(company.status), changes["status"])
        changes["status"] = changes["status"].value
    for kind, field in (("region", "region_id"), ("industry", "industry_id"), ("source", "source_id")):
        if field in changes:
            await _entry(s, kind, changes[field], field)
    for field in ("phones", "emails"):
        if field in changes:
            changes[field] = list(dict.fromkeys(changes[field] or []))
    changed = [f for f, v in changes.items() if getattr(company, f) != v]
    if not changed:
        return company
    for field in changed:
        setattr(company, field, changes[field])
    await _reindex(s, company)
    await _card_changed(uow, company, changed)
    await uow.commit()
    return company


async def _card_changed(uow: UnitOfWork, company: Company, changed: list[str]) -> None:
    """A new version of the card, published whole (event-carried state) with what changed."""
    company.version += 1
    company.updated_at = now()
    uow.emit(
        ev.CompanyUpdated(**_card(company, await _names_of(uow.session, company)), changed=sorted(changed)),
        subject=company.id,
        sequence=company.version,
    )


async def reassign_company(
    uow: UnitOfWork, company_id: uuid.UUID, data: schemas.Reassign, expected_version: int | None, caller: Caller
) -> Company:
    company = await get_company(uow.session, company_id, caller, write=True)
    department_id = data.department_id if "department_id" in data.model_fields_set else company.department_id
    # The new owner must be in the caller's sight too: a manager cannot give cards away, a head only
    # within their department subtree.
    if not sight(caller, Kind.CARD, write=True).sees(data.owner_id, department_id, company.status):
        raise NoAccess("handing a card to another manager is for the head of their department and admins")
    if department_id != company.department_id and not may_file_under(caller, department_id):
        raise NoAccess("a card can be filed only under your own department or, for a head, the ones you head")
    check_version(company, expected_version, "client card")
    if company.owner_id == data.owner_id and company.department_id == department_id:
        return company
    previous = company.owner_id
    company.owner_id = data.owner_id
    company.department_id = department_id
    company.version += 1
    company.updated_at = now()
    uow.emit(
        ev.CompanyReassigned(
            company_id=company.id,
            from_owner_id=previous,
            to_owner_id=company.owner_id,
            department_id=company.department_id,
        ),
        subject=company.id,
        sequence=company.version,
    )
    await uow.commit()
    return company


async def merge_companies(
    uow: UnitOfWork, survivor_id: uuid.UUID, absorbed_id: uuid.UUID, expected_version: int | None, caller: Caller
) -> Company:
    s = uow.session
    if survivor_id == absorbed_id:
        raise UnknownReference("a client card cannot be merged into itself", field="absorbed_id")
    survivor = await get_company(s, survivor_id, caller, write=True)
    check_version(survivor, expected_version, "client card")
    try:  # a card the caller may not change is refused exactly like a missing one
        absorbed = await get_company(s, absorbed_id, caller, write=True)
    except NotFound as exc:
        raise UnknownReference(exc.detail, field="absorbed_id") from None
    fields = (
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
    merged = domain.merge_cards({f: getattr(survivor, f) for f in fields}, {f: getattr(absorbed, f) for f in fields})
    for f in fields:
        setattr(survivor, f, merged[f])
    if absorbed.last_activity_at and (
        survivor.last_activity_at is None or absorbed.last_activity_at > survivor.last_activity_at
    ):
        survivor.last_activity_at = absorbed.last_activity_at
    moved = {}
    for table, key in ((Person, "persons"), (Activity, "activities"), (Meeting, "meetings")):
        result = await s.execute(
            update(table)
            .where(table.company_id == absorbed.id)
            .values(company_id=survivor.id)
            .execution_options(synchronize_session=False)
        )
        moved[key] = result.rowcount
    await s.execute(delete(CompanyContact).where(CompanyContact.company_id == absorbed.id))
    absorbed.merged_into_id = survivor.id
    absorbed.version += 1
    absorbed.updated_at = survivor.updated_at = now()
    survivor.version += 1
    await s.flush()
    await _reindex(s, survivor)
    uow.emit(
        ev.CompanyMerged(
            company_id=survivor.id,
            absorbed_id=absorbed.id,
            moved_persons=moved["persons"],
            moved_activities=moved["activities"],
            moved_meetings=moved["meetings"],
        ),
        subject=survivor.id,
        sequence=survivor.version,
    )
    uow.emit(
        ev.CompanyUpdated(**_card(survivor, await _names_of(s, survivor)), changed=["merged"]),
        subject=survivor.id,
        sequence=survivor.version,
    )
    await uow.commit()
    return survivor


# --- contact persons ------------------------------------------------------------------------


def _new_person(company_id: uuid.UUID, data: schemas.PersonCreate, at: datetime) -> Person:
    return Person(
        id=uuid.uuid4(),
        company_id=company_id,
        name=data.name,
        position=data.position,
        phones=list(dict.fromkeys(data.phones)),
        emails=list(dict.fromkeys(data.emails)),
        notes=data.notes,
        created_at=at,
        updated_at=at,
        version=1,
        search_text="",
    )


def _person_event(person: Person) -> dict:
    return dict(
        person_id=person.id,
        company_id=person.company_id,
        name=person.name,
        position=person.position,
        phones=list(person.phones),
        emails=list(person.emails),
    )


async def add_person(uow: UnitOfWork, company_id: uuid.UUID, data: schemas.PersonCreate, caller: Caller) -> Person:
    company = await get_company(uow.session, company_id, caller, write=True)
    person = _new_person(company.id, data, now())
    uow.session.add(person)
    await uow.session.flush()
    await _reindex(uow.session, company)
    uow.emit(ev.PersonAdded(**_person_event(person)), subject=person.id, sequence=1)
    await uow.commit()
    return person


async def get_person(session: AsyncSession, company_id: uuid.UUID, person_id: uuid.UUID, caller: Caller) -> Person:
    return await _person_at(session, await get_company(session, company_id, caller), person_id)


async def _person_at(session: AsyncSession, company: Company, person_id: uuid.UUID) -> Person:
    person = await session.get(Person, person_id)
    if person is None or person.company_id != company.id:
        raise NotFound(f"no contact person {person_id} at client card {company.id}")
    return person


async def update_person(
    uow: UnitOfWork,
    company_id: uuid.UUID,
    person_id: uuid.UUID,
    data: schemas.PersonUpdate,
    expected_version: int,
    caller: Caller,
) -> Person:
    company = await get_company(uow.session, company_id, caller, write=True)
    person = await _person_at(uow.session, company, person_id)
    check_version(person, expected_version, "contact person")
    changes = {f: getattr(data, f) for f in data.model_fields_set}
    if "name" in changes and changes["name"] is None:
        raise UnknownReference("a contact person must have a name", field="name")
    for field in ("phones", "emails"):
        if field in changes:
            changes[field] = list(dict.fromkeys(changes[field] or []))
    changed = [f for f, v in changes.items() if getattr(person, f) != v]
    if not changed:
        return person
    for f in changed:
        setattr(person, f, changes[f])
    person.version += 1
    person.updated_at = now()
    await uow.session.flush()
    await _reindex(uow.session, company)
    uow.emit(ev.PersonUpdated(**_person_event(person)), subject=person.id, sequence=person.version)
    await uow.commit()
    return person


# --- history ---------------------------------------------------------------------------------


async def _check_person(session: AsyncSession, company_id: uuid.UUID, person_id: uuid.UUID | None, field: str):
    if person_id is None:
        return
    person = await session.get(Person, person_id)
    if person is None or person.company_id != company_id:
        raise UnknownReference(f"{person_id} is not a contact person of this client card", field=field)


def _new_activity(
    uow: UnitOfWork,
    company: Company,
    *,
    kind: str,
    direction: str,
    subject: str | None,
    summary: str,
    happened_at: datetime,
    author_id: uuid.UUID,
    deal_id=None,
    person_id=None,
    meeting_id=None,
    activity_id: uuid.UUID | None = None,
) -> Activity:
    """The entry, its move of the card's last activity and its event; the caller persists the entry."""
    row = {
        "id": activity_id or new_id(),
        "company_id": company.id,
        "kind": kind,
        "direction": direction,
        "subject": subject,
        "summary": summary,
        "happened_at": happened_at,
        "author_id": author_id,
        "deal_id": deal_id,
        "person_id": person_id,
        "meeting_id": meeting_id,
        "created_at": now(),
    }
    _moved_last_activity(company, happened_at)
    _logged(uow, row)
    return Activity(**row)


_LOGGED = (
    "company_id",
    "kind",
    "direction",
    "subject",
    "summary",
    "happened_at",
    "author_id",
    "deal_id",
    "person_id",
    "meeting_id",
)


def _logged(uow: UnitOfWork, row: dict) -> None:
    """The ActivityLogged event of a new history entry (`row`: its columns)."""
    uow.emit(ev.ActivityLogged(activity_id=row["id"], **{k: row[k] for k in _LOGGED}), subject=row["id"], sequence=1)


def _moved_last_activity(company: Company, happened_at: datetime) -> None:
    last = company.last_activity_at
    if last is None or happened_at > last:
        company.last_activity_at = happened_at


def _write_activity(uow: UnitOfWork, company: Company, **entry) -> Activity:
    activity = _new_activity(uow, company, **entry)
    uow.session.add(activity)
    return activity


async def log_activity(
    uow: UnitOfWork, company_id: uuid.UUID, data: schemas.ActivityCreate, caller: Caller
) -> Activity:
    company = await get_company(uow.session, company_id, caller, kind=Kind.HISTORY, write=True)
    await _check_person(uow.session, company.id, data.person_id, "person_id")
    activity = _write_activity(
        uow,
        company,
        kind=data.kind.value,
        direction=data.direction.value,
        subject=data.subject,
        summary=data.summary,
        happened_at=happened_by_now(data.happened_at, now(), "happened_at"),
        author_id=caller.user_id,
        deal_id=data.deal_id,
        person_id=data.person_id,
    )
    await uow.commit()
    return activity


async def log_activities(uow: UnitOfWork, entries: list[schemas.ActivityBatchEntry], caller: Caller) -> list[dict]:
    """All or nothing: one bad entry refuses the batch, naming it. Returns the entries as written."""
    s = uow.session
    at = now()
    # The rows and their events are made before the first statement: on SQLite that statement takes
    # the write lock (and the service's one connection), held until the commit, so everything done
    # before it overlaps other requests' writes. Plain rows, not ORM objects: making 250 Activity
    # instances was two fifths of the service's CPU in this request (bench/bus.py under py-spy).
    written = []
    for i, e in enumerate(entries):
        happened_at = happened_by_now(e.happened_at, at, f"entries[{i}].happened_at")
        row = {
            "id": new_id(),
            "company_id": e.company_id,
            "kind": e.kind.value,
            "direction": e.direction.value,
            "subject": e.subject,
            "summary": e.summary,
            "happened_at": happened_at,
            "author_id": caller.user_id,
            "deal_id": e.deal_id,
            "person_id": e.person_id,
            "meeting_id": None,
            "created_at": at,
        }
        _logged(uow, row)
        written.append(row)
    view = sight(caller, Kind.HISTORY, write=True)
    ids = {e.company_id for e in entries}
    companies = {c.id: c for c in (await s.execute(select(Company).where(Company.id.in_(ids)))).scalars()}
    person_ids = {e.person_id for e in entries if e.person_id}
    persons = (
        dict((await s.execute(select(Person.id, Person.company_id).where(Person.id.in_(person_ids)))).all())
        if person_ids
        else {}
    )
    for i, e in enumerate(entries):
        company = companies.get(e.company_id)
        if company is None or company.merged_into_id is not None or not _sees(view, company):
            raise UnknownReference(f"there is no client card {e.company_id}", field=f"entries[{i}].company_id")
        if e.person_id is not None and persons.get(e.person_id) != e.company_id:
            raise UnknownReference(
                f"{e.person_id} is not a contact person of this client card", field=f"entries[{i}].person_id"
            )
    latest: dict[uuid.UUID, datetime] = {}
    for row in written:
        if row["company_id"] not in latest or row["happened_at"] > latest[row["company_id"]]:
            latest[row["company_id"]] = row["happened_at"]
    for company_id, happened_at in latest.items():
        _moved_last_activity(companies[company_id], happened_at)
    await insert_rows(s, Activity.__table__, written)
    await uow.commit()
    return written


# --- facts of other services in the history (called by event handlers; the consumer commits) ----------


async def _card_for_event(session: AsyncSession, company_id: uuid.UUID) -> Company | None:
    """The live card an event about `company_id` belongs to (a merged card's survivor), locked so
    concurrent consumers cannot move last_activity_at backwards or lose a status change."""
    for _ in range(10):  # merges chain (A into B, B into C); the bound only guards against a cycle
        company = await session.get(Company, company_id, with_for_update=True)
        if company is None or company.merged_into_id is None:
            return company
        company_id = company.merged_into_id
    return None


async def record_system_entry(
    uow: UnitOfWork,
    company_id: uuid.UUID,
    entry: domain.SystemEntry,
    *,
    kind: domain.ActivityKind = domain.ActivityKind.SYSTEM,
    direction: domain.Direction = domain.Direction.INTERNAL,
    person_id: uuid.UUID | None = None,
) -> Company | None:
    """Writes the entry once; returns its card, or None when the entry was skipped. Another service's
    outgoing e-mail or fax is written as that kind of entry, outgoing, not as a system note."""
    company = await _card_for_event(uow.session, company_id)
    if company is None:
        # Contacts owns the cards: an unknown id is the sender's bug, and failing here would only
        # send the event to the DLQ and hold nothing up. Say so and go on.
        log.info("history: no client card %s for %s %s; skipped", company_id, entry.subject, entry.id)
        return None
    # The inbox already drops a redelivered event; the derived id makes a replay past it a no-op too.
    if await uow.session.get(Activity, entry.id) is not None:
        return None
    _write_activity(
        uow,
        company,
        kind=kind.value,
        direction=direction.value,
        subject=entry.subject,
        summary=entry.summary,
        happened_at=entry.happened_at,
        author_id=entry.author_id,
        deal_id=entry.deal_id,
        activity_id=entry.id,
        person_id=person_id,
    )
    return company


async def record_deal_won(uow: UnitOfWork, company_id: uuid.UUID, entry: domain.SystemEntry) -> Company | None:
    """The first won deal makes a prospect (or a former client) a client."""
    company = await record_system_entry(uow, company_id, entry)
    if company is None or company.status == domain.CompanyStatus.CLIENT:
        return company
    domain.check_status_change(domain.CompanyStatus(company.status), domain.CompanyStatus.CLIENT)
    company.status = domain.CompanyStatus.CLIENT.value
    await _card_changed(uow, company, ["status"])
    return company


# --- meetings --------------------------------------------------------------------------------


async def get_meeting(session: AsyncSession, meeting_id: uuid.UUID, caller: Caller, *, write: bool = False) -> Meeting:
    """A meeting is seen by who sees its card's history; one they may not see answers like a missing one."""
    view = sight(caller, Kind.HISTORY, write=write)
    meeting = await session.get(Meeting, meeting_id)
    company = meeting and await session.get(Company, meeting.company_id)
    if company is None or not _sees(view, company):
        raise NotFound(f"no meeting {meeting_id}")
    return meeting


def _as_domain(meeting: Meeting) -> domain.Meeting:
    return domain.Meeting(
        kind=domain.MeetingKind(meeting.kind),
        starts_at=meeting.starts_at,
        duration_minutes=meeting.duration_minutes,
        status=domain.MeetingStatus(meeting.status),
    )


async def schedule_meeting(
    uow: UnitOfWork, company_id: uuid.UUID, data: schemas.MeetingCreate, caller: Caller
) -> Meeting:
    company = await get_company(uow.session, company_id, caller, kind=Kind.HISTORY, write=True)
    if not may_act_for(caller, data.owner_id):
        raise NoAccess("a meeting is your own; scheduling one for someone else is for heads and admins")
    domain.validate_schedule(data.starts_at, data.duration_minutes, data.reminder_minutes_before)
    for i, person_id in enumerate(data.person_ids):
        await _check_person(uow.session, company.id, person_id, f"person_ids[{i}]")
    at = now()
    meeting = Meeting(
        id=uuid.uuid4(),
        company_id=company.id,
        kind=data.kind.value,
        subject=data.subject,
        starts_at=data.starts_at.astimezone(UTC),
        duration_minutes=data.duration_minutes,
        place=data.place,
        owner_id=data.owner_id or caller.user_id,
        person_ids=[str(p) for p in dict.fromkeys(data.person_ids)],
        participant_user_ids=[str(p) for p in dict.fromkeys(data.participant_user_ids)],
        reminder_minutes_before=data.reminder_minutes_before,
        deal_id=data.deal_id,
        status=domain.MeetingStatus.PLANNED.value,
        created_at=at,
        updated_at=at,
        version=1,
    )
    uow.session.add(meeting)
    uow.emit(
        ev.MeetingScheduled(
            meeting_id=meeting.id,
            company_id=company.id,
            kind=meeting.kind,
            subject=meeting.subject,
            starts_at=meeting.starts_at,
            duration_minutes=meeting.duration_minutes,
            place=meeting.place,
            owner_id=meeting.owner_id,
            person_ids=meeting.person_ids,
            participant_user_ids=meeting.participant_user_ids,
            reminder_minutes_before=meeting.reminder_minutes_before,
            deal_id=meeting.deal_id,
        ),
        subject=meeting.id,
        sequence=1,
    )
    await uow.commit()
    return meeting


async def reschedule_meeting(
    uow: UnitOfWork,
    meeting_id: uuid.UUID,
    data: schemas.MeetingReschedule,
    expected_version: int | None,
    caller: Caller,
) -> Meeting:
    meeting = await get_meeting(uow.session, meeting_id, caller, write=True)
    check_version(meeting, expected_version, "meeting")
    duration = data.duration_minutes or meeting.duration_minutes
    reminder = (
        data.reminder_minutes_before
        if "reminder_minutes_before" in data.model_fields_set
        else meeting.reminder_minutes_before
    )
    domain.validate_schedule(data.starts_at, duration, reminder)
    model = _as_domain(meeting)
    model.reschedule(data.starts_at, duration)
    meeting.starts_at, meeting.duration_minutes = model.starts_at, model.duration_minutes
    meeting.reminder_minutes_before = reminder
    meeting.version += 1
    meeting.updated_at = now()
    uow.emit(
        ev.MeetingRescheduled(
            meeting_id=meeting.id,
            company_id=meeting.company_id,
            starts_at=meeting.starts_at,
            duration_minutes=duration,
            reminder_minutes_before=reminder,
        ),
        subject=meeting.id,
        sequence=meeting.version,
    )
    await uow.commit()
    return meeting


async def complete_meeting(
    uow: UnitOfWork, meeting_id: uuid.UUID, data: schemas.MeetingComplete, caller: Caller
) -> tuple[Meeting, Activity]:
    meeting = await get_meeting(uow.session, meeting_id, caller, write=True)
    company = await get_company(uow.session, meeting.company_id, caller, kind=Kind.HISTORY, write=True)
    model = _as_domain(meeting)
    draft = model.complete(data.summary, happened_by_now(data.done_at, now(), "done_at"))
    person_ids = [uuid.UUID(p) for p in meeting.person_ids]
    activity = _write_activity(
        uow,
        company,
        kind=draft.kind.value,
        direction=draft.direction.value,
        subject=meeting.subject,
        summary=draft.summary,
        happened_at=draft.happened_at,
        author_id=caller.user_id,
        deal_id=meeting.deal_id,
        person_id=person_ids[0] if len(person_ids) == 1 else None,
        meeting_id=meeting.id,
    )
    meeting.status = model.status.value
    meeting.activity_id = activity.id
    meeting.version += 1
    meeting.updated_at = now()
    uow.emit(
        ev.MeetingCompleted(
            meeting_id=meeting.id, company_id=company.id, activity_id=activity.id, done_at=draft.happened_at
        ),
        subject=meeting.id,
        sequence=meeting.version,
    )
    await uow.commit()
    return meeting, activity


async def cancel_meeting(
    uow: UnitOfWork, meeting_id: uuid.UUID, data: schemas.MeetingCancel, caller: Caller
) -> Meeting:
    meeting = await get_meeting(uow.session, meeting_id, caller, write=True)
    model = _as_domain(meeting)
    model.cancel()
    meeting.status = model.status.value
    meeting.cancel_reason = data.reason
    meeting.version += 1
    meeting.updated_at = now()
    uow.emit(
        ev.MeetingCancelled(meeting_id=meeting.id, company_id=meeting.company_id, reason=data.reason),
        subject=meeting.id,
        sequence=meeting.version,
    )
    await uow.commit()
    return meeting
