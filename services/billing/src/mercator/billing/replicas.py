"""Billing's replicas of the deals and client cards it bills, fed by the deals' and contacts' events
(billing never reads their databases). An event older than what a replica holds changes nothing."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mercator.billing import repository
from mercator.billing.tables import ClientReplica, Contract, DealReplica, Delivery, Invoice, Payment
from mercator.common.events import catalogue as ev


async def apply_deal(session: AsyncSession, card: ev.DealOpened | ev.DealUpdated, sequence: int) -> None:
    row = await session.get(DealReplica, card.deal_id, with_for_update=True)
    if row is None:
        session.add(
            DealReplica(
                deal_id=card.deal_id,
                company_id=card.company_id,
                owner_id=card.owner_id,
                department_id=card.department_id,
                title=card.title,
                status=card.status,
                currency=card.currency,
                version=sequence,
            )
        )
    elif sequence > row.version:
        row.company_id, row.owner_id, row.department_id = card.company_id, card.owner_id, card.department_id
        row.title = card.title
        row.status, row.currency, row.version = card.status, card.currency, sequence


async def apply_deal_closed(
    session: AsyncSession, closed: ev.DealWon | ev.DealLost, status: str, sequence: int
) -> None:
    deal_id = closed.deal_id
    row = await session.get(DealReplica, deal_id, with_for_update=True)
    if row is None:  # heard before DealOpened, which is now too old to count: the owner comes from here
        session.add(
            DealReplica(
                deal_id=deal_id,
                company_id=closed.company_id,
                owner_id=closed.owner_id,
                department_id=closed.department_id,
                status=status,
                version=sequence,
            )
        )
    elif sequence > row.version:
        row.status, row.version = status, sequence
    if status == "lost":
        # A lost deal bills nothing more: its drafts go. Issued invoices stand (what is owed is owed)
        # until someone cancels or credits them.
        invoices = repository.Invoices(session)
        drafts = select(Invoice).where(Invoice.deal_id == deal_id, Invoice.status == "draft").with_for_update()
        for draft in await invoices.find(drafts):
            draft.cancel("the deal was lost")  # a draft was never news: no event
            await invoices.save(draft)


async def apply_client(
    session: AsyncSession,
    company_id: uuid.UUID,
    name: str | None,
    owner_id: uuid.UUID,
    department_id: uuid.UUID | None,
    sequence: int,
    tax_id: str | None = None,
) -> None:
    """`name` None: a reassignment, which says nothing of the name (nor of the tax id)."""
    row = await session.get(ClientReplica, company_id, with_for_update=True)
    if row is None:
        session.add(
            ClientReplica(
                company_id=company_id,
                name=name,
                tax_id=tax_id,
                owner_id=owner_id,
                department_id=department_id,
                version=sequence,
            )
        )
    elif sequence > row.version:
        if name is not None:
            row.tax_id = tax_id
        row.name = row.name if name is None else name
        row.owner_id, row.department_id, row.version = owner_id, department_id, sequence


async def apply_client_merged(session: AsyncSession, survivor_id: uuid.UUID, absorbed_id: uuid.UUID) -> None:
    row = await session.get(ClientReplica, absorbed_id, with_for_update=True)
    if row is None:
        session.add(ClientReplica(company_id=absorbed_id, merged_into_id=survivor_id, version=0))
    else:
        row.merged_into_id = survivor_id
    # What the absorbed card owed, the survivor owes: contacts moved its history there too.
    for table in (Invoice, Payment, Delivery, Contract):
        await session.execute(update(table).where(table.company_id == absorbed_id).values(company_id=survivor_id))
