"""Who sees what in billing: a record with a deal follows the deal's owner and department, one without a deal
the client card's (both from the replicas); someone else's answers like a missing one."""

from __future__ import annotations

import uuid
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, Select, and_, exists, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from mercator.billing.tables import ClientReplica, DealReplica
from mercator.common.auth import Caller
from mercator.common.db import insert_if_absent
from mercator.common.errors import BadReference
from mercator.common.visibility import Kind, NoAccess, Sight, sight

S = TypeVar("S", bound=Select[*tuple[Any, ...]])


class Peer(Protocol):
    """Another service asked for a record its events have not brought yet (the API hands in its HTTP peer)."""

    async def get(self, path: str) -> dict[str, Any] | None: ...


def billing_sight(caller: Caller, *, write: bool = False) -> Sight:
    return sight(caller, Kind.BILLING, write=write)  # NoAccess (403) for marketing and support


def statement_sight(caller: Caller) -> Sight:
    """A statement holds every client's payments: it is for those who see all of billing."""
    seen = billing_sight(caller, write=True)
    if not seen.everything:
        raise NoAccess("bank statements are for executives and admins: a statement holds every client's payments")
    return seen


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


async def sees(session: AsyncSession, seen: Sight, deal_id: uuid.UUID | None, company_id: uuid.UUID) -> bool:
    if seen.everything:
        return True
    owner: DealReplica | ClientReplica | None = (
        await session.get(DealReplica, deal_id) if deal_id is not None else await session.get(ClientReplica, company_id)
    )
    return owner is not None and seen.sees(owner.owner_id, owner.department_id)


def _seen(seen: Sight, deal_id: Any, company_id: Any) -> ColumnElement[bool] | None:
    """`sees` as a WHERE clause for lists (None: the caller sees all); `deal_id` None for records without one."""
    if seen.everything:
        return None

    # Aliases: the subqueries correlate only with the listed table, even where it is joined to the replicas.
    deal, card = aliased(DealReplica), aliased(ClientReplica)

    def theirs(t: Any) -> ColumnElement[bool]:
        return or_(t.owner_id == seen.owner_id, t.department_id.in_(seen.departments))

    by_card = exists().where(card.company_id == company_id, theirs(card))
    if deal_id is None:
        return by_card
    return or_(
        and_(deal_id.is_not(None), exists().where(deal.deal_id == deal_id, theirs(deal))),
        and_(deal_id.is_(None), by_card),
    )


def only_seen(stmt: S, seen: Sight, deal_id: Any, company_id: Any) -> S:
    clause = _seen(seen, deal_id, company_id)
    return stmt if clause is None else stmt.where(clause)


async def deal_of(
    session: AsyncSession, deal_id: uuid.UUID, deals: Peer | None, seen: Sight, field: str = "deal_id"
) -> DealReplica:
    row = await session.get(DealReplica, deal_id)
    if row is None:
        found = await deals.get(f"/api/v1/deals/{deal_id}") if deals is not None else None
        if found is None:
            raise BadReference(f"there is no deal {deal_id}", field=field)
        # Opened a moment ago: keep what its owner said until the deal's own events arrive (version 0).
        row = await insert_if_absent(
            session,
            DealReplica,
            deal_id=deal_id,
            company_id=uuid.UUID(found["company_id"]),
            owner_id=uuid.UUID(found["owner_id"]),
            department_id=_uuid(found.get("department_id")),
            title=found["title"],
            status=found["status"],
            currency=found["currency"],
            version=0,
        )
    if not (seen.everything or seen.sees(row.owner_id, row.department_id)):
        raise BadReference(f"there is no deal {deal_id}", field=field)  # word for word as for a missing one
    return row


async def client_of(
    session: AsyncSession, company_id: uuid.UUID, contacts: Peer | None, seen: Sight, field: str = "company_id"
) -> ClientReplica:
    row = await session.get(ClientReplica, company_id)
    if row is None:
        found = await contacts.get(f"/api/v1/companies/{company_id}") if contacts is not None else None
        if found is None:
            raise BadReference(f"there is no client card {company_id}", field=field)
        row = await insert_if_absent(
            session,
            ClientReplica,
            company_id=company_id,
            name=found["name"],
            tax_id=found.get("tax_id"),
            owner_id=uuid.UUID(found["owner_id"]),
            department_id=_uuid(found.get("department_id")),
            version=0,
        )
    if not (seen.everything or seen.sees(row.owner_id, row.department_id)):
        raise BadReference(f"there is no client card {company_id}", field=field)
    if row.merged_into_id is not None:
        raise BadReference(f"client card {company_id} was merged into {row.merged_into_id}", field=field)
    return row
