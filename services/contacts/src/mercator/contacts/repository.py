"""Client cards as the database holds them: loading a card (in the caller's sight), its search index and
contact look-ups, the names of its dictionary entries. Every use case reads and writes cards through here.

Who sees what is `mercator.common.visibility`; a card decides for its persons, history and meetings too.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.errors import BadReference, NotFound
from mercator.common.visibility import Kind, Sight, sight
from mercator.contacts import domain
from mercator.contacts.tables import Company, CompanyContact, DictionaryEntry, Person


def sees(view: Sight, company: Company) -> bool:
    return view.sees(company.owner_id, company.department_id, company.status)


def seen_cards(view: Sight) -> list[ColumnElement[bool]]:
    """`Sight.sees` as SQL conditions on Company, so lists filter and page in the database."""
    conditions: list[ColumnElement[bool]] = []
    if not view.everything:
        conditions.append(or_(Company.owner_id == view.owner_id, Company.department_id.in_(view.departments)))
    if view.clients_only:
        conditions.append(Company.status == domain.CompanyStatus.CLIENT.value)
    return conditions


async def get_company(
    session: AsyncSession, company_id: uuid.UUID, caller: Caller, *, kind: Kind = Kind.CARD, write: bool = False
) -> Company:
    """The live card, if the caller may see it (`kind` HISTORY when it is for the card's history or
    meetings). A card they may not see answers exactly like a missing one: ids are not probed."""
    view = sight(caller, kind, write=write)
    company = await session.get(Company, company_id)
    if company is None or not sees(view, company):
        raise NotFound(f"no client card {company_id}")
    if company.merged_into_id is not None:
        raise NotFound(f"client card {company_id} was merged into {company.merged_into_id}")
    return company


async def row_for_event(session: AsyncSession, company_id: uuid.UUID) -> Company | None:
    """The live card an event about `company_id` belongs to (a merged card's survivor), locked so
    concurrent consumers cannot move last_activity_at backwards or lose a status change."""
    for _ in range(10):  # merges chain (A into B, B into C); the bound only guards against a cycle
        company = await session.get(Company, company_id, with_for_update=True)
        if company is None or company.merged_into_id is None:
            return company
        company_id = company.merged_into_id
    return None


# The state of a client card, as the aggregate and the row both name it.
_STATE = (
    "id",
    "name",
    "status",
    "owner_id",
    "department_id",
    "legal_name",
    "tax_id",
    "region_id",
    "industry_id",
    "source_id",
    "phones",
    "emails",
    "address",
    "website",
    "notes",
    "created_at",
    "updated_at",
    "last_activity_at",
    "version",
    "merged_into_id",
)
# What the search index is made of: a change of any re-indexes the card.
_INDEXED = ("name", "legal_name", "tax_id", "phones", "emails")


class Cards:
    """Client cards as aggregates (`domain.ClientCard`): loaded once, saved back to their rows in one place."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._rows: dict[uuid.UUID, Company] = {}

    def of(self, row: Company) -> domain.ClientCard:
        """The aggregate of a row loaded otherwise (a batch, a look-up by tax id)."""
        self._rows[row.id] = row
        state = {f: getattr(row, f) for f in _STATE}
        return domain.ClientCard(**{**state, "phones": list(row.phones), "emails": list(row.emails)})

    async def get(
        self, company_id: uuid.UUID, caller: Caller, *, kind: Kind = Kind.CARD, write: bool = False
    ) -> domain.ClientCard:
        """The live card in the caller's sight (see `get_company`)."""
        return self.of(await get_company(self.session, company_id, caller, kind=kind, write=write))

    async def for_event(self, company_id: uuid.UUID) -> domain.ClientCard | None:
        row = await row_for_event(self.session, company_id)
        return None if row is None else self.of(row)

    def row(self, card: domain.ClientCard) -> Company:
        return self._rows[card.id]

    async def save(self, card: domain.ClientCard, *, persons_changed: bool = False) -> Company:
        """The card's state back into its row; re-indexed when what the index holds changed or its persons
        did."""
        row = self._rows[card.id]
        changed = [f for f in _STATE if getattr(row, f) != getattr(card, f)]
        for name in changed:
            setattr(row, name, getattr(card, name))
        if persons_changed or set(changed) & set(_INDEXED):
            await reindex(self.session, row)
        return row


async def person_at(session: AsyncSession, company: Company, person_id: uuid.UUID) -> Person:
    person = await session.get(Person, person_id)
    if person is None or person.company_id != company.id:
        raise NotFound(f"no contact person {person_id} at client card {company.id}")
    return person


async def check_person(session: AsyncSession, company_id: uuid.UUID, person_id: uuid.UUID | None, field: str) -> None:
    if person_id is None:
        return
    person = await session.get(Person, person_id)
    if person is None or person.company_id != company_id:
        raise BadReference(f"{person_id} is not a contact person of this client card", field=field)


async def dictionary_names(session: AsyncSession, ids: set[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(DictionaryEntry.id, DictionaryEntry.name).where(DictionaryEntry.id.in_(wanted)))
    return dict(rows.all())


async def names_of(session: AsyncSession, company: Company) -> dict[uuid.UUID, str]:
    return await dictionary_names(session, {company.region_id, company.industry_id, company.source_id})


async def check_entry(session: AsyncSession, kind: str, entry_id: uuid.UUID | None, field: str) -> None:
    if entry_id is None:
        return
    entry = await session.get(DictionaryEntry, entry_id)
    if entry is None or entry.kind != kind:
        raise BadReference(f"there is no {kind} {entry_id}", field=field)


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


def index(company: Company, persons: list[Person]) -> None:
    company.search_text = _search_text(company, persons)
    company.sort_key = domain.search_key(company.name)[:300]
    company.match_name = domain.matching_name(company.name)[:300]


def contacts(company: Company) -> list[CompanyContact]:
    found = {("phone", p) for p in company.phones} | {("email", e) for e in company.emails}
    return [CompanyContact(company_id=company.id, kind=k, value=v) for k, v in sorted(found)]


async def reindex(session: AsyncSession, company: Company) -> None:
    """The card's search text and contact look-ups, after a change of it or of its persons."""
    await session.flush()
    persons = (await session.execute(select(Person).where(Person.company_id == company.id))).scalars().all()
    index(company, list(persons))
    await session.execute(delete(CompanyContact).where(CompanyContact.company_id == company.id))
    session.add_all(contacts(company))


def fingerprint(company: Company) -> domain.CardFingerprint:
    return domain.CardFingerprint(
        company.id, company.name, company.tax_id, tuple(company.phones), tuple(company.emails)
    )


def unique(values: Any) -> list[Any]:
    """A card's or a person's phones or e-mails: each once, in the order given."""
    return list(dict.fromkeys(values or []))
