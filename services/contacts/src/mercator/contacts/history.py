"""A client's history: entries people log (one or a batch), and other services' facts written as system
entries by the event handlers (the consumer commits them with its inbox row)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.common.auth import Caller
from mercator.common.clock import now
from mercator.common.db import insert_rows
from mercator.common.errors import BadReference
from mercator.common.history import happened_by_now
from mercator.common.ids import new_id
from mercator.common.pagination import keyset_page
from mercator.common.uow import UnitOfWork
from mercator.common.visibility import Kind, sight
from mercator.contacts import domain, events, repository, schemas
from mercator.contacts.tables import Activity, Company, Person

log = logging.getLogger(__name__)


async def list_history(
    session: AsyncSession, company_id: uuid.UUID, caller: Caller, *, kind: str | None, limit: int, cursor: str | None
) -> tuple[list[Activity], str | None]:
    await repository.get_company(session, company_id, caller, kind=Kind.HISTORY)
    stmt = select(Activity).where(Activity.company_id == company_id)
    if kind:
        stmt = stmt.where(Activity.kind == kind)
    return await keyset_page(session, stmt, (Activity.happened_at, Activity.id), limit, cursor, descending=True)


def write_entry(
    uow: UnitOfWork,
    card: domain.ClientCard,
    *,
    kind: str,
    direction: str,
    subject: str | None,
    summary: str,
    happened_at: datetime,
    author_id: uuid.UUID,
    deal_id: uuid.UUID | None = None,
    person_id: uuid.UUID | None = None,
    meeting_id: uuid.UUID | None = None,
    activity_id: uuid.UUID | None = None,
) -> Activity:
    """A new entry of the card's history: written, its event recorded, and the card's last activity moved
    (the caller saves the card)."""
    row = {
        "id": activity_id or new_id(),
        "company_id": card.id,
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
    card.note_activity(happened_at)
    events.activity_logged(uow, row)
    activity = Activity(**row)
    uow.session.add(activity)
    return activity


async def log_activity(
    uow: UnitOfWork, company_id: uuid.UUID, data: schemas.ActivityCreate, caller: Caller
) -> Activity:
    cards = repository.Cards(uow.session)
    card = await cards.get(company_id, caller, kind=Kind.HISTORY, write=True)
    await repository.check_person(uow.session, card.id, data.person_id, "person_id")
    activity = write_entry(
        uow,
        card,
        kind=data.kind.value,
        direction=data.direction.value,
        subject=data.subject,
        summary=data.summary,
        happened_at=happened_by_now(data.happened_at, now(), "happened_at"),
        author_id=caller.user_id,
        deal_id=data.deal_id,
        person_id=data.person_id,
    )
    await cards.save(card)
    return activity


def _batch_rows(uow: UnitOfWork, entries: list[schemas.ActivityBatchEntry], caller: Caller) -> list[dict[str, Any]]:
    # Plain rows, not ORM objects: making 250 Activity instances was two fifths of the service's CPU in
    # this request (bench/bus.py under py-spy).
    at = now()
    written = []
    for i, e in enumerate(entries):
        row = {
            "id": new_id(),
            "company_id": e.company_id,
            "kind": e.kind.value,
            "direction": e.direction.value,
            "subject": e.subject,
            "summary": e.summary,
            "happened_at": happened_by_now(e.happened_at, at, f"entries[{i}].happened_at"),
            "author_id": caller.user_id,
            "deal_id": e.deal_id,
            "person_id": e.person_id,
            "meeting_id": None,
            "created_at": at,
        }
        events.activity_logged(uow, row)
        written.append(row)
    return written


async def _batch_cards(
    session: AsyncSession, entries: list[schemas.ActivityBatchEntry], caller: Caller
) -> dict[uuid.UUID, Company]:
    """The cards the entries name, each checked in the caller's sight, and each person at its card."""
    view = sight(caller, Kind.HISTORY, write=True)
    ids = {e.company_id for e in entries}
    companies = {c.id: c for c in (await session.execute(select(Company).where(Company.id.in_(ids)))).scalars()}
    person_ids = {e.person_id for e in entries if e.person_id}
    found: dict[uuid.UUID, uuid.UUID] = {}
    if person_ids:
        stmt = select(Person.id, Person.company_id).where(Person.id.in_(person_ids))
        found = dict((await session.execute(stmt)).all())
    for i, e in enumerate(entries):
        company = companies.get(e.company_id)
        if company is None or company.merged_into_id is not None or not repository.sees(view, company):
            raise BadReference(f"there is no client card {e.company_id}", field=f"entries[{i}].company_id")
        if e.person_id is not None and found.get(e.person_id) != e.company_id:
            raise BadReference(
                f"{e.person_id} is not a contact person of this client card", field=f"entries[{i}].person_id"
            )
    return companies


async def log_activities(
    uow: UnitOfWork, entries: list[schemas.ActivityBatchEntry], caller: Caller
) -> list[dict[str, Any]]:
    """All or nothing: one bad entry refuses the batch, naming it. Returns the entries as written."""
    # The rows and their events are made before the first statement: on SQLite that statement takes
    # the write lock (and the service's one connection), held until the commit, so everything done
    # before it overlaps other requests' writes.
    written = _batch_rows(uow, entries, caller)
    companies = await _batch_cards(uow.session, entries, caller)
    cards = repository.Cards(uow.session)
    touched = {company_id: cards.of(row) for company_id, row in companies.items()}
    for row in written:
        touched[row["company_id"]].note_activity(row["happened_at"])
    for card in touched.values():
        await cards.save(card)
    await insert_rows(uow.session, cast(Table, Activity.__table__), written)
    return written


async def _record(
    uow: UnitOfWork,
    cards: repository.Cards,
    company_id: uuid.UUID,
    entry: domain.SystemEntry,
    kind: domain.ActivityKind = domain.ActivityKind.SYSTEM,
    direction: domain.Direction = domain.Direction.INTERNAL,
    person_id: uuid.UUID | None = None,
) -> domain.ClientCard | None:
    card = await cards.for_event(company_id)
    if card is None:
        # Contacts owns the cards: an unknown id is the sender's bug, and failing here would only
        # send the event to the DLQ and hold nothing up. Say so and go on.
        log.info("history: no client card %s for %s %s; skipped", company_id, entry.subject, entry.id)
        return None
    # The inbox already drops a redelivered event; the derived id makes a replay past it a no-op too.
    if await uow.session.get(Activity, entry.id) is not None:
        return None
    write_entry(
        uow,
        card,
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
    return card


async def record_system_entry(
    uow: UnitOfWork,
    company_id: uuid.UUID,
    entry: domain.SystemEntry,
    *,
    kind: domain.ActivityKind = domain.ActivityKind.SYSTEM,
    direction: domain.Direction = domain.Direction.INTERNAL,
    person_id: uuid.UUID | None = None,
) -> None:
    """Writes the entry once (skipped for a card that is not there). Another service's outgoing e-mail or
    fax is written as that kind of entry, outgoing, not as a system note."""
    cards = repository.Cards(uow.session)
    card = await _record(uow, cards, company_id, entry, kind, direction, person_id)
    if card is not None:
        await cards.save(card)


async def record_deal_won(uow: UnitOfWork, company_id: uuid.UUID, entry: domain.SystemEntry) -> None:
    """The first won deal makes a prospect (or a former client) a client."""
    cards = repository.Cards(uow.session)
    card = await _record(uow, cards, company_id, entry)
    if card is not None:
        card.become_client()
        company = await cards.save(card)
        await events.publish(uow, company, card)
